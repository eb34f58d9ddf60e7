package main

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The feed is a real blog's RSS (25 posts). Reading its titles, a person
// counts 2 posts about Proxmox ("Fixing the /usr/lib/ssl/certs debacle with
// Alpine Linux on Proxmox", "Video acceleration in Jellyfin inside a Proxmox
// container") and 3 "Paper notes" (RetSpill, CryptOpt, Breaking Bad).
const e2eFeed = "../../../shared/fixtures/feeds/wellformed/miniflux-realworld/large_rss.xml"

const e2eConfig = `
brand:
  name: Alpine Linux
competitors:
  - name: Jellyfin
    kind: community
relationships:
  - name: readers
    type: communities
    priority: high
    segments: [sysadmins]
    topics:
      - name: proxmox
        terms: ["Proxmox"]
      - name: paper-notes
        terms: ["paper notes"]
      - name: selinux
        terms: ["SELinux"]
sources:
  - name: blog
    kind: feed
    url: URL
    interval: 1h
    format: audience
scoring:
  window: 365d
  baseline: 28d
`

// feedServer serves the fixture feed with an ETag and counts full (200) responses.
func feedServer(t *testing.T, body []byte) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var full atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &full
}

// writeConfig writes cfg as affinityd.yml into a new temp dir and returns
// its path and the flags of a daemon storing a.db beside it.
func writeConfig(t testing.TB, cfg string) (string, globalFlags) {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "affinityd.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgFile, globalFlags{configFile: cfgFile, storagePath: filepath.Join(dir, "a.db")}
}

// loadTestConfig is writeConfig followed by loadConfig.
func loadTestConfig(t testing.TB, cfg string) (globalFlags, loaded) {
	t.Helper()
	_, g := writeConfig(t, cfg)
	l, err := loadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	return g, l
}

// startDaemon builds the daemon in-process exactly as `affinityd run` does,
// with the clock set to just after the feed's newest post.
func startDaemon(t *testing.T, cfgFile, dbFile string) (*daemon, http.Handler) {
	t.Helper()
	g := globalFlags{configFile: cfgFile, storagePath: dbFile}
	l, err := loadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	d, err := newDaemon(context.Background(), g, l, logger)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	gen, err := d.build(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.activate(context.Background(), gen); err != nil {
		t.Fatal(err)
	}
	return d, d.handler(nil)
}

// cycle runs every source once and rescores, as one scheduler tick does.
func cycle(t *testing.T, d *daemon) {
	t.Helper()
	d.fetchAll(context.Background(), func(name string, _ batchStats, err error) {
		if err != nil {
			t.Fatalf("source %s: %v", name, err)
		}
	})
	if err := d.score(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the sample of family name whose labels include want; it fails when absent.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s%v missing", name, want)
	return 0
}

func TestEndToEndFeedToMetrics(t *testing.T) {
	body, err := os.ReadFile(e2eFeed)
	if err != nil {
		t.Fatal(err)
	}
	srv, full := feedServer(t, body)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "affinityd.yml")
	if err := os.WriteFile(cfgFile, []byte(strings.Replace(e2eConfig, "URL", srv.URL+"/feed.xml", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	dbFile := filepath.Join(dir, "affinityd.db")

	want := map[string]float64{"proxmox": 2, "paper-notes": 3, "selinux": 0}
	check := func(fams map[string]*dto.MetricFamily, when string) {
		t.Helper()
		for topic, n := range want {
			if got := value(t, fams, "affinity_topic_mentions_total", map[string]string{"topic": topic, "format": "audience"}); got != n {
				t.Errorf("%s: affinity_topic_mentions_total{topic=%q,format=audience} = %v, want %v", when, topic, got, n)
			}
			if got := value(t, fams, "affinity_topic_mentions", map[string]string{"topic": topic}); got != n {
				t.Errorf("%s: affinity_topic_mentions{topic=%q} = %v, want %v", when, topic, got, n)
			}
			if got := value(t, fams, "affinity_topic_format_mentions", map[string]string{"topic": topic, "format": "audience"}); got != n {
				t.Errorf("%s: affinity_topic_format_mentions{topic=%q,format=audience} = %v, want %v", when, topic, got, n)
			}
		}
		// Of the two Proxmox posts, one names Alpine Linux (ours), the other
		// Jellyfin (a competitor); no other topic's post names a brand. The
		// counters must not double on a re-fetch after a restart.
		for _, c := range []struct {
			topic, brand, kind string
			n                  float64
		}{
			{"proxmox", "Alpine Linux", "own", 1}, {"proxmox", "Jellyfin", "community", 1},
			{"paper-notes", "Alpine Linux", "own", 0}, {"paper-notes", "Jellyfin", "community", 0},
			{"selinux", "Alpine Linux", "own", 0}, {"selinux", "Jellyfin", "community", 0},
		} {
			labels := map[string]string{"topic": c.topic, "brand": c.brand, "brand_kind": c.kind}
			if got := value(t, fams, "affinity_topic_brand_mentions_total", labels); got != c.n {
				t.Errorf("%s: affinity_topic_brand_mentions_total%v = %v, want %v", when, labels, got, c.n)
			}
		}
		if n := len(fams["affinity_topic_brand_mentions_total"].GetMetric()); n != 6 {
			t.Errorf("%s: %d affinity_topic_brand_mentions_total series, want 3 topics × 2 brands", when, n)
		}
		checkBrandSentiment(t, fams, when)
	}

	d, h := startDaemon(t, cfgFile, dbFile)
	fams := scrape(t, h)
	check0 := value(t, fams, "affinity_topic_mentions_total", map[string]string{"topic": "proxmox", "format": "audience"})
	if check0 != 0 {
		t.Fatalf("before any fetch: mentions_total = %v, want 0 (exported from the start)", check0)
	}
	cycle(t, d)
	fams = scrape(t, h)
	check(fams, "first fetch")
	// `affinityd check` tells users this many topic series; it must be what /metrics has.
	topicSeries := 0
	for name, f := range fams {
		if strings.HasPrefix(name, "affinity_topic_") {
			topicSeries += len(f.GetMetric())
		}
	}
	if want := 3 * seriesPerTopic(2); topicSeries != want {
		t.Errorf("affinity_topic_* series = %d, want the series budget 3 topics × %d = %d", topicSeries, seriesPerTopic(2), want)
	}
	// The same for the one source: every series carrying source="blog"
	// (histogram buckets, _sum and _count included).
	sourceSeries := 0
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "source" && lp.GetValue() == "blog" {
					sourceSeries++
				}
			}
		}
	}
	if f := fams["affinity_source_fetch_duration_seconds"]; f != nil && len(f.GetMetric()) == 1 {
		// The gathered histogram is one metric; the exposition has a series per
		// finite bucket, +Inf, _sum and _count.
		for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
			if !math.IsInf(b.GetUpperBound(), 1) {
				sourceSeries++
			}
		}
		sourceSeries += 3 - 1 // +Inf, _sum, _count, less the metric counted above
	}
	if sourceSeries != seriesPerSource {
		t.Errorf("series of source blog = %d, want the series budget per source %d", sourceSeries, seriesPerSource)
	}
	if got := value(t, fams, "affinity_source_posts_scanned_total", map[string]string{"source": "blog"}); got != 25 {
		t.Errorf("posts_scanned_total = %v, want 25", got)
	}
	if got := value(t, fams, "affinity_source_posts_new_total", map[string]string{"source": "blog"}); got != 25 {
		t.Errorf("posts_new_total = %v, want 25", got)
	}
	if got := value(t, fams, "affinity_source_up", map[string]string{"source": "blog"}); got != 1 {
		t.Errorf("source_up = %v, want 1", got)
	}
	score := value(t, fams, "affinity_topic_score", map[string]string{"topic": "paper-notes"})
	if score <= 0 || score > 1 {
		t.Errorf("paper-notes score = %v, want in (0, 1]", score)
	}

	// The second tick gets 304 Not Modified: nothing changes.
	cycle(t, d)
	check(scrape(t, h), "not modified")
	if err := d.close(); err != nil {
		t.Fatal(err)
	}

	// Restart on the same database, and make the server forget its ETag
	// handling by asking without validators: a full re-fetch of the same feed.
	d2, h2 := startDaemon(t, cfgFile, dbFile)
	defer d2.close()
	if _, err := d2.store.Commit(context.Background(), batchClearingValidators("blog")); err != nil {
		t.Fatal(err)
	}
	before := full.Load()
	cycle(t, d2)
	if full.Load() != before+1 {
		t.Fatalf("expected a full re-fetch after restart, got %d full responses", full.Load()-before)
	}
	fams = scrape(t, h2)
	check(fams, "restart and re-fetch")
	if got := value(t, fams, "affinity_source_posts_scanned_total", map[string]string{"source": "blog"}); got != 25 {
		t.Errorf("after restart: posts_scanned_total = %v, want 25", got)
	}
	if got := value(t, fams, "affinity_source_posts_new_total", map[string]string{"source": "blog"}); got != 0 {
		t.Errorf("after restart: posts_new_total = %v, want 0 (all seen before)", got)
	}
	if score2 := value(t, fams, "affinity_topic_score", map[string]string{"topic": "paper-notes"}); score2 != score {
		t.Errorf("after restart: score %v, want unchanged %v", score2, score)
	}
}

// checkBrandSentiment checks affinity_topic_brand_sentiment against the
// topic's own sentiment: each Proxmox post names exactly one brand, so each
// brand's sentiment is its one post's sign, and the topic's is their mean;
// brands absent from a topic read 0 whatever the topic's sentiment.
func checkBrandSentiment(t *testing.T, fams map[string]*dto.MetricFamily, when string) {
	t.Helper()
	bs := func(topic, brand string) float64 {
		return value(t, fams, "affinity_topic_brand_sentiment", map[string]string{"topic": topic, "brand": brand})
	}
	alpine, jellyfin := bs("proxmox", "Alpine Linux"), bs("proxmox", "Jellyfin")
	for _, v := range []float64{alpine, jellyfin} {
		if v != -1 && v != 0 && v != 1 {
			t.Errorf("%s: brand sentiment of a brand with one post = %v, want -1, 0 or 1", when, v)
		}
	}
	if got := value(t, fams, "affinity_topic_sentiment", map[string]string{"topic": "proxmox"}); got != (alpine+jellyfin)/2 {
		t.Errorf("%s: proxmox sentiment %v, want the mean of its two brands' posts (%v + %v) / 2", when, got, alpine, jellyfin)
	}
	for _, brand := range []string{"Alpine Linux", "Jellyfin"} {
		if got := bs("paper-notes", brand); got != 0 {
			t.Errorf("%s: paper-notes brand sentiment of %s = %v, want 0 (no post names it)", when, brand, got)
		}
	}
}

// batchClearingValidators forgets a source's ETag and Last-Modified, so its
// next fetch downloads the whole feed again.
func batchClearingValidators(source string) affinity.Batch {
	return affinity.Batch{Source: source, State: &affinity.SourceState{Source: source}}
}
