package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

func openBench(b *testing.B) *SQLite {
	b.Helper()
	s, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchBatch builds batch n: size fresh posts, each mentioning two of 20
// topics and, every third post, a brand; times spread over 30 days.
func benchBatch(n, size int) affinity.Batch {
	formats := affinity.Formats
	aps := make([]affinity.AnalyzedPost, size)
	for i := range aps {
		k := n*size + i
		p := affinity.Post{
			Source: "bench", ID: fmt.Sprint(k), URL: fmt.Sprintf("https://example.com/posts/%d?utm_source=bench", k),
			Author: fmt.Sprint("author", k%5000), Title: "A title", Text: "Some body text of a typical post length, a sentence or two.",
			Published: t0.Add(-time.Duration(k%50_000) * 51 * time.Second), Collected: t0, // 50k posts span 29.5 days
			Format: formats[k%len(formats)], Engagement: affinity.Engagement{Likes: int64(k % 50)},
		}
		a := affinity.Analysis{
			Topics:     []string{fmt.Sprint("topic", k%20), fmt.Sprint("topic", (k+7)%20)},
			Sentiment:  float64(k%3-1) / 2,
			Engagement: float64(k%10) / 10,
		}
		if k%3 == 0 {
			a.Brands = []string{fmt.Sprint("brand", k%4)}
		}
		aps[i] = affinity.AnalyzedPost{Post: p, Analysis: a}
	}
	return affinity.Batch{Source: "bench", Posts: aps, State: &affinity.SourceState{Source: "bench", Cursor: fmt.Sprint(n)}}
}

func BenchmarkCommit(b *testing.B) {
	const size = 500
	s := openBench(b)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		b.StopTimer()
		batch := benchBatch(n, size)
		n++
		b.StartTimer()
		res, err := s.Commit(ctx, batch)
		if err != nil || res.New != size {
			b.Fatalf("commit: %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(n*size)/b.Elapsed().Seconds(), "posts/s")
}

func BenchmarkTopicWindows(b *testing.B) {
	const posts = 50_000 // two mentions each: 100k mentions over 30 days
	s := openBench(b)
	ctx := context.Background()
	for n := range posts / 500 {
		if _, err := s.Commit(ctx, benchBatch(n, 500)); err != nil {
			b.Fatal(err)
		}
	}
	for _, w := range []struct {
		name string
		d    time.Duration
	}{{"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}} {
		b.Run(w.name, func(b *testing.B) {
			win := affinity.Window{From: t0.Add(-w.d), To: t0.Add(time.Second)}
			for b.Loop() {
				ws, err := s.TopicWindows(ctx, win)
				if err != nil || len(ws) != 20 {
					b.Fatalf("windows: %d topics, %v", len(ws), err)
				}
			}
		})
	}
}

// BenchmarkCommitNearDupCommonKey commits 500-post batches with near-duplicate
// detection on into stores already holding 0, 20,000 and 60,000 posts, all
// within one horizon and all sharing two keys (boilerplate, as make-corpus's
// templated posts do). The lookup reads at most nearDupNearest posts per key
// each way, so posts/s must stay flat as the store grows; unbounded, it fell
// with every post stored.
func BenchmarkCommitNearDupCommonKey(b *testing.B) {
	const size = 500
	rule := affinity.NearDupRule{MinBands: 4, Horizon: 7 * 24 * time.Hour}
	batch := func(n int) affinity.Batch {
		bt := benchBatch(n, size)
		bt.NearDup = rule
		for i := range bt.Posts {
			k := uint64(n*size + i)
			keys := make([]uint64, nearDupBands)
			for j := range keys {
				keys[j] = k<<8 | uint64(j) // unique to the post
			}
			keys[0], keys[1] = 0xB011E4<<8, 0xB011E4<<8|1
			bt.Posts[i].Analysis.NearDup = keys
			// All within 5 days, so every stored post is inside the horizon.
			bt.Posts[i].Post.Published = t0.Add(-time.Duration(k%50_000) * 8 * time.Second)
		}
		return bt
	}
	for _, stored := range []int{0, 20_000, 60_000} {
		b.Run(fmt.Sprintf("stored=%d", stored), func(b *testing.B) {
			s := openBench(b)
			ctx := context.Background()
			n := 0
			for ; n < stored/size; n++ {
				if _, err := s.Commit(ctx, batch(n)); err != nil {
					b.Fatal(err)
				}
			}
			posts := 0
			for b.Loop() {
				b.StopTimer()
				bt := batch(n)
				n++
				b.StartTimer()
				res, err := s.Commit(ctx, bt)
				if err != nil || res.New != size || res.NearDuplicates != 0 {
					b.Fatalf("commit: %+v, %v", res, err)
				}
				posts += size
			}
			b.ReportMetric(float64(posts)/b.Elapsed().Seconds(), "posts/s")
		})
	}
}
