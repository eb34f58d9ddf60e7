// Package collector fetches public posts: one file per source kind behind the
// small Source interface, one shared HTTP client. It knows platforms and HTTP,
// nothing about what topics mean.
package collector

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

// Source is one configured place posts come from.
type Source interface {
	// Name is the configured source name.
	Name() string
	// Fetch returns what is new since state. It never saves state itself: the
	// caller commits Result.State together with the posts, so a crash before
	// the commit means the same posts are fetched again, never lost.
	Fetch(ctx context.Context, state affinity.SourceState) (Result, error)
}

// Result is one fetch's outcome.
type Result struct {
	Posts []affinity.Post
	// State is the state to save once Posts are committed (cursor, validators).
	State affinity.SourceState
	// NotModified is true when the server answered 304: nothing to do.
	NotModified bool
	// More is true when the source has more to deliver right away (a replay
	// file read in chunks, a paged API); the caller fetches again at once.
	More bool
	// RateLimitRemaining is the request budget the platform reported; -1 when it said nothing.
	RateLimitRemaining float64
	// Skipped counts records dropped as unreadable (a bad JSONL line): they
	// are logged, counted and passed over, never fatal to the fetch.
	Skipped int
}

// Options are what every source kind may need from its surroundings.
type Options struct {
	Client *Client      // shared HTTP client; built from config.Collector
	Logger *slog.Logger // already carries source=NAME
	Now    func() time.Time
	// Queries are what search sources ask for, built from the topics' terms
	// and the brands' names (config "queries" picks which).
	Queries []Query
	// Open opens a local file named in the config (replay). Nil means os.Open.
	Open func(name string) (io.ReadCloser, error)
	// ReplayBatch is how many posts one Fetch of a replay source delivers
	// at most, hence how many one commit holds; 0 means 5,000.
	ReplayBatch int
}

// NewFunc builds a source of one kind from its config.
type NewFunc func(cfg config.Source, opts Options) (Source, error)

// Kinds maps each source kind to its constructor: one explicit map, no init magic.
var Kinds = map[string]NewFunc{
	"feed":       newFeed,
	"replay":     newReplay,
	"mastodon":   newMastodon,
	"lemmy":      newLemmy,
	"hackernews": newHackerNews,
	"reddit":     newReddit,
	"bluesky":    newBluesky,
}
