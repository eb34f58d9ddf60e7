package store

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
)

// TestWALSizeLimited: the writer truncates the WAL after checkpoints, so a
// burst of writes does not leave the file at its high-water mark.
func TestWALSizeLimited(t *testing.T) {
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "a.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var limit int64
	if err := s.w.QueryRow(`PRAGMA journal_size_limit`).Scan(&limit); err != nil {
		t.Fatal(err)
	}
	if limit != 64<<20 {
		t.Errorf("journal_size_limit = %d, want %d", limit, 64<<20)
	}
}
