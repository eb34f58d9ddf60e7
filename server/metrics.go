// Package server serves what affinityd knows: Prometheus metrics, the JSON
// API, health endpoints and a status page. It reads the latest scoring
// snapshot and the sources' status; it never computes scores itself.
package server

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const namespace = "affinity"

// FailureReasons is the fixed set of reasons a fetch can fail with; every
// source exports all of them from the start, at 0.
var FailureReasons = []string{"timeout", "connect", "http_4xx", "http_5xx", "rate_limited", "too_large", "parse", "read"}

// SkipReasons is the fixed set of reasons a replica skips a scheduled run of
// a source: another replica holds its lease, this replica holds its share of
// sources already, or the lease could not be read.
var SkipReasons = []string{"leased_elsewhere", "balancing", "lease_error"}

// Metrics holds the operational metrics of the daemon: per source, per batch,
// per scoring pass and per reload. Registries are passed in, never global.
type Metrics struct {
	postsScanned       *prometheus.CounterVec
	postsNew           *prometheus.CounterVec
	postsNearDuplicate *prometheus.CounterVec
	rateLimitRemaining *prometheus.GaugeVec
	sourceUp           *prometheus.GaugeVec
	fetches            *prometheus.CounterVec
	fetchFailures      *prometheus.CounterVec
	fetchDuration      *prometheus.HistogramVec
	lastSuccess        *prometheus.GaugeVec
	runsSkipped        *prometheus.CounterVec
	itemsSkipped       *prometheus.CounterVec
	analysisDuration   prometheus.Histogram
	scoringLastSuccess prometheus.Gauge
	scoringLeader      prometheus.Gauge
	configMismatch     prometheus.Gauge
	reloadSuccessful   prometheus.Gauge
	reloadTimestamp    prometheus.Gauge

	mu      sync.Mutex
	sources map[string]*SourceStatus
}

// SourceStatus is what the API and status page show about one source.
type SourceStatus struct {
	Name         string    `json:"name"`
	Kind         string    `json:"kind"`
	Format       string    `json:"format"`
	Up           bool      `json:"up"`
	LastAttempt  time.Time `json:"last_attempt,omitzero"`
	LastSuccess  time.Time `json:"last_success,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	LastReason   string    `json:"last_reason,omitempty"`
	Fetches      int64     `json:"fetches"`
	Failures     int64     `json:"failures"`
	PostsScanned int64     `json:"posts_scanned"`
	PostsNew     int64     `json:"posts_new"`
	// PostsNearDuplicate are the new posts stored as copies of another post.
	PostsNearDuplicate int64     `json:"posts_near_duplicate"`
	NextRun            time.Time `json:"next_run,omitzero"`
}

// NewMetrics registers the operational metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	src := []string{"source"}
	return &Metrics{
		postsScanned: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "source", Name: "posts_scanned_total",
			Help: "Posts a source delivered, new or not: the denominator of presence."}, src),
		postsNew: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "source", Name: "posts_new_total",
			Help: "Posts a source delivered that were stored after deduplication."}, src),
		postsNearDuplicate: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "source", Name: "posts_near_duplicate_total",
			Help: "New posts stored as copies of another post (reposts, cross-posts, syndicated copies): counted once, as their original's copies."}, src),
		rateLimitRemaining: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "source", Name: "ratelimit_remaining",
			Help: "Requests left in the platform's rate-limit window, as it last reported; -1 when it reports none."}, src),
		sourceUp: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "source", Name: "up",
			Help: "1 when the source's last fetch succeeded, 0 when it failed."}, src),
		fetches: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "source", Name: "fetches_total",
			Help: "Fetch attempts per source, successful or not."}, src),
		fetchFailures: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "source", Name: "fetch_failures_total",
			Help: "Failed fetches per source by reason: timeout, connect, http_4xx, http_5xx, rate_limited, too_large, parse, read."},
			[]string{"source", "reason"}),
		fetchDuration: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "source", Name: "fetch_duration_seconds",
			Help: "Duration of one fetch of a source, including retries of paged responses.", Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 8)}, src),
		lastSuccess: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "source", Name: "last_success_timestamp_seconds",
			Help: "Unix time of the source's last successful fetch; 0 before the first."}, src),
		itemsSkipped: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "source", Name: "items_skipped_total",
			Help: "Items of a fetched page a source skipped as unreadable (a wrong-typed field, no id or time); the rest of the page was kept."}, src),
		runsSkipped: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "source", Name: "runs_skipped_total",
			Help: "Scheduled runs of a source this replica skipped, by reason: leased_elsewhere (another replica holds the source), balancing (this replica holds its share), lease_error."},
			[]string{"source", "reason"}),
		analysisDuration: f.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "analysis", Name: "duration_seconds",
			Help: "Time to analyze one batch of new posts.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
		scoringLastSuccess: f.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "scoring", Name: "last_success_timestamp_seconds",
			Help: "Unix time of the last successful scoring pass."}),
		scoringLeader: f.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "scoring", Name: "leader",
			Help: "1 when this replica holds the scoring lease (computes and stores the snapshot, prunes), 0 otherwise; always 1 on SQLite."}),
		configMismatch: f.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "replicas", Name: "config_mismatch",
			Help: "1 when a live replica sharing the database runs another configuration (config hash) than this one, 0 otherwise."}),
		reloadSuccessful: f.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "config", Name: "last_reload_successful",
			Help: "1 when the last configuration reload succeeded, 0 when it was refused."}),
		reloadTimestamp: f.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "config", Name: "last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load."}),
		sources: map[string]*SourceStatus{},
	}
}

// SourceInfo names a configured source for SetSources.
type SourceInfo struct {
	Name, Kind, Format string
}

// SetSources makes the configured sources the exported ones: new sources get
// every series at 0, removed sources lose theirs, kept sources keep counting.
func (m *Metrics) SetSources(sources []SourceInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keep := map[string]bool{}
	for _, s := range sources {
		keep[s.Name] = true
		st, ok := m.sources[s.Name]
		if !ok {
			st = &SourceStatus{Name: s.Name}
			m.sources[s.Name] = st
			m.postsScanned.WithLabelValues(s.Name)
			m.postsNew.WithLabelValues(s.Name)
			m.postsNearDuplicate.WithLabelValues(s.Name)
			m.rateLimitRemaining.WithLabelValues(s.Name).Set(-1)
			m.sourceUp.WithLabelValues(s.Name)
			m.fetches.WithLabelValues(s.Name)
			for _, r := range FailureReasons {
				m.fetchFailures.WithLabelValues(s.Name, r)
			}
			m.fetchDuration.WithLabelValues(s.Name)
			m.lastSuccess.WithLabelValues(s.Name)
			m.itemsSkipped.WithLabelValues(s.Name)
			for _, r := range SkipReasons {
				m.runsSkipped.WithLabelValues(s.Name, r)
			}
		}
		st.Kind, st.Format = s.Kind, s.Format
	}
	for name := range m.sources {
		if keep[name] {
			continue
		}
		delete(m.sources, name)
		l := prometheus.Labels{"source": name}
		m.postsScanned.DeletePartialMatch(l)
		m.postsNew.DeletePartialMatch(l)
		m.postsNearDuplicate.DeletePartialMatch(l)
		m.rateLimitRemaining.DeletePartialMatch(l)
		m.sourceUp.DeletePartialMatch(l)
		m.fetches.DeletePartialMatch(l)
		m.fetchFailures.DeletePartialMatch(l)
		m.fetchDuration.DeletePartialMatch(l)
		m.lastSuccess.DeletePartialMatch(l)
		m.runsSkipped.DeletePartialMatch(l)
		m.itemsSkipped.DeletePartialMatch(l)
	}
}

// Fetch is the outcome of one fetch of a source, as the pipeline reports it.
type Fetch struct {
	Source             string
	Start              time.Time
	Duration           time.Duration
	Err                error  // nil on success (a 304 is a success)
	Reason             string // one of FailureReasons when Err != nil
	Scanned            int    // posts the source delivered
	New                int    // posts stored after deduplication
	NearDuplicates     int    // of New, the posts stored as copies of another
	Skipped            int    // unreadable items the source passed over
	RateLimitRemaining float64
	NextRun            time.Time
}

// ObserveFetch records one fetch in the metrics and the source's status.
func (m *Metrics) ObserveFetch(f Fetch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.sources[f.Source]
	if !ok {
		return // removed by a reload while it ran: its series are gone and stay gone
	}
	m.fetches.WithLabelValues(f.Source).Inc()
	m.fetchDuration.WithLabelValues(f.Source).Observe(f.Duration.Seconds())
	m.postsScanned.WithLabelValues(f.Source).Add(float64(f.Scanned))
	m.postsNew.WithLabelValues(f.Source).Add(float64(f.New))
	m.postsNearDuplicate.WithLabelValues(f.Source).Add(float64(f.NearDuplicates))
	m.itemsSkipped.WithLabelValues(f.Source).Add(float64(f.Skipped))
	st.Fetches++
	st.PostsScanned += int64(f.Scanned)
	st.PostsNew += int64(f.New)
	st.PostsNearDuplicate += int64(f.NearDuplicates)
	st.LastAttempt = f.Start
	if !f.NextRun.IsZero() {
		st.NextRun = f.NextRun
	}
	if f.RateLimitRemaining >= 0 {
		m.rateLimitRemaining.WithLabelValues(f.Source).Set(f.RateLimitRemaining)
	}
	if f.Err != nil {
		m.fetchFailures.WithLabelValues(f.Source, f.Reason).Inc()
		m.sourceUp.WithLabelValues(f.Source).Set(0)
		st.Up, st.Failures, st.LastError, st.LastReason = false, st.Failures+1, f.Err.Error(), f.Reason
		return
	}
	end := f.Start.Add(f.Duration)
	m.sourceUp.WithLabelValues(f.Source).Set(1)
	m.lastSuccess.WithLabelValues(f.Source).Set(float64(end.UnixNano()) / 1e9)
	st.Up, st.LastSuccess, st.LastError, st.LastReason = true, end, "", ""
}

// SetNextRun records when a source will be fetched next.
func (m *Metrics) SetNextRun(source string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st, ok := m.sources[source]; ok {
		st.NextRun = t
	}
}

// Sources returns a copy of every source's status, sorted by name.
func (m *Metrics) Sources() []SourceStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SourceStatus, 0, len(m.sources))
	for _, st := range m.sources {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ObserveAnalysis records the time one batch took to analyze.
func (m *Metrics) ObserveAnalysis(d time.Duration) { m.analysisDuration.Observe(d.Seconds()) }

// ScoringSucceeded records a finished scoring pass.
func (m *Metrics) ScoringSucceeded(t time.Time) {
	m.scoringLastSuccess.Set(float64(t.UnixNano()) / 1e9)
}

// RunSkipped counts a scheduled run of source this replica skipped; reason is
// one of SkipReasons.
func (m *Metrics) RunSkipped(source, reason string) {
	m.runsSkipped.WithLabelValues(source, reason).Inc()
}

// SetScoringLeader records whether this replica leads scoring.
func (m *Metrics) SetScoringLeader(leader bool) { setBool(m.scoringLeader, leader) }

// SetConfigMismatch records whether a live replica runs another configuration.
func (m *Metrics) SetConfigMismatch(differ bool) { setBool(m.configMismatch, differ) }

// setBool sets a 0/1 gauge.
func setBool(g prometheus.Gauge, b bool) {
	if b {
		g.Set(1)
	} else {
		g.Set(0)
	}
}

// ConfigLoaded records a configuration load or reload attempt.
func (m *Metrics) ConfigLoaded(ok bool, t time.Time) {
	if !ok {
		m.reloadSuccessful.Set(0)
		return
	}
	m.reloadSuccessful.Set(1)
	m.reloadTimestamp.Set(float64(t.UnixNano()) / 1e9)
}
