package store

import (
	"context"
	"database/sql"
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
		got := strings.Join(queryPlan(t, s.r, q.sql, q.args...), "; ")
		if strings.Contains(got, "SCAN posts") || !strings.Contains(got, "INDEX "+q.index) {
			t.Errorf("%s: plan %q, want a search of %s", q.name, got, q.index)
		}
	}
}

// TestReadsUseIndexes: every read of the per-post rows is an index search,
// so dropping an index (0008 dropped post_orgs_ts, which none of these used)
// or rebuilding a table never turns one into a scan of the table.
func TestReadsUseIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.db")
	s, err := OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, q := range []struct{ name, sql string }{
		{"window", `SELECT COUNT(*), SUM(engagement) FROM mentions WHERE topic = ? AND ts >= ? AND ts < ?`},
		{"window brands", `SELECT m.topic, b.brand, COUNT(*) FROM brand_mentions b JOIN mentions m ON m.post_id = b.post_id WHERE b.ts >= ? AND b.ts < ? GROUP BY m.topic, b.brand`},
		{"evidence", `SELECT p.text FROM mentions m JOIN posts p ON p.id = m.post_id WHERE m.topic = ? ORDER BY m.ts DESC, m.post_id DESC LIMIT ?`},
		{"topic terms", `SELECT pt.term, COUNT(*) FROM mentions m JOIN post_terms pt ON pt.post_id = m.post_id WHERE m.topic = ? AND m.ts >= ? AND m.ts < ? GROUP BY pt.term`},
		{"term background", `SELECT COUNT(*) FROM post_terms WHERE term = ? AND ts >= ? AND ts < ?`},
		{"topic organisations", `SELECT o.org, COUNT(*) FROM mentions m JOIN post_orgs o ON o.post_id = m.post_id WHERE m.topic = ? AND m.ts >= ? AND m.ts < ? GROUP BY o.org`},
		{"prune organisations", `DELETE FROM post_orgs WHERE post_id IN (?, ?)`},
		{"prune terms", `DELETE FROM post_terms WHERE post_id IN (?, ?)`},
	} {
		args := make([]any, strings.Count(q.sql, "?"))
		for i := range args {
			args[i] = 1
		}
		if got := strings.Join(queryPlan(t, s.w, q.sql, args...), "; "); strings.Contains(got, "SCAN ") {
			t.Errorf("%s: plan %q scans a table", q.name, got)
		}
	}
}

// queryPlan returns the steps of SQLite's EXPLAIN QUERY PLAN for query.
func queryPlan(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %q: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
