package store

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/affinityd/affinityd/affinity"
)

// TestHostileTextStored: a post whose fields carry a NUL byte (JSON's
// "\u0000") or invalid UTF-8 is stored and counted once on every engine;
// PostgreSQL's TEXT refuses both bytes, and a refused batch would be retried
// forever with its source stuck behind it.
func TestHostileTextStored(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		p := post("api", "id\x001", "https://example.com/a\x00b", at(0))
		p.Author, p.Title, p.Text = "eve\x00", "bad \xff byte", "hello\x00world"
		ap := analyzed(p, "topic")
		ap.Analysis.Terms = []string{"hello\x00world|Hello\x00World"}
		ap.Analysis.Organisations = []string{"Acme\xfe"}
		state := affinity.SourceState{Source: "api", Cursor: "c\x00", ETag: `"\xff"`, LastModified: "x\x00"}

		fresh, dups, err := s.FilterNew(ctx, []affinity.Post{p})
		if err != nil || len(fresh) != 1 || dups != 0 {
			t.Fatalf("FilterNew = %d fresh, %d dups, %v; want 1, 0, nil", len(fresh), dups, err)
		}
		res, err := s.Commit(ctx, affinity.Batch{Source: "api", Posts: []affinity.AnalyzedPost{ap}, State: &state})
		if err != nil || res.New != 1 || res.Mentions["topic"][affinity.FormatNetwork] != 1 {
			t.Fatalf("Commit = %+v, %v; want one new post with one mention", res, err)
		}
		// Fetched again: known, not counted twice.
		if fresh, dups, err := s.FilterNew(ctx, []affinity.Post{p}); err != nil || len(fresh) != 0 || dups != 1 {
			t.Errorf("FilterNew again = %d fresh, %d dups, %v; want 0, 1, nil", len(fresh), dups, err)
		}
		if res, err := s.Commit(ctx, affinity.Batch{Source: "api", Posts: []affinity.AnalyzedPost{ap}}); err != nil || res.New != 0 {
			t.Errorf("Commit again = %+v, %v; want nothing new", res, err)
		}
		if got := totals(t, s)["topic"][affinity.FormatNetwork]; got != 1 {
			t.Errorf("topic total = %d, want 1", got)
		}
		if _, ok, err := s.SourceState(ctx, "api"); !ok || err != nil {
			t.Errorf("SourceState = %v, %v; want the saved state", ok, err)
		}
		// The caller's post is left as given.
		if p.Text != "hello\x00world" || ap.Analysis.Terms[0] != "hello\x00world|Hello\x00World" {
			t.Errorf("the caller's post was changed: %q, %q", p.Text, ap.Analysis.Terms[0])
		}
	})
}

// TestLongKeysStored: ids, URLs, authors, terms and organisations longer
// than an index entry holds (PostgreSQL: 2704 bytes) are stored and counted
// once on every engine; two that differ only at their end stay two posts.
func TestLongKeysStored(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		// Random letters: PostgreSQL compresses a repetitive key under the limit.
		r := rand.New(rand.NewPCG(1, 2))
		b := make([]byte, 9000)
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[r.IntN(36)]
		}
		long := string(b)
		mk := func(end string) affinity.AnalyzedPost {
			p := post("api", long+end, "https://example.com/"+long+end, at(0))
			p.Author = long + end
			ap := analyzed(p, "topic")
			ap.Analysis.Terms = []string{long + end + "|" + long}
			ap.Analysis.Organisations = []string{long + end}
			return ap
		}
		a, z := mk("a"), mk("z")
		fresh, dups, err := s.FilterNew(ctx, []affinity.Post{a.Post, z.Post})
		if err != nil || len(fresh) != 2 || dups != 0 {
			t.Fatalf("FilterNew = %d fresh, %d dups, %v; want 2, 0, nil", len(fresh), dups, err)
		}
		res, err := s.Commit(ctx, affinity.Batch{Source: "api", Posts: []affinity.AnalyzedPost{a, z}})
		if err != nil || res.New != 2 {
			t.Fatalf("Commit = %+v, %v; want two new posts", res, err)
		}
		if fresh, dups, err := s.FilterNew(ctx, []affinity.Post{a.Post, z.Post}); err != nil || len(fresh) != 0 || dups != 2 {
			t.Errorf("FilterNew again = %d fresh, %d dups, %v; want 0, 2, nil", len(fresh), dups, err)
		}
		if res := commit(t, s, affinity.Batch{Source: "api", Posts: []affinity.AnalyzedPost{a, z}}); res.New != 0 {
			t.Errorf("Commit again stored %d posts, want 0", res.New)
		}
		if got := totals(t, s)["topic"][affinity.FormatNetwork]; got != 2 {
			t.Errorf("topic total = %d, want 2", got)
		}
	})
}
