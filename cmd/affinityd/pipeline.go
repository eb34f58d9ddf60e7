package main

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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

	// writeErr is the last failed store write, nil again after one succeeds:
	// a full or read-only disk makes the daemon unready, not silent.
	writeErr atomic.Pointer[error]
}

// storeWriteErr returns why the store could not write lately, or nil.
func (p *pipeline) storeWriteErr() error {
	if e := p.writeErr.Load(); e != nil {
		return *e
	}
	return nil
}

// wrote records the outcome of a store write for readiness.
func (p *pipeline) wrote(err error) {
	if err == nil {
		p.writeErr.Store(nil)
		return
	}
	p.writeErr.Store(&err)
}

func newPipeline(st store.Store, m *server.Metrics, logger *slog.Logger, now func() time.Time, maxConcurrent int) *pipeline {
	return &pipeline{store: st, metrics: m, logger: logger, now: now,
		sem: make(chan struct{}, max(1, maxConcurrent)), failures: map[string]int{}}
}

// batchStats is what one run of a source did.
type batchStats struct {
	Scanned, New, Duplicates, Matched, Skipped int
	NearDuplicates                             int // of New, stored as copies of another post
	// NextCheck is when the source is due again, if the run ended with it
	// in the future: a backoff after a failure, a server's Retry-After or
	// rate limit, or the check a run found not due yet.
	NextCheck time.Time
}

func (s *batchStats) add(o batchStats) {
	s.Scanned += o.Scanned
	s.New += o.New
	s.Duplicates += o.Duplicates
	s.Matched += o.Matched
	s.Skipped += o.Skipped
	s.NearDuplicates += o.NearDuplicates
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
		total.NextCheck = state.NextCheck
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
	// While a batch commits (one writer, one core), the next one is fetched
	// and analyzed on the other: a long replay or a paged API takes the time
	// of the slower stage, not of both. Only commits write, one after the
	// other in order, so a cursor is never saved ahead of its posts.
	f := p.fetch(ctx, src, an, state)
	for {
		var ahead chan fetched
		if f.fetchErr == nil && f.dedupErr == nil && f.res.More && !f.res.State.NextCheck.After(p.now()) {
			ahead = make(chan fetched, 1)
			go func(from affinity.SourceState) { ahead <- p.fetch(ctx, src, an, from) }(f.nextState(src.Name()))
		}
		stats, next, more, err := p.commitBatch(ctx, src.Name(), an, state, interval, logger, f)
		total.add(stats)
		if next.NextCheck.After(p.now()) {
			total.NextCheck = next.NextCheck
		}
		if progress != nil && err == nil {
			progress(total, next)
		}
		if err != nil || !more {
			if ahead != nil {
				<-ahead // a fetch never outlives drain; what it got comes again next time
			}
			return total, err
		}
		state = next
		f = <-ahead
	}
}

// fetched is a batch fetched, deduplicated against the store and analyzed,
// not yet committed.
type fetched struct {
	start    time.Time
	res      collector.Result
	dups     int
	analyzed []affinity.AnalyzedPost
	fetchErr error // the source failed
	dedupErr error // the store could not tell what is new
}

func (f fetched) nextState(source string) affinity.SourceState {
	next := f.res.State
	next.Source = source
	return next
}

// fetch is the part of a batch that writes nothing, so it may run while the
// previous batch commits.
func (p *pipeline) fetch(ctx context.Context, src collector.Source, an *analysis.Analyzer, state affinity.SourceState) fetched {
	f := fetched{start: p.now()}
	f.res, f.fetchErr = src.Fetch(ctx, state)
	if f.fetchErr != nil {
		return f
	}
	var fresh []affinity.Post
	fresh, f.dups, f.dedupErr = p.store.FilterNew(ctx, f.res.Posts)
	if f.dedupErr != nil {
		return f
	}
	aStart := time.Now()
	f.analyzed = an.AnalyzeBatch(fresh)
	if len(fresh) > 0 {
		p.metrics.ObserveAnalysis(time.Since(aStart))
	}
	return f
}

// commitBatch commits a fetched batch (or records its failure) from state.
func (p *pipeline) commitBatch(ctx context.Context, name string, an *analysis.Analyzer, state affinity.SourceState,
	interval time.Duration, logger *slog.Logger, f fetched) (batchStats, affinity.SourceState, bool, error) {
	var stats batchStats
	start, res, err := f.start, f.res, f.fetchErr
	if err != nil {
		if ctx.Err() != nil {
			return stats, state, false, ctx.Err() // shutting down: not the source's fault
		}
		reason := collector.ReasonOf(err)
		state.NextCheck = p.backoff(name, interval, err)
		// Keep the backoff across restarts; the posts are untouched.
		_, cerr := p.store.Commit(ctx, affinity.Batch{Source: name, State: &state})
		if cerr != nil {
			logger.Error("save source state failed", "err", cerr)
		}
		if ctx.Err() == nil {
			p.wrote(cerr)
		}
		p.metrics.ObserveFetch(server.Fetch{Source: name, Start: start, Duration: p.now().Sub(start), Err: err, Reason: reason, RateLimitRemaining: -1})
		logger.Warn("fetch failed", "reason", reason, "next_check", state.NextCheck, "duration_seconds", p.now().Sub(start).Seconds(), "err", err)
		return stats, state, false, err
	}
	p.resetBackoff(name)
	stats.Scanned = len(res.Posts)
	stats.Skipped = res.Skipped
	if err := f.dedupErr; err != nil {
		logger.Error("deduplication failed", "err", err)
		return stats, state, false, err
	}
	dups, analyzed := f.dups, f.analyzed
	for _, a := range analyzed {
		if len(a.Analysis.Topics) > 0 {
			stats.Matched++
		}
	}
	next := f.nextState(name)
	cr, err := p.store.Commit(ctx, affinity.Batch{Source: name, Posts: analyzed, State: &next, NearDup: an.NearDupRule()})
	if err != nil {
		if ctx.Err() != nil {
			return stats, state, false, ctx.Err()
		}
		// The store is the trouble, not the source: nothing was committed, so the
		// same posts come again next time; count it as a read failure of this fetch.
		p.metrics.ObserveFetch(server.Fetch{Source: name, Start: start, Duration: p.now().Sub(start), Err: err, Reason: "read", RateLimitRemaining: -1})
		logger.Error("commit failed", "err", err)
		p.wrote(err)
		return stats, state, false, err
	}
	p.wrote(nil)
	stats.New = cr.New
	stats.Duplicates = dups + cr.Duplicates
	stats.NearDuplicates = cr.NearDuplicates
	d := p.now().Sub(start)
	p.metrics.ObserveFetch(server.Fetch{Source: name, Start: start, Duration: d, Scanned: stats.Scanned, New: cr.New,
		NearDuplicates: cr.NearDuplicates, Skipped: res.Skipped, RateLimitRemaining: res.RateLimitRemaining})
	logger.Info("fetch", "status", statusWord(res), "posts_scanned", stats.Scanned, "posts_new", cr.New,
		"posts_near_duplicate", cr.NearDuplicates, "posts_matched", stats.Matched, "duration_seconds", d.Seconds())
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

// forgetBackoff makes source due now and its failures forgotten: its
// configuration changed, so the past failures (and waits a server asked
// for) were another source's.
func (p *pipeline) forgetBackoff(ctx context.Context, source string) error {
	p.resetBackoff(source)
	state, ok, err := p.store.SourceState(ctx, source)
	if err != nil || !ok || state.NextCheck.IsZero() {
		return err
	}
	state.Source = source
	state.NextCheck = time.Time{}
	_, err = p.store.Commit(ctx, affinity.Batch{Source: source, State: &state})
	return err
}
