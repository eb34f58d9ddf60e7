package store

import (
	"context"
	"fmt"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// PostReader streams stored posts. `affinityd query` backtests a topic on
// them; it is apart from Store so a driver can add it on its own.
type PostReader interface {
	// StoredPosts calls fn for every stored post whose time is at or after
	// from, oldest first, with source, id, URL, author, times, language,
	// title, text and format; an error from fn stops the walk and is returned.
	StoredPosts(ctx context.Context, from time.Time, fn func(affinity.Post) error) error
}

var _ PostReader = (*SQLite)(nil)

// storedLanguage is what a post's lang column holds: the language analysis
// gave it (the platform's reduced to its base language, detected, or "und"),
// else the platform's tag as delivered.
func storedLanguage(ap affinity.AnalyzedPost) string {
	if ap.Analysis.Language != "" {
		return ap.Analysis.Language
	}
	return ap.Post.Language
}

// StoredPosts implements PostReader. Rows are read in one read transaction,
// so a commit meanwhile neither shows half nor blocks; times come back in UTC
// at second resolution, as stored.
func (s *SQLite) StoredPosts(ctx context.Context, from time.Time, fn func(affinity.Post) error) error {
	tx, err := s.readTx(ctx)
	if err != nil {
		return fmt.Errorf("store: stored posts: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	rows, err := tx.QueryContext(ctx, `SELECT source, external_id, url, author, published, collected,
	lang, title, text, format
FROM posts WHERE ts >= ? ORDER BY ts, id`, unixOrZero(from))
	if err != nil {
		return fmt.Errorf("store: stored posts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p affinity.Post
		var published, collected int64
		var format string
		if err := rows.Scan(&p.Source, &p.ID, &p.URL, &p.Author, &published, &collected,
			&p.Language, &p.Title, &p.Text, &format); err != nil {
			return fmt.Errorf("store: stored posts: %w", err)
		}
		p.Published, p.Collected, p.Format = timeOrZero(published), timeOrZero(collected), affinity.Format(format)
		if err := fn(p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: stored posts: %w", err)
	}
	return nil
}
