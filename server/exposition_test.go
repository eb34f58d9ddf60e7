package server

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/affinityd/affinityd/affinity"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs /metrics from h with the given request headers and returns
// the response and its body, decoded if it came gzipped.
func scrape(t *testing.T, h http.Handler, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	body := rec.Body.Bytes()
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return resp, body
}

// parseText parses a text exposition, failing on anything a Prometheus
// server would reject (a family twice, a malformed line).
func parseText(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, body)
	}
	return mfs
}

// textOf renders families back to text, one string per family, for comparison.
func textOf(t *testing.T, mfs map[string]*dto.MetricFamily) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, mf := range mfs {
		var b bytes.Buffer
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
		out[name] = b.String()
	}
	return out
}

func liveRegistry() *prometheus.Registry {
	live := prometheus.NewRegistry()
	m := NewMetrics(live)
	m.SetScoringLeader(true)
	return live
}

// The cached exposition says exactly what promhttp over the daemon's metrics
// and the snapshot collector says, gzipped or not; a new snapshot shows at
// the next scrape, and before the first one only the daemon's metrics show.
func TestMetricsHandlerMatchesPromhttp(t *testing.T) {
	var current atomic.Pointer[affinity.Snapshot]
	snaps := NewSnapshotCollector(current.Load, "7d", "1m")
	live := liveRegistry()
	h := newMetricsHandler(live, snaps, nil)

	both := prometheus.NewRegistry()
	both.MustRegister(snaps)
	reference := promhttp.HandlerFor(prometheus.Gatherers{live, both}, promhttp.HandlerOpts{})

	check := func(name string) {
		t.Helper()
		_, want := scrape(t, reference, nil)
		for _, header := range []map[string]string{nil, {"Accept-Encoding": "gzip"}, {"Accept-Encoding": "gzip;q=0, identity"}} {
			resp, got := scrape(t, h, header)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %v: status %d: %s", name, header, resp.StatusCode, got)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
				t.Errorf("%s %v: Content-Type %q", name, header, ct)
			}
			if gz := resp.Header.Get("Content-Encoding") == "gzip"; gz != (header["Accept-Encoding"] == "gzip") {
				t.Errorf("%s %v: Content-Encoding %q", name, header, resp.Header.Get("Content-Encoding"))
			}
			g, w := textOf(t, parseText(t, got)), textOf(t, parseText(t, want))
			for fam, text := range w {
				if g[fam] != text {
					t.Errorf("%s %v: family %s\n got: %s\nwant: %s", name, header, fam, g[fam], text)
				}
			}
			for fam := range g {
				if _, ok := w[fam]; !ok {
					t.Errorf("%s %v: family %s not in promhttp's exposition", name, header, fam)
				}
			}
		}
	}

	check("before the first pass")
	_, body := scrape(t, h, nil)
	if strings.Contains(string(body), "affinity_topic_") {
		t.Errorf("topic series before the first pass:\n%s", body)
	}

	s := testSnapshot()
	current.Store(s)
	check("first snapshot")
	_, body = scrape(t, h, nil)
	if !strings.Contains(string(body), `affinity_topic_score{topic="customer-service"} 0.61`) {
		t.Fatalf("score missing:\n%s", body)
	}

	next := testSnapshot()
	next.Topics[0].Score = 0.72
	current.Store(next)
	check("next snapshot")
	_, body = scrape(t, h, map[string]string{"Accept-Encoding": "gzip"})
	if !strings.Contains(string(body), `affinity_topic_score{topic="customer-service"} 0.72`) {
		t.Errorf("a new snapshot's score does not show:\n%s", body)
	}
}

// A scraper asking for protobuf gets it, with the scores, through promhttp.
func TestMetricsHandlerProtobuf(t *testing.T) {
	s := testSnapshot()
	snaps := NewSnapshotCollector(func() *affinity.Snapshot { return s }, "7d", "1m")
	h := newMetricsHandler(liveRegistry(), snaps, nil)
	resp, body := scrape(t, h, map[string]string{"Accept": string(expfmt.NewFormat(expfmt.TypeProtoDelim))})
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "application/vnd.google.protobuf") {
		t.Fatalf("Content-Type %q", ct)
	}
	dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.NewFormat(expfmt.TypeProtoDelim))
	names := map[string]bool{}
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		names[mf.GetName()] = true
	}
	for _, want := range []string{"affinity_topic_score", "affinity_scoring_leader"} {
		if !names[want] {
			t.Errorf("%s missing from the protobuf exposition: %v", want, names)
		}
	}
}

// A daemon metric that cannot be gathered fails the scrape, as promhttp does,
// rather than serving half an exposition.
func TestMetricsHandlerGatherError(t *testing.T) {
	snaps := NewSnapshotCollector(func() *affinity.Snapshot { return testSnapshot() }, "7d", "1m")
	live := prometheus.NewRegistry()
	live.MustRegister(brokenCollector{})
	resp, body := scrape(t, newMetricsHandler(live, snaps, nil), nil)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "broken") {
		t.Errorf("status %d, body %q: want 500 naming the error", resp.StatusCode, body)
	}
}

type brokenCollector struct{}

var brokenDesc = prometheus.NewDesc("affinity_broken", "A collector that fails.", nil, nil)

func (brokenCollector) Describe(ch chan<- *prometheus.Desc) { ch <- brokenDesc }
func (brokenCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(brokenDesc, fmt.Errorf("broken on purpose"))
}

func TestAcceptsGzip(t *testing.T) {
	for _, c := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"identity, GZIP", true},
		{"gzip;q=1.0, identity;q=0.5, *;q=0", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"deflate, br", false},
		{"x-gzip", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", c.header)
		if got := acceptsGzip(req); got != c.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", c.header, got, c.want)
		}
	}
}

// BenchmarkScrape compares a scrape of 1,000 topics × 50 brands through the
// cached exposition (the daemon's handler) with promhttp building every
// series on every scrape, as the daemon did before, and prices the cache's
// rendering, once per snapshot. Run with -benchmem: B/op is the garbage a
// scrape leaves, which drove the daemon's peak RSS.
//
//	go test -run '^$' -bench Scrape -benchmem ./server/
func BenchmarkScrape(b *testing.B) {
	s := &affinity.Snapshot{}
	for i := range 50 {
		s.Brands = append(s.Brands, affinity.Brand{Name: fmt.Sprintf("brand-%02d", i), Kind: affinity.BrandDirect})
	}
	for i := range 1000 {
		ts := affinity.TopicScore{Topic: fmt.Sprintf("topic-%04d", i), Relationship: "support", Score: float64(i) / 1000,
			ShareOfVoice: map[string]float64{}, BrandSentiment: map[string]float64{}}
		for j, br := range s.Brands {
			ts.ShareOfVoice[br.Name] = float64(j) / 50
			ts.BrandSentiment[br.Name] = float64(j) / 100
		}
		s.Topics = append(s.Topics, ts)
	}
	snaps := NewSnapshotCollector(func() *affinity.Snapshot { return s }, "7d", "1m")
	live := liveRegistry()
	both := prometheus.NewRegistry()
	both.MustRegister(snaps)
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"cached", newMetricsHandler(live, snaps, nil)},
		{"promhttp", promhttp.HandlerFor(prometheus.Gatherers{live, both}, promhttp.HandlerOpts{})},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			c.h.ServeHTTP(httptest.NewRecorder(), req) // the cache's one rendering, outside the timing
			b.ResetTimer()
			for b.Loop() {
				c.h.ServeHTTP(discardResponse{header: http.Header{}}, req)
			}
			if m, ok := c.h.(*metricsHandler); ok {
				b.ReportMetric(float64(len(m.gzipped))/(1<<20), "cached-MB")
			}
		})
	}
	// What the cache costs once per scoring pass, at the first scrape after it.
	b.Run("render", func(b *testing.B) {
		h := newMetricsHandler(live, snaps, nil)
		for b.Loop() {
			h.from = nil
			if _, err := h.snapshotText(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// discardResponse is a ResponseWriter that keeps nothing, so a benchmark
// measures the handler, not a recorder's buffer.
type discardResponse struct{ header http.Header }

func (d discardResponse) Header() http.Header         { return d.header }
func (d discardResponse) Write(p []byte) (int, error) { return len(p), nil }
func (d discardResponse) WriteHeader(int)             {}
