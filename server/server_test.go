package server

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testSnapshot() *affinity.Snapshot {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	return &affinity.Snapshot{
		Computed: now,
		Window:   affinity.Window{From: now.Add(-7 * 24 * time.Hour), To: now},
		Baseline: affinity.Window{From: now.Add(-35 * 24 * time.Hour), To: now.Add(-7 * 24 * time.Hour)},
		Brands:   []affinity.Brand{{Name: "Acme", Kind: affinity.BrandOwn}, {Name: "Globex", Kind: affinity.BrandDirect}},
		Topics: []affinity.TopicScore{
			{
				Topic: "customer-service", Relationship: "support", RelationshipType: "personal-assistance",
				Priority: "high", Segments: []string{"retail", "smb"}, QueryHash: "0123456789ab",
				Mentions: 10, Authors: 8, Engagement: 12.5, Momentum: 2, Sentiment: 0.4, Score: 0.61,
				FormatMentions: map[affinity.Format]int64{affinity.FormatNetwork: 7, affinity.FormatAudience: 3},
				FormatsPresent: 2, ShareOfVoice: map[string]float64{"Acme": 0.25, "Globex": 0.75}, Leader: "Globex",
				BrandSentiment: map[string]float64{"Acme": -0.5, "Globex": 0.25},
			},
			{
				Topic: "quiet", Relationship: "support", RelationshipType: "personal-assistance", Priority: "low",
				Segments: []string{"retail", "smb"}, QueryHash: "ba9876543210",
				FormatMentions: map[affinity.Format]int64{}, ShareOfVoice: map[string]float64{"Acme": 0, "Globex": 0},
				BrandSentiment: map[string]float64{"Acme": 0, "Globex": 0},
			},
		},
		MentionTotals: map[string]map[affinity.Format]int64{"customer-service": {affinity.FormatNetwork: 40, affinity.FormatAudience: 3}},
		// The store keeps totals of a brand and a topic removed from the config;
		// they must not be exported.
		BrandMentionTotals: map[string]map[string]int64{
			"customer-service": {"Acme": 12, "Globex": 30, "Initech": 7},
			"retired-topic":    {"Acme": 5},
		},
	}
}

func TestSnapshotCollectorGolden(t *testing.T) {
	c := NewSnapshotCollector(func() *affinity.Snapshot { return testSnapshot() }, "7d", "1m")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	got := gatherText(t, reg)
	golden := "testdata/snapshot.prom"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(string(want))); err != nil {
		t.Errorf("exposition differs from %s (run with -update after checking): %v", golden, err)
	}
}

func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	srv := httptest.NewServer(Handler(Options{Gatherer: reg, Snapshot: func() *affinity.Snapshot { return nil }, Metrics: NewMetrics(prometheus.NewRegistry())}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// The per-brand series follow the config, not the store: a brand or topic the
// store still counts but the config dropped is not exported, and a configured
// pair the store never saw is a counter at 0.
func TestSnapshotCollectorBrandSeries(t *testing.T) {
	c := NewSnapshotCollector(func() *affinity.Snapshot { return testSnapshot() }, "7d", "1m")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ topic, brand, kind string }
	got := map[string]map[key]float64{}
	types := map[string]string{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "affinity_topic_brand_") {
			continue
		}
		types[mf.GetName()] = mf.GetType().String()
		got[mf.GetName()] = map[key]float64{}
		for _, m := range mf.GetMetric() {
			var k key
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "topic":
					k.topic = l.GetValue()
				case "brand":
					k.brand = l.GetValue()
				case "brand_kind":
					k.kind = l.GetValue()
				default:
					t.Errorf("%s: unexpected label %s", mf.GetName(), l.GetName())
				}
			}
			got[mf.GetName()][k] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	want := map[string]map[key]float64{
		"affinity_topic_brand_mentions_total": {
			{"customer-service", "Acme", "own"}: 12, {"customer-service", "Globex", "direct"}: 30,
			{"quiet", "Acme", "own"}: 0, {"quiet", "Globex", "direct"}: 0,
		},
		"affinity_topic_brand_sentiment": {
			{"customer-service", "Acme", ""}: -0.5, {"customer-service", "Globex", ""}: 0.25,
			{"quiet", "Acme", ""}: 0, {"quiet", "Globex", ""}: 0,
		},
	}
	for name, series := range want {
		if len(got[name]) != len(series) {
			t.Errorf("%s: %d series %v, want %d %v", name, len(got[name]), got[name], len(series), series)
		}
		for k, v := range series {
			if g, ok := got[name][k]; !ok || g != v {
				t.Errorf("%s%+v = %v (present %v), want %v", name, k, g, ok, v)
			}
		}
	}
	if types["affinity_topic_brand_mentions_total"] != "COUNTER" || types["affinity_topic_brand_sentiment"] != "GAUGE" {
		t.Errorf("types = %v, want the total a COUNTER and the sentiment a GAUGE", types)
	}
}

func TestSnapshotCollectorEmptyBeforeFirstPass(t *testing.T) {
	c := NewSnapshotCollector(func() *affinity.Snapshot { return nil }, "7d", "1m")
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("collected %d metrics before any snapshot, want 0", n)
	}
}

func TestMetricsSourcesLifecycle(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	m.SetSources([]SourceInfo{{Name: "a", Kind: "feed", Format: "audience"}, {Name: "b", Kind: "feed", Format: "network"}})

	// Every reason is exported at 0 from the start.
	if n := testutil.CollectAndCount(m.fetchFailures); n != 2*len(FailureReasons) {
		t.Errorf("failure series = %d, want %d", n, 2*len(FailureReasons))
	}
	m.ObserveFetch(Fetch{Source: "a", Start: time.Unix(1000, 0), Duration: time.Second, Scanned: 5, New: 3, RateLimitRemaining: 42})
	m.ObserveFetch(Fetch{Source: "b", Start: time.Unix(1000, 0), Duration: time.Second, Err: errors.New("boom"), Reason: "http_5xx", RateLimitRemaining: -1})
	if got := testutil.ToFloat64(m.postsNew.WithLabelValues("a")); got != 3 {
		t.Errorf("posts_new{a} = %v", got)
	}
	if got := testutil.ToFloat64(m.fetchFailures.WithLabelValues("b", "http_5xx")); got != 1 {
		t.Errorf("failures{b,http_5xx} = %v", got)
	}
	if got := testutil.ToFloat64(m.sourceUp.WithLabelValues("b")); got != 0 {
		t.Errorf("up{b} = %v", got)
	}
	if got := testutil.ToFloat64(m.rateLimitRemaining.WithLabelValues("a")); got != 42 {
		t.Errorf("ratelimit{a} = %v", got)
	}
	if got := testutil.ToFloat64(m.lastSuccess.WithLabelValues("a")); got != 1001 {
		t.Errorf("last_success{a} = %v, want 1001", got)
	}
	st := m.Sources()
	if len(st) != 2 || !st[0].Up || st[1].Up || st[1].LastError != "boom" || st[0].PostsNew != 3 {
		t.Errorf("status = %+v", st)
	}

	// A reload without b removes all of b's series; a keeps its counts.
	m.SetSources([]SourceInfo{{Name: "a", Kind: "feed", Format: "audience"}})
	if n := testutil.CollectAndCount(m.fetchFailures); n != len(FailureReasons) {
		t.Errorf("after removing b: failure series = %d, want %d", n, len(FailureReasons))
	}
	if got := testutil.ToFloat64(m.postsNew.WithLabelValues("a")); got != 3 {
		t.Errorf("after reload: posts_new{a} = %v, want 3", got)
	}
	// A late fetch of the removed source must not bring its series back.
	m.ObserveFetch(Fetch{Source: "b", Start: time.Unix(1000, 0), Scanned: 1})
	if n := testutil.CollectAndCount(m.postsScanned); n != 1 {
		t.Errorf("posts_scanned series = %d, want 1", n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestAPI(t *testing.T) {
	snap := testSnapshot()
	evidence := func(_ context.Context, topic string, limit int) ([]affinity.Post, error) {
		return []affinity.Post{{Source: "feed", ID: "1", URL: "https://example.org/1", Author: "ann", Title: "<script>alert(1)</script>", Text: "On hold for an hour.",
			Published: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), Format: affinity.FormatAudience}}, nil
	}
	m := NewMetrics(prometheus.NewRegistry())
	m.SetSources([]SourceInfo{{Name: "feed", Kind: "feed", Format: "audience"}})
	ready := errors.New("store down")
	h := Handler(Options{Gatherer: prometheus.NewRegistry(), Snapshot: func() *affinity.Snapshot { return snap },
		Metrics: m, Evidence: evidence, Ready: func(context.Context) error { return ready }})

	for _, c := range []struct {
		method, path string
		code         int
		contains     []string
	}{
		{"GET", "/-/healthy", 200, []string{"Healthy"}},
		{"GET", "/-/ready", 503, []string{"store down"}},
		{"POST", "/-/reload", 501, nil},
		{"GET", "/api/v1/topics", 200, []string{`"topic": "customer-service"`, `"Globex": 0.75`, `"network": 7`, `"brand_sentiment"`, `"from": "`, `"to": "`}},
		{"GET", "/api/v1/topics/customer-service", 200, []string{`"evidence"`, `"url": "https://example.org/1"`, `"mentions_total"`}},
		{"GET", "/api/v1/topics/nope", 404, []string{"no such topic"}},
		{"GET", "/api/v1/sources", 200, []string{`"name": "feed"`}},
		{"GET", "/", 200, []string{"customer-service", "Globex (75%)", "feed"}},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
			if rec.Code != c.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.code, rec.Body)
			}
			for _, s := range c.contains {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("body lacks %q:\n%s", s, rec.Body)
				}
			}
		})
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/topics/customer-service", nil))
	var tj topicJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &tj); err != nil {
		t.Fatal(err)
	}
	if len(tj.Evidence) != 1 || tj.Evidence[0].Title != "<script>alert(1)</script>" || tj.Evidence[0].Text != "On hold for an hour." {
		t.Errorf("evidence = %+v (JSON carries post text verbatim; HTML surfaces must escape it)", tj.Evidence)
	}
}
