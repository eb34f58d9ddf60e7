package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/analysis"
	"github.com/affinityd/affinityd/collector"
	"github.com/affinityd/affinityd/config"
	"github.com/affinityd/affinityd/server"
	"github.com/affinityd/affinityd/store"
	"github.com/go-co-op/gocron/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/exporter-toolkit/web"
)

// generation is one loaded configuration with everything built from it;
// a reload builds a new one and swaps it in whole.
type generation struct {
	cfg      *config.Config
	analyzer *analysis.Analyzer
	sources  []collector.Source
	// configHash is cfg's configHash, computed once: replicas announce it at
	// every source run and compare it at every scoring pass.
	configHash string
	// reconfigured names the sources whose configuration differs from the
	// previous generation's: their backoff is forgotten when this
	// generation's scheduler takes over, so a fixed source is fetched at once.
	reconfigured []string
}

// daemon holds what outlives a reload: store, metrics, the latest snapshot.
type daemon struct {
	flags    globalFlags
	logger   *slog.Logger
	store    store.Store
	metrics  *server.Metrics
	registry *prometheus.Registry // the daemon's own metrics
	// snapshotMetrics exports the scores; see server.Options.SnapshotMetrics.
	snapshotMetrics *server.SnapshotCollector
	pipeline        *pipeline
	now             func() time.Time
	clock           gocron.SchedulerOption // nil: the real clock

	snapshot atomic.Pointer[affinity.Snapshot]
	history  *server.History // past scores for the status page's sparklines (in memory)
	gen      atomic.Pointer[generation]

	// Scoring passes run one at a time on scoreLoop, a goroutine the daemon
	// owns across reloads: the scoring tick and sources that committed posts
	// only ask for a pass and never wait, so no job blocks on a scheduler a
	// reload is swapping (gocron's RunNow on an unstarted one never returns).
	scoreReq  chan struct{} // capacity 1: asking during a pass makes one more pass
	scoreMu   sync.Mutex    // one pass at a time: scoreLoop's or a reload's
	scoreStop chan struct{} // closed by close; nil until scoreLoop runs
	scoreDone chan struct{} // closed when scoreLoop has returned

	// replicas coordinates the replicas sharing a PostgreSQL database
	// (replicas.go); nil on SQLite, where this process is the only one.
	replicas       *store.Replicas
	replicaID      string
	leading        atomic.Bool            // holds the scoring lease
	held           heldSources            // source leases this replica believes it holds
	leaseFailing   atomic.Bool            // the last lease query failed (logged once)
	leaseFailedAt  atomic.Int64           // when a lease query last failed, Unix nanoseconds
	configMismatch atomic.Bool            // the leader's snapshot has other topics (logged once)
	configsSeen    atomic.Pointer[string] // other replicas' differing config hashes last logged
	scoringFailing atomic.Bool            // the last scoring pass failed (logged once)

	reloadMu  sync.Mutex // one reload at a time
	mu        sync.Mutex // guards scheduler
	scheduler gocron.Scheduler
}

// newDaemon opens the store and registers the metrics for a loaded configuration.
func newDaemon(ctx context.Context, g globalFlags, l loaded, logger *slog.Logger) (*daemon, error) {
	st, err := openStore(ctx, g, l.cfg, logger)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector("affinity"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	d := &daemon{flags: g, logger: logger, store: st, registry: reg, now: time.Now, scoreReq: make(chan struct{}, 1)}
	d.metrics = server.NewMetrics(reg)
	d.metrics.SetScoringLeader(true) // the only replica, unless joinReplicas
	d.history = server.NewHistory(0, 0)
	d.pipeline = newPipeline(st, d.metrics, logger, func() time.Time { return d.now() }, l.cfg.Collector.MaxConcurrentFetches)
	// Not in reg: the handler renders the scores once per snapshot.
	d.snapshotMetrics = server.NewSnapshotCollector(d.snapshot.Load, l.cfg.Scoring.Window.String(), l.cfg.Scoring.Interval.String())
	return d, nil
}

// build makes a generation from a loaded configuration, without starting anything.
func (d *daemon) build(l loaded) (*generation, error) {
	an, err := analysis.New(l.cfg)
	if err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	sources, err := buildSources(l, newClient(l.cfg), d.logger, d.now)
	if err != nil {
		return nil, err
	}
	return &generation{cfg: l.cfg, analyzer: an, sources: sources, configHash: configHash(l.cfg)}, nil
}

// activate makes gen current: metrics follow its sources, scores its topics
// (computed at once, so removed topics vanish and new ones show 0 immediately).
func (d *daemon) activate(ctx context.Context, gen *generation) error {
	d.gen.Store(gen)
	d.metrics.SetSources(sourceInfos(gen.cfg))
	return d.scorePass(ctx)
}

// scorePass runs one scoring pass, after any pass already running: a pass
// of the previous generation cannot finish after this one and bring its
// topics back.
func (d *daemon) scorePass(ctx context.Context) error {
	d.scoreMu.Lock()
	defer d.scoreMu.Unlock()
	return d.scoreShared(ctx)
}

// scoreLoop runs the requested scoring passes until close stops it.
func (d *daemon) scoreLoop(ctx context.Context, stop <-chan struct{}) {
	defer close(d.scoreDone)
	for {
		select {
		case <-d.scoreReq:
			d.scoringOutcome(d.scorePass(ctx))
		case <-stop:
			return
		}
	}
}

// requestScore asks for a scoring pass, so new posts show without waiting
// for the next tick. It never blocks: a request while one is pending joins
// it, and one while a pass runs makes exactly one more pass after it, which
// sees whatever was committed before the request.
func (d *daemon) requestScore() {
	select {
	case d.scoreReq <- struct{}{}:
	default: // a pass is pending already and has not started
	}
}

// score runs one scoring pass and swaps the snapshot in.
func (d *daemon) score(ctx context.Context) error {
	gen := d.gen.Load()
	now := d.now()
	w, b := analysis.Windows(gen.cfg.Scoring, now)
	cur, err := d.store.TopicWindows(ctx, w)
	if err != nil {
		return fmt.Errorf("scoring: window: %w", err)
	}
	base, err := d.store.TopicWindows(ctx, b)
	if err != nil {
		return fmt.Errorf("scoring: baseline: %w", err)
	}
	totals, err := d.store.MentionTotals(ctx)
	if err != nil {
		return fmt.Errorf("scoring: totals: %w", err)
	}
	brandTotals, err := d.store.BrandMentionTotals(ctx)
	if err != nil {
		return fmt.Errorf("scoring: brand totals: %w", err)
	}
	snap := analysis.Score(gen.cfg, now, cur, base, totals)
	// The collector exports only configured topics × brands, so totals of
	// removed ones stay in the store but leave /metrics.
	snap.BrandMentionTotals = brandTotals
	for i := range snap.Topics {
		orgs, err := d.store.TopicOrganisations(ctx, snap.Topics[i].Topic, w, 0)
		if err != nil {
			return fmt.Errorf("scoring: organisations: %w", err)
		}
		snap.Topics[i].UnconfiguredOrganisations = int64(len(orgs))
	}
	d.snapshot.Store(snap)
	d.history.Record(d.snapshot.Load())
	d.metrics.ScoringSucceeded(d.now())
	return nil
}

// fetchAll runs every source of the current generation once, concurrently
// within the fetch bound, and returns per-source stats in config order.
func (d *daemon) fetchAll(ctx context.Context, each func(name string, st batchStats, err error)) {
	gen := d.gen.Load()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, src := range gen.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := d.pipeline.runSource(ctx, src, gen.analyzer, time.Duration(gen.cfg.Sources[i].Interval))
			if each != nil {
				mu.Lock()
				each(src.Name(), st, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// schedule replaces the scheduler with one for gen; the old one finishes its
// running jobs first (gocron's Shutdown waits), so no fetch is cut mid-commit.
func (d *daemon) schedule(ctx context.Context, gen *generation) error {
	opts := []gocron.SchedulerOption{gocron.WithLogger(d.logger.With("component", "scheduler"))}
	if d.clock != nil {
		opts = append(opts, d.clock)
	}
	s, err := gocron.NewScheduler(opts...)
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	retry := &retries{at: map[string]time.Time{}}
	for i, src := range gen.sources {
		interval := time.Duration(gen.cfg.Sources[i].Interval)
		// The regular job and a retry share run; the lock keeps them from
		// running the source at once (each job is a singleton only by itself).
		var running sync.Mutex
		var run func()
		run = func() {
			if !running.TryLock() {
				return // the other job runs the source right now
			}
			defer running.Unlock()
			stopRenewing, ok := d.holdSource(ctx, src.Name(), interval)
			if !ok {
				return // skipped: another replica runs it, or see the reason counted in holdSource
			}
			st, _ := d.pipeline.runSource(ctx, src, gen.analyzer, interval) // logged and counted inside
			stopRenewing()
			// Asking the scheduler from inside its own job waits on its
			// loop; ask from outside so the job ends now.
			go func() {
				if st.NextCheck.After(d.now()) {
					d.retryAt(s, retry, src.Name(), st.NextCheck, run)
				}
				d.recordNextRun(s, src.Name(), st.NextCheck)
				if st.New > 0 {
					d.requestScore()
				}
			}()
		}
		// ±10 % jitter spreads sources that share an interval.
		_, err := s.NewJob(gocron.DurationRandomJob(interval-interval/10, interval+interval/10),
			gocron.NewTask(run),
			gocron.WithName("source:"+src.Name()),
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
			gocron.WithStartAt(gocron.WithStartImmediately()),
		)
		if err != nil {
			return fmt.Errorf("schedule source %q: %w", src.Name(), err)
		}
	}
	_, err = s.NewJob(gocron.DurationJob(time.Duration(gen.cfg.Scoring.Interval)),
		gocron.NewTask(d.requestScore),
		gocron.WithName("scoring"), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	if err != nil {
		return fmt.Errorf("schedule scoring: %w", err)
	}
	_, err = s.NewJob(gocron.DurationJob(time.Hour),
		gocron.NewTask(func() {
			if !d.leadsHousekeeping() {
				return // the scoring leader prunes for every replica
			}
			before := d.now().Add(-time.Duration(gen.cfg.Store.Retention))
			if n, err := d.store.Prune(ctx, before); err != nil {
				d.logger.Error("prune failed", "err", err)
			} else if n > 0 {
				d.logger.Info("pruned posts past retention", "posts", n, "before", before)
			}
		}),
		gocron.WithName("retention"), gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithStartAt(gocron.WithStartImmediately()))
	if err != nil {
		return fmt.Errorf("schedule retention: %w", err)
	}
	d.mu.Lock()
	old := d.scheduler
	d.scheduler = s
	if d.scoreStop == nil {
		d.scoreStop, d.scoreDone = make(chan struct{}), make(chan struct{})
		go d.scoreLoop(ctx, d.scoreStop)
	}
	d.mu.Unlock()
	if old != nil {
		if err := old.Shutdown(); err != nil {
			d.logger.Warn("old scheduler shutdown", "err", err)
		}
	}
	// After the old scheduler's runs ended, before the new one's first runs.
	for _, name := range gen.reconfigured {
		if err := d.pipeline.forgetBackoff(ctx, name); err != nil {
			d.logger.Warn("resetting the backoff of a changed source failed", "source", name, "err", err)
		}
	}
	s.Start()
	return nil
}

// retries are the pending one-time runs of a scheduler's sources at their
// next check, by source: a failed fetch is retried when its backoff ends
// and a source the server asked to wait runs when the wait is over, not at
// the first regular run after (which finds it not due and skips).
type retries struct {
	mu sync.Mutex
	at map[string]time.Time
}

// retryAt runs run (the source's task) once at at on s, unless a retry of
// the source is pending already no later than at: that one runs first and,
// finding the source not due, asks again.
func (d *daemon) retryAt(s gocron.Scheduler, r *retries, source string, at time.Time, run func()) {
	// The store keeps next checks in whole seconds, rounded up: a retry
	// before that second would find the source not due.
	if c := at.Truncate(time.Second); c.Before(at) {
		at = c.Add(time.Second)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.at[source]; ok && !p.After(at) {
		return
	}
	_, err := s.NewJob(gocron.OneTimeJob(gocron.OneTimeJobStartDateTime(at)),
		gocron.NewTask(func() {
			r.mu.Lock()
			if r.at[source].Equal(at) {
				delete(r.at, source)
			}
			r.mu.Unlock()
			run()
		}),
		gocron.WithName("retry:"+source), gocron.WithLimitedRuns(1))
	if err != nil {
		// at passed already (a slow run): the next regular run fetches.
		d.logger.Debug("retry not scheduled", "source", source, "next_check", at, "err", err)
		return
	}
	r.at[source] = at
}

// reload loads the configuration file again; an invalid one is refused and
// the running configuration stays.
func (d *daemon) reload(ctx context.Context) (err error) {
	d.reloadMu.Lock()
	defer func() {
		d.reloadMu.Unlock()
		d.metrics.ConfigLoaded(err == nil, d.now())
	}()
	l, err := loadConfig(d.flags)
	if err != nil {
		d.logger.Error("reload refused: invalid configuration", "err", err)
		return err
	}
	if old := d.gen.Load(); old != nil && storagePath(d.flags, old.cfg) != storagePath(d.flags, l.cfg) {
		d.logger.Warn("store.path changed: takes effect after a restart")
	}
	gen, err := d.build(l)
	if err != nil {
		d.logger.Error("reload refused", "err", err)
		return err
	}
	if old := d.gen.Load(); old != nil {
		gen.reconfigured = reconfigured(old.cfg, gen.cfg)
	}
	if err := d.activate(ctx, gen); err != nil {
		d.logger.Error("scoring after reload failed", "err", err)
	}
	err = d.schedule(ctx, gen)
	if err == nil {
		d.logger.Info("configuration reloaded", "topics", len(gen.cfg.Topics()), "sources", len(gen.sources))
	}
	return err
}

// recordNextRun tells the status page when a source is fetched next: at its
// next check if that is still to come (regular runs before it skip), else
// at its job's next run.
func (d *daemon) recordNextRun(s gocron.Scheduler, source string, nextCheck time.Time) {
	if nextCheck.After(d.now()) {
		d.metrics.SetNextRun(source, nextCheck)
		return
	}
	for _, j := range s.Jobs() {
		if j.Name() == "source:"+source {
			if t, err := j.NextRun(); err == nil {
				d.metrics.SetNextRun(source, t)
			}
		}
	}
}

// close stops the scheduler (waiting for running fetches) and closes the store.
func (d *daemon) close() error {
	d.mu.Lock()
	s, stop := d.scheduler, d.scoreStop
	d.scheduler, d.scoreStop = nil, nil
	d.mu.Unlock()
	if s != nil {
		if err := s.Shutdown(); err != nil {
			d.logger.Warn("scheduler shutdown", "err", err)
		}
	}
	if stop != nil {
		close(stop)
		<-d.scoreDone // a running pass finishes before the store closes
	}
	d.releaseLeases()
	return d.store.Close()
}

func (d *daemon) handler(reload func() error) http.Handler {
	return server.Handler(server.Options{
		Gatherer:        d.registry,
		SnapshotMetrics: d.snapshotMetrics,
		Snapshot:        d.snapshot.Load,
		Metrics:         d.metrics,
		Evidence:        d.store.Evidence,
		Ready: func(ctx context.Context) error {
			if d.snapshot.Load() == nil {
				return errors.New("no scores computed yet")
			}
			if err := d.pipeline.storeWriteErr(); err != nil {
				return fmt.Errorf("store cannot write (disk full or read-only?): %w", err)
			}
			return d.store.Ping(ctx)
		},
		Reload:  reload,
		Logger:  d.logger,
		History: d.history,
		Scoring: func() server.ScoringInfo { return scoringInfo(d.gen.Load().cfg) },
		Terms:   d.topicTerms,
	})
}

// runDaemon is `affinityd run`.
func runDaemon(g globalFlags, logger *slog.Logger, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := loadConfig(g)
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: %v\n", err)
		return 1
	}
	if l.cfg.File == "" {
		logger.Info("no --config.file given: running the embedded offline demo")
	}
	// The web listeners and --web.config.file before anything else: a port in
	// use or a bad TLS file must stop the daemon before it fetches and stores.
	listeners, err := listen(g.webFlags)
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: web: %v\n", err)
		return 1
	}
	defer func() {
		for _, ln := range listeners {
			_ = ln.Close() // served ones are closed by Shutdown already
		}
	}()
	d, err := newDaemon(ctx, g, l, logger)
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: %v\n", err)
		return 1
	}
	if err := d.joinReplicas(); err != nil {
		fmt.Fprintf(stderr, "affinityd: %v\n", err)
		_ = d.close()
		return 1
	}
	gen, err := d.build(l)
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: %v\n", err)
		_ = d.close()
		return 1
	}
	if err := d.activate(ctx, gen); err != nil {
		logger.Error("initial scoring failed", "err", err)
	}
	d.metrics.ConfigLoaded(true, d.now())

	// Jobs get their own context: on SIGTERM in-flight fetches finish and commit.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	if err := d.schedule(jobCtx, gen); err != nil {
		fmt.Fprintf(stderr, "affinityd: %v\n", err)
		_ = d.close()
		return 1
	}

	reloadCh := make(chan chan error)
	reload := func() error {
		errc := make(chan error)
		select {
		case reloadCh <- errc:
			return <-errc
		case <-ctx.Done():
			return errors.New("shutting down")
		}
	}
	srv := &http.Server{Handler: d.handler(reload), ReadHeaderTimeout: 10 * time.Second}
	srvErr := make(chan error, 1)
	go func() {
		if listeners == nil { // systemd sockets or vsock: the toolkit's own listening
			srvErr <- web.ListenAndServe(srv, g.webFlags, logger)
			return
		}
		srvErr <- web.ServeMultiple(listeners, srv, g.webFlags, logger)
	}()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	status := 0
loop:
	for {
		select {
		case <-hup:
			_ = d.reload(jobCtx)
		case errc := <-reloadCh:
			errc <- d.reload(jobCtx)
		case err := <-srvErr:
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("HTTP server failed", "err", err)
				status = 1
			}
			break loop
		case <-ctx.Done():
			logger.Info("shutting down: finishing in-flight work")
			break loop
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	if err := d.close(); err != nil {
		logger.Error("closing store failed", "err", err)
		status = 1
	}
	logger.Info("stopped")
	return status
}

// reconfigured returns the names of the sources of cur that prev has too,
// configured otherwise.
func reconfigured(prev, cur *config.Config) []string {
	was := map[string]config.Source{}
	for _, s := range prev.Sources {
		was[s.Name] = s
	}
	var names []string
	for _, s := range cur.Sources {
		if p, ok := was[s.Name]; ok && !reflect.DeepEqual(p, s) {
			names = append(names, s.Name)
		}
	}
	return names
}

// listen validates --web.config.file and binds every --web.listen-address
// (TCP), so that start-up fails at once on a taken port. It returns nil
// listeners for systemd socket activation and vsock addresses, which
// web.ListenAndServe opens itself.
func listen(flags *web.FlagConfig) ([]net.Listener, error) {
	if flags.WebConfigFile != nil {
		if err := web.Validate(*flags.WebConfigFile); err != nil {
			return nil, fmt.Errorf("--web.config.file: %w", err)
		}
	}
	addrs := *flags.WebListenAddresses
	if (flags.WebSystemdSocket != nil && *flags.WebSystemdSocket) ||
		slices.ContainsFunc(addrs, func(a string) bool { return strings.HasPrefix(a, "vsock://") }) {
		return nil, nil
	}
	var out []net.Listener
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range out {
				_ = l.Close()
			}
			return nil, err
		}
		out = append(out, ln)
	}
	return out, nil
}
