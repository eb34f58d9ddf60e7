package main

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/analysis"
	"github.com/affinityd/affinityd/collector"
	"github.com/affinityd/affinityd/server"
	"github.com/affinityd/affinityd/store"
)

// pipeline runs one source's batches the one way of DESIGN.md: fetch, drop
// what the store has, analyze outside any transaction, commit posts,
// mentions and the source's state together, then count what was inserted.
type pipeline struct {
	store   store.Store
	metrics *server.Metrics
	logger  *slog.Logger
	now     func() time.Time
	sem     chan struct{} // bounds concurrent fetches across sources

	mu       sync.Mutex
	failures map[string]int // consecutive failures per source, for backoff
}

func newPipeline(st store.Store, m *server.Metrics, logger *slog.Logger, now func() time.Time, maxConcurrent int) *pipeline {
	return &pipeline{store: st, metrics: m, logger: logger, now: now,
		sem: make(chan struct{}, max(1, maxConcurrent)), failures: map[string]int{}}
}

// batchStats is what one run of a source did.
type batchStats struct {
	Scanned, New, Duplicates, Matched, Skipped int
}

func (s *batchStats) add(o batchStats) {
	s.Scanned += o.Scanned
	s.New += o.New
	s.Duplicates += o.Duplicates
	s.Matched += o.Matched
	s.Skipped += o.Skipped
}

// maxBackoff caps the wait after repeated failures, so a source that comes
// back is noticed within the hour.
const maxBackoff = time.Hour

// runSource fetches a source until it has nothing more right now. interval is
// the source's schedule, used for backoff. It returns what was done; an error
// means the last fetch failed (already logged and counted).
func (p *pipeline) runSource(ctx context.Context, src collector.Source, an *analysis.Analyzer, interval time.Duration) (batchStats, error) {
	var total batchStats
	name := src.Name()
	logger := p.logger.With("source", name)
	state, _, err := p.store.SourceState(ctx, name)
	if err != nil {
		logger.Error("load source state failed", "err", err)
		return total, err
	}
	state.Source = name
	if now := p.now(); now.Before(state.NextCheck) {
		logger.Debug("source not due", "next_check", state.NextCheck)
		return total, nil
	}
	return p.drain(ctx, src, an, state, interval, nil)
}

// drain fetches from state on until the source has nothing more right now.
// progress, when not nil, hears after every committed batch what was done so
// far and the state (cursor) the next fetch starts from: a long replay can
// show how far it is.
func (p *pipeline) drain(ctx context.Context, src collector.Source, an *analysis.Analyzer, state affinity.SourceState,
	interval time.Duration, progress func(done batchStats, next affinity.SourceState)) (batchStats, error) {
	var total batchStats
	logger := p.logger.With("source", src.Name())
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
	case <-ctx.Done():
		return total, ctx.Err()
	}
	for {
		stats, next, more, err := p.fetchBatch(ctx, src, an, state, interval, logger)
		total.add(stats)
		if progress != nil && err == nil {
			progress(total, next)
		}
		if err != nil || !more {
			return total, err
		}
		state = next
	}
}

// fetchBatch is one fetch and one commit.
func (p *pipeline) fetchBatch(ctx context.Context, src collector.Source, an *analysis.Analyzer, state affinity.SourceState,
	interval time.Duration, logger *slog.Logger) (batchStats, affinity.SourceState, bool, error) {
	var stats batchStats
	name := src.Name()
	start := p.now()
	res, err := src.Fetch(ctx, state)
	if err != nil {
		if ctx.Err() != nil {
			return stats, state, false, ctx.Err() // shutting down: not the source's fault
		}
		reason := collector.ReasonOf(err)
		state.NextCheck = p.backoff(name, interval, err)
		// Keep the backoff across restarts; the posts are untouched.
		if _, cerr := p.store.Commit(ctx, affinity.Batch{Source: name, State: &state}); cerr != nil {
			logger.Error("save source state failed", "err", cerr)
		}
		p.metrics.ObserveFetch(server.Fetch{Source: name, Start: start, Duration: p.now().Sub(start), Err: err, Reason: reason, RateLimitRemaining: -1})
		logger.Warn("fetch failed", "reason", reason, "next_check", state.NextCheck, "duration_seconds", p.now().Sub(start).Seconds(), "err", err)
		return stats, state, false, err
	}
	p.resetBackoff(name)
	stats.Scanned = len(res.Posts)
	stats.Skipped = res.Skipped
	fresh, dups, err := p.store.FilterNew(ctx, res.Posts)
	if err != nil {
		logger.Error("deduplication failed", "err", err)
		return stats, state, false, err
	}
	aStart := time.Now()
	analyzed := an.AnalyzeBatch(fresh)
	if len(fresh) > 0 {
		p.metrics.ObserveAnalysis(time.Since(aStart))
	}
	for _, a := range analyzed {
		if len(a.Analysis.Topics) > 0 {
			stats.Matched++
		}
	}
	next := res.State
	next.Source = name
	cr, err := p.store.Commit(ctx, affinity.Batch{Source: name, Posts: analyzed, State: &next})
	if err != nil {
		if ctx.Err() != nil {
			return stats, state, false, ctx.Err()
		}
		// The store is the trouble, not the source: nothing was committed, so the
		// same posts come again next time; count it as a read failure of this fetch.
		p.metrics.ObserveFetch(server.Fetch{Source: name, Start: start, Duration: p.now().Sub(start), Err: err, Reason: "read", RateLimitRemaining: -1})
		logger.Error("commit failed", "err", err)
		return stats, state, false, err
	}
	stats.New = cr.New
	stats.Duplicates = dups + cr.Duplicates
	d := p.now().Sub(start)
	p.metrics.ObserveFetch(server.Fetch{Source: name, Start: start, Duration: d, Scanned: stats.Scanned, New: cr.New,
		RateLimitRemaining: res.RateLimitRemaining})
	logger.Info("fetch", "status", statusWord(res), "posts_scanned", stats.Scanned, "posts_new", cr.New,
		"posts_matched", stats.Matched, "duration_seconds", d.Seconds())
	// A source that set a next check (rate limit nearly spent) is not paged
	// further now, whatever it says about having more.
	more := res.More && !next.NextCheck.After(p.now())
	return stats, next, more, nil
}

func statusWord(res collector.Result) string {
	if res.NotModified {
		return "not_modified"
	}
	return "ok"
}

// backoff returns when a failing source is due again: exponential in its
// consecutive failures with jitter, at least the server's Retry-After.
func (p *pipeline) backoff(source string, interval time.Duration, err error) time.Time {
	p.mu.Lock()
	p.failures[source]++
	n := p.failures[source]
	p.mu.Unlock()
	base := min(interval, time.Minute)
	d := min(base*time.Duration(1<<min(n-1, 10)), maxBackoff)
	d = d/2 + rand.N(d/2+1) // full jitter on the upper half: failing sources do not retry in lockstep
	var fe *collector.FetchError
	if errors.As(err, &fe) && fe.RetryAfter > d {
		d = min(fe.RetryAfter, 24*time.Hour)
	}
	return p.now().Add(d)
}

func (p *pipeline) resetBackoff(source string) {
	p.mu.Lock()
	delete(p.failures, source)
	p.mu.Unlock()
}
