package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeduplicationUsesIndexes: FilterNew runs for every batch of every
// source, so its lookups must be index searches; a scan of posts makes
// ingest slow down as the store grows (it cost 14 % of a 100,000-post replay).
func TestDeduplicationUsesIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.db")
	s, err := OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, q := range []struct {
		name, sql, index string
		args             []any
	}{
		{"canonical URLs", storedURLsSQL + "?, ?)", "posts_canonical_url", []any{"a", "b"}},
		{"ids", `SELECT external_id FROM posts WHERE source = ? AND external_id IN (?, ?)`, "sqlite_autoindex_posts_1", []any{"s", "a", "b"}},
		// A demotion moves the copies of a post to its new original.
		{"copies of a post", repointCopiesSQL, "posts_copy_of", []any{1, 2}},
	} {
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+q.sql, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if strings.Contains(got, "SCAN posts") || !strings.Contains(got, "INDEX "+q.index) {
			t.Errorf("%s: plan %q, want a search of %s", q.name, got, q.index)
		}
	}
}
