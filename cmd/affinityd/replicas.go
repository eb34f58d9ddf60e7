package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
	"github.com/affinityd/affinityd/store"
)

// scoringLease names the lease of the scoring leader: it computes the
// snapshot, stores it for the other replicas and prunes.
const scoringLease = "scoring"

// newReplicaID names this process among the replicas sharing a database:
// host and pid for a person reading the leases table, and a random suffix
// because a restarted container reuses both.
func newReplicaID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// joinReplicas makes `affinityd run` on PostgreSQL one of the replicas
// sharing the database's work; on SQLite, and for one-shot commands, it is
// not called and the process does everything itself.
func (d *daemon) joinReplicas() error {
	if _, ok := d.store.(*store.Postgres); !ok {
		return nil
	}
	r, err := store.ReplicasOf(d.store)
	if err != nil {
		return err
	}
	d.replicas, d.replicaID = r, newReplicaID()
	d.metrics.SetScoringLeader(false)
	d.logger.Info("replica started: sources and scoring are shared through database leases", "replica", d.replicaID)
	return nil
}

// sourceLeaseTTL is how long a claim of a source lasts: the holder claims
// again at every run (at most 1.1 intervals apart with the jitter) and renews
// while a long run lasts, so it keeps the source; a dead holder's source
// moves to another replica once this much time passed since its last claim.
func sourceLeaseTTL(interval time.Duration) time.Duration { return interval + interval/2 }

// scoringLeaseTTL spans a few scoring intervals, so one slow pass does not
// hand leadership around.
func scoringLeaseTTL(interval time.Duration) time.Duration { return 3 * interval }

// holdSource claims the lease of source for this replica before a run and
// renews it until done is called. ok is false when the run must be skipped
// (counted by reason): another replica holds the source, this replica holds
// its fair share already, or the lease could not be claimed. On SQLite (one
// replica) it always succeeds.
//
// Balance: every run refreshes this replica's presence lease, so each sees
// how many replicas live; one holds at most ceil(sources/replicas) sources,
// and hands a source over after its run while it holds more. A replica that
// joins therefore gets work within a few intervals, and when one dies the
// others' shares grow to take its sources.
func (d *daemon) holdSource(ctx context.Context, source string, interval time.Duration) (done func(), ok bool) {
	if d.replicas == nil {
		return func() {}, true
	}
	name := "source:" + source
	ttl := sourceLeaseTTL(interval)
	mine, fair, err := d.sourceShare(ctx, ttl)
	d.leaseOutcome(err)
	if err != nil {
		d.metrics.RunSkipped(source, "lease_error")
		return nil, false
	}
	held := d.held.has(name)
	if !held && mine >= fair {
		d.metrics.RunSkipped(source, "balancing")
		return nil, false
	}
	got, err := d.replicas.Claim(ctx, d.replicaID, []string{name}, ttl)
	d.leaseOutcome(err)
	if err != nil {
		d.metrics.RunSkipped(source, "lease_error")
		return nil, false
	}
	if len(got) == 0 {
		d.held.set(name, false)
		d.logger.Debug("source run skipped: another replica holds it", "source", source)
		d.metrics.RunSkipped(source, "leased_elsewhere")
		return nil, false
	}
	d.held.set(name, true)
	if !held {
		mine++
	}
	stopped := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				kept, err := d.replicas.Renew(ctx, d.replicaID, []string{name}, ttl)
				d.leaseOutcome(err)
				if err == nil && len(kept) == 0 {
					// Another replica took the source over (this one stalled past
					// the lease): the run finishes, its commit is idempotent.
					d.held.set(name, false)
					d.logger.Warn("source lease lost during a run", "source", source)
					return
				}
			}
		}
	}()
	return func() {
		close(quit)
		<-stopped
		if mine > fair {
			if err := d.replicas.Release(ctx, d.replicaID, []string{name}); err == nil {
				d.held.set(name, false)
				d.logger.Debug("source handed over: this replica holds more than its share", "source", source, "held", mine, "share", fair)
			}
		}
	}, true
}

// sourceShare refreshes this replica's presence and returns how many
// sources it holds and the most it should: ceil(sources / live replicas).
func (d *daemon) sourceShare(ctx context.Context, ttl time.Duration) (mine, fair int, err error) {
	gen := d.gen.Load()
	if err := d.replicas.Announce(ctx, d.replicaID, gen.configHash, ttl); err != nil {
		return 0, 0, err
	}
	live, err := d.replicas.Holders(ctx, store.ReplicaPrefix)
	if err != nil {
		return 0, 0, err
	}
	counts, err := d.replicas.Holders(ctx, "source:")
	if err != nil {
		return 0, 0, err
	}
	n := len(gen.sources)
	replicas := max(1, len(live))
	return counts[d.replicaID], (n + replicas - 1) / replicas, nil
}

// heldSources is what this replica believes it holds; the database decides,
// this only tells a renewal from a new claim for balancing.
type heldSources struct {
	mu    sync.Mutex
	names map[string]bool
}

func (h *heldSources) has(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.names[name]
}

func (h *heldSources) set(name string, held bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.names == nil {
		h.names = map[string]bool{}
	}
	if held {
		h.names[name] = true
	} else {
		delete(h.names, name)
	}
}

// leaseRecoveryQuiet is how long after the last failure a success must
// come to count as recovery: a database shutting down closes the pool's
// connections one by one, so for a moment queries on the others still
// succeed between failures, and the log would say "unavailable" twice.
const leaseRecoveryQuiet = time.Second

// leaseOutcome logs a failing lease store once, and once when it recovers,
// not at every source's every run.
func (d *daemon) leaseOutcome(err error) {
	if err != nil {
		d.leaseFailedAt.Store(time.Now().UnixNano())
		if !d.leaseFailing.Swap(true) {
			d.logger.Warn("leases unavailable: skipping runs until the database answers", "err", err)
		}
		return
	}
	if time.Since(time.Unix(0, d.leaseFailedAt.Load())) < leaseRecoveryQuiet {
		return
	}
	if d.leaseFailing.Swap(false) {
		d.logger.Info("leases available again")
	}
}

// scoringOutcome logs a failing scoring pass when scoring starts failing
// and once when it recovers: a database that is away fails every pass, and
// the log says so once, not every interval (failed passes stay visible in
// affinity_scoring_last_success_timestamp_seconds and /-/ready).
func (d *daemon) scoringOutcome(err error) {
	if err != nil {
		if !d.scoringFailing.Swap(true) {
			d.logger.Error("scoring failed: serving the last scores until a pass succeeds", "err", err)
		} else {
			d.logger.Debug("scoring failed again", "err", err)
		}
		return
	}
	if d.scoringFailing.Swap(false) {
		d.logger.Info("scoring succeeded again")
	}
}

// scoreShared is the scoring job. On SQLite it scores. With replicas, the
// holder of the scoring lease scores and stores the snapshot; the others
// serve the stored one, so every replica exports the same topic gauges.
func (d *daemon) scoreShared(ctx context.Context) error {
	if d.replicas == nil {
		return d.score(ctx)
	}
	gen := d.gen.Load()
	got, err := d.replicas.Claim(ctx, d.replicaID, []string{scoringLease}, scoringLeaseTTL(time.Duration(gen.cfg.Scoring.Interval)))
	d.leaseOutcome(err)
	if err != nil {
		return fmt.Errorf("scoring: lease: %w", err)
	}
	leader := len(got) == 1
	d.checkConfigs(ctx, gen.configHash)
	if was := d.leading.Swap(leader); was != leader {
		d.logger.Info("scoring leadership changed", "leader", leader, "replica", d.replicaID)
	}
	d.metrics.SetScoringLeader(leader)
	if leader {
		if err := d.score(ctx); err != nil {
			return err
		}
		if err := d.replicas.SaveSnapshot(ctx, d.replicaID, d.snapshot.Load()); err != nil {
			return fmt.Errorf("scoring: %w", err)
		}
		return nil
	}
	snap, holder, ok, err := d.replicas.LatestSnapshot(ctx)
	if err != nil {
		return fmt.Errorf("scoring: %w", err)
	}
	if !ok || !sameTopics(snap, gen.cfg) {
		// Nothing stored yet, or the leader runs another configuration:
		// scores are a function of the shared data, so compute them here.
		if ok && !d.configMismatch.Swap(true) {
			d.logger.Warn("the scoring leader's snapshot has other topics or brands than this replica's configuration: scoring locally; run every replica on the same configuration", "leader", holder)
		}
		return d.score(ctx)
	}
	d.configMismatch.Store(false)
	if cur := d.snapshot.Load(); cur == nil || !cur.Computed.Equal(snap.Computed) {
		d.snapshot.Store(snap)
		d.history.Record(snap)
	}
	d.metrics.ScoringSucceeded(snap.Computed)
	return nil
}

// sameTopics reports whether snap was computed for cfg's topics and brands,
// in order (the exported label sets).
func sameTopics(snap *affinity.Snapshot, cfg *config.Config) bool {
	topics, brands := cfg.Topics(), cfg.Brands()
	if len(snap.Topics) != len(topics) || len(snap.Brands) != len(brands) {
		return false
	}
	for i, t := range topics {
		if snap.Topics[i].Topic != t.Name {
			return false
		}
	}
	for i, b := range brands {
		if snap.Brands[i].Name != b.Name {
			return false
		}
	}
	return true
}

// leadsHousekeeping reports whether this replica runs the jobs only one
// replica should (retention pruning): the scoring leader, or the only one.
func (d *daemon) leadsHousekeeping() bool { return d.replicas == nil || d.leading.Load() }

// releaseLeases hands this replica's sources and leadership over at a clean
// shutdown, so the others take them at their next run instead of at expiry.
func (d *daemon) releaseLeases() {
	gen := d.gen.Load()
	if d.replicas == nil || gen == nil {
		return
	}
	names := []string{scoringLease, store.ReplicaPrefix + d.replicaID}
	for _, s := range gen.cfg.Sources {
		names = append(names, "source:"+s.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.replicas.Release(ctx, d.replicaID, names); err != nil {
		d.logger.Warn("releasing leases failed: others take over at expiry", "err", err)
	}
}

// configHash identifies the configuration a replica runs, for comparing
// replicas: its parsed form (so comments and layout do not count), without
// the file's path and the store section (how each reaches the database).
func configHash(cfg *config.Config) string {
	c := *cfg
	c.File, c.Store = "", config.Store{}
	b, err := json.Marshal(c)
	if err != nil {
		return "unhashable"
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// checkConfigs compares this replica's configuration hash with the other
// live replicas': replicas on different configurations divide sources that
// only some of them know and score different topics, so a difference is
// logged as a warning when it appears or changes (not at every pass) and
// exported as affinity_replicas_config_mismatch.
func (d *daemon) checkConfigs(ctx context.Context, mine string) {
	hashes, err := d.replicas.ConfigHashes(ctx)
	d.leaseOutcome(err)
	if err != nil {
		return
	}
	var others []string
	for holder, h := range hashes {
		if holder != d.replicaID && h != mine {
			others = append(others, holder+"="+h)
		}
	}
	slices.Sort(others)
	seen := strings.Join(others, " ")
	d.metrics.SetConfigMismatch(len(others) > 0)
	if prev := d.configsSeen.Swap(&seen); prev != nil && *prev == seen || prev == nil && seen == "" {
		return
	}
	if seen == "" {
		d.logger.Info("replicas run the same configuration again", "config_hash", mine)
		return
	}
	d.logger.Warn("CONFIGURATION MISMATCH: other live replicas run a different configuration than this one; sources and scores are divided inconsistently until every replica runs the same file",
		"config_hash", mine, "replicas", seen)
}
