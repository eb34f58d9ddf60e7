package main

import (
	"context"
	"log/slog"
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

// batchClearingValidators forgets a source's ETag and Last-Modified, so its
// next fetch downloads the whole feed again.
func batchClearingValidators(source string) affinity.Batch {
	return affinity.Batch{Source: source, State: &affinity.SourceState{Source: source}}
}
