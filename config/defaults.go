package config

import (
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// Defaults, applied by Parse to every key the file leaves out. A key written
// with a zero value (interval: 0s) is kept and rejected by validation rather
// than silently replaced.
var (
	// DefaultPriority of relationships and topics.
	DefaultPriority = "medium"
	// DefaultFeedInterval is how often a feed source is fetched.
	DefaultFeedInterval = model.Duration(15 * time.Minute)
	// DefaultReplayInterval is how often a replay source is re-read.
	DefaultReplayInterval = model.Duration(time.Hour)

	// DefaultIntervals is how often a source of each kind is fetched. The
	// API kinds are polled no faster than their rate limits allow for a few
	// queries per topic.
	DefaultIntervals = map[string]model.Duration{
		"feed":       DefaultFeedInterval,
		"replay":     DefaultReplayInterval,
		"mastodon":   model.Duration(5 * time.Minute),
		"hackernews": model.Duration(10 * time.Minute),
		"reddit":     model.Duration(10 * time.Minute),
		"bluesky":    model.Duration(5 * time.Minute),
		"lemmy":      DefaultFeedInterval,
	}
	// DefaultFormats is the usage format of each API kind; a source may
	// override it. Feeds declare theirs (or take their preset's); replay
	// files carry their own.
	DefaultFormats = map[string]string{
		"mastodon":   "network",
		"bluesky":    "network",
		"hackernews": "community",
		"reddit":     "community",
		"lemmy":      "community",
	}
	// DefaultURLs is the API base of the kinds that have one well-known
	// server (mastodon and lemmy name theirs under instances).
	DefaultURLs = map[string]string{
		"hackernews": "https://hn.algolia.com",
		"reddit":     "https://oauth.reddit.com",
		"bluesky":    "https://bsky.social",
	}
	// DefaultJetstream is where a bluesky source without credentials
	// streams posts from.
	DefaultJetstream = "wss://jetstream2.us-east.bsky.network/subscribe"
	// DefaultLookback bounds the first fetch of a search source.
	DefaultLookback = model.Duration(7 * 24 * time.Hour)
	// MaxLookback is the longest look-back a search source accepts.
	MaxLookback = model.Duration(90 * 24 * time.Hour)
	// DefaultQueries: search sources ask for topics and brands.
	DefaultQueries = "all"

	// DefaultScoring is the scoring block when left out. A weights block in
	// the file replaces DefaultScoring.Weights whole: a weight it leaves out
	// is 0, so the weights the user sees are the weights that apply.
	// References default one by one.
	DefaultScoring = Scoring{
		Window:            model.Duration(7 * 24 * time.Hour),
		Baseline:          model.Duration(28 * 24 * time.Hour),
		Interval:          model.Duration(time.Minute),
		OccupiedThreshold: 0.5,
		Weights:           Weights{Mentions: 0.4, Authors: 0.3, Engagement: 0.2, Formats: 0.1},
		References:        References{Mentions: 50, Authors: 25, Engagement: 100},
	}

	// DefaultStore is an SQLite file in the working directory, kept 400 days
	// so a year-on-year comparison still has data.
	DefaultStore = Store{
		Driver:    "sqlite",
		Path:      "affinityd.db",
		Retention: model.Duration(400 * 24 * time.Hour),
	}

	// DefaultStoreDSNEnv is where driver postgres reads its DSN when
	// store.dsn is left out, so a container needs no config edit.
	DefaultStoreDSNEnv = "AFFINITY_STORE_DSN"

	// DefaultNearDuplicates collapses copies at a similarity of 0.5 within a
	// week: the threshold chosen on analysis/testdata/neardup.
	DefaultNearDuplicates = NearDuplicates{Enabled: true, Threshold: 0.5, Horizon: model.Duration(7 * 24 * time.Hour)}

	// DefaultCollector is the collector block when left out. UserAgent stays
	// "": the collector fills in its own, with the version.
	DefaultCollector = Collector{
		Timeout:              model.Duration(30 * time.Second),
		ConnectTimeout:       model.Duration(10 * time.Second),
		MaxBodySize:          10 * MiB,
		MaxConcurrentFetches: 4,
	}
)

// applyDefaults fills every field whose key isSet reports absent.
func applyDefaults(c *Config, isSet func(path string) bool) {
	def := func(path string, apply func()) {
		if !isSet(path) {
			apply()
		}
	}

	// The own brand is always "own"; validation rejects any other kind.
	def("brand.kind", func() { c.Brand.Kind = "own" })

	for i := range c.Relationships {
		r := &c.Relationships[i]
		rp := "relationships[" + strconv.Itoa(i) + "]"
		def(rp+".priority", func() { r.Priority = DefaultPriority })
		for j := range r.Topics {
			t := &r.Topics[j]
			def(rp+".topics["+strconv.Itoa(j)+"].priority", func() { t.Priority = DefaultPriority })
		}
	}

	for i := range c.Sources {
		sourceDefaults(&c.Sources[i], "sources["+strconv.Itoa(i)+"]", def)
	}

	sc, ds := &c.Scoring, DefaultScoring
	def("scoring.window", func() { sc.Window = ds.Window })
	def("scoring.baseline", func() { sc.Baseline = ds.Baseline })
	def("scoring.interval", func() { sc.Interval = ds.Interval })
	def("scoring.occupied_threshold", func() { sc.OccupiedThreshold = ds.OccupiedThreshold })
	def("scoring.weights", func() { sc.Weights = ds.Weights })
	def("scoring.references.mentions", func() { sc.References.Mentions = ds.References.Mentions })
	def("scoring.references.authors", func() { sc.References.Authors = ds.References.Authors })
	def("scoring.references.engagement", func() { sc.References.Engagement = ds.References.Engagement })

	st := &c.Store
	def("store.driver", func() { st.Driver = DefaultStore.Driver })
	def("store.path", func() { st.Path = DefaultStore.Path })
	if st.Driver == "postgres" {
		def("store.dsn", func() { st.DSN = Secret{Env: DefaultStoreDSNEnv} })
	}
	def("store.retention", func() { st.Retention = DefaultStore.Retention })

	nd, dn := &c.Analysis.NearDuplicates, DefaultNearDuplicates
	def("analysis.near_duplicates.enabled", func() { nd.Enabled = dn.Enabled })
	def("analysis.near_duplicates.threshold", func() { nd.Threshold = dn.Threshold })
	def("analysis.near_duplicates.horizon", func() { nd.Horizon = dn.Horizon })

	co, dc := &c.Collector, DefaultCollector
	def("collector.timeout", func() { co.Timeout = dc.Timeout })
	def("collector.connect_timeout", func() { co.ConnectTimeout = dc.ConnectTimeout })
	def("collector.max_body_size", func() { co.MaxBodySize = dc.MaxBodySize })
	def("collector.max_concurrent_fetches", func() { co.MaxConcurrentFetches = dc.MaxConcurrentFetches })
}

// sourceDefaults fills a source's defaults for its kind; fields its kind
// does not use stay empty, so validation can tell they were not written.
func sourceDefaults(s *Source, field string, def func(path string, apply func())) {
	def(field+".interval", func() {
		s.Interval = DefaultFeedInterval // also for an unknown kind, which validation reports
		if d, ok := DefaultIntervals[s.Kind]; ok {
			s.Interval = d
		}
	})
	if f, ok := DefaultFormats[s.Kind]; ok {
		def(field+".format", func() { s.Format = f })
	}
	if u, ok := DefaultURLs[s.Kind]; ok {
		def(field+".url", func() { s.URL = u })
	}
	if slices.Contains(searchKinds, s.Kind) {
		def(field+".lookback", func() { s.Lookback = DefaultLookback })
		def(field+".queries", func() { s.Queries = DefaultQueries })
	}
	if s.Kind == "bluesky" && s.Identifier == "" {
		def(field+".jetstream", func() { s.Jetstream = DefaultJetstream })
	}
}
