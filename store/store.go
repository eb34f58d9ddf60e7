// Package store owns persistence: posts deduplicated by (source, id) and by
// canonical URL, time-bucketed mentions, durable per-topic counts and source
// state. SQLite (pure Go) by default; the interface is what a PostgreSQL
// implementation will satisfy too, so the SQL stays portable.
package store

import (
	"context"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// Store is the persistence seam.
type Store interface {
	// FilterNew returns the posts that are not stored yet (neither their
	// (source, id) nor their canonical URL) and how many were dropped,
	// including duplicates within posts itself.
	FilterNew(ctx context.Context, posts []affinity.Post) (fresh []affinity.Post, duplicates int, err error)
	// Commit stores the batch's posts, their mentions and brand mentions, bumps
	// the durable topic and topic×brand totals and saves the source state, all in one
	// transaction. A post already stored is skipped with its mentions
	// (ON CONFLICT DO NOTHING), so a batch committed twice counts once.
	Commit(ctx context.Context, b affinity.Batch) (affinity.CommitResult, error)
	// SourceState returns the saved state of a source; ok is false when none is saved.
	SourceState(ctx context.Context, source string) (st affinity.SourceState, ok bool, err error)
	// TopicWindows returns per-topic counts over mentions whose post time lies in w.
	// Topics without mentions are absent.
	TopicWindows(ctx context.Context, w affinity.Window) (map[string]affinity.TopicWindow, error)
	// MentionTotals returns the durable mention count per topic and format since
	// the database was created; pruning never lowers it.
	MentionTotals(ctx context.Context) (map[string]map[affinity.Format]int64, error)
	// BrandMentionTotals returns the durable count, per topic and brand, of
	// stored posts matching the topic that mention the brand, since the
	// database was created (migration 0003 backfilled it from the posts then
	// kept); pruning never lowers it.
	BrandMentionTotals(ctx context.Context) (map[string]map[string]int64, error)
	// Evidence returns up to limit stored posts matching topic, newest first.
	Evidence(ctx context.Context, topic string, limit int) ([]affinity.Post, error)
	// TopicTerms returns the terms of topic's posts in w, scored against all
	// posts with terms in w (Dunning's log-likelihood G², see store/terms.go),
	// the limit best first; Count is how many of the topic's posts carry the term.
	TopicTerms(ctx context.Context, topic string, w affinity.Window, limit int) ([]affinity.TermCount, error)
	// EmergingTerms returns the terms of topic whose share of the topic's posts
	// grew most in w against baseline (a smoothed ratio of rates), among terms in
	// at least minSupport posts of w; Count is their posts in w.
	EmergingTerms(ctx context.Context, topic string, w, baseline affinity.Window, minSupport, limit int) ([]affinity.TermCount, error)
	// TopicOrganisations returns the unconfigured organisations co-mentioned
	// with topic in w, ranked by posts; limit ≤ 0 returns them all (its length
	// is affinity_topic_unconfigured_organisations).
	TopicOrganisations(ctx context.Context, topic string, w affinity.Window, limit int) ([]affinity.TermCount, error)
	// Prune deletes posts and mentions older than before; it returns the posts deleted.
	Prune(ctx context.Context, before time.Time) (int64, error)
	// Ping checks the database answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}
