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
