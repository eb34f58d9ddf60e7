package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/affinityd/affinityd/collector"
	"github.com/affinityd/affinityd/server"
	"github.com/prometheus/common/model"
)

// TestFaultySourcesLeaveOthersRunning runs one healthy feed beside four broken
// servers; the healthy one must deliver its posts in the same cycle, every
// fault must show in the metrics under its reason, and a hung server must be
// cut off by the configured timeout rather than hold the cycle.
func TestFaultySourcesLeaveOthersRunning(t *testing.T) {
	body, err := os.ReadFile(e2eFeed)
	if err != nil {
		t.Fatal(err)
	}
	healthy, _ := feedServer(t, body)
	hangRelease := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/429", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	mux.HandleFunc("/503", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select { // answers nothing until the client gives up or the test ends
		case <-r.Context().Done():
		case <-hangRelease:
		}
	})
	mux.HandleFunc("/cut", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100000")
		_, _ = w.Write(body[:len(body)/2])
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("cannot hijack")
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			_ = conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	})
	broken := httptest.NewServer(mux)
	defer broken.Close()
	defer close(hangRelease)

	cfg := readersConfig + `sources:
  - {name: good, kind: feed, url: GOOD, format: audience}
  - {name: limited, kind: feed, url: BROKEN/429, format: audience}
  - {name: failing, kind: feed, url: BROKEN/503, format: audience}
  - {name: hung, kind: feed, url: BROKEN/hang, format: audience}
  - {name: cut, kind: feed, url: BROKEN/cut, format: audience}
scoring: {window: 365d, baseline: 28d}
collector: {timeout: 2s, connect_timeout: 1s}
`
	cfg = strings.NewReplacer("GOOD", healthy.URL, "BROKEN", broken.URL).Replace(cfg)
	cfgFile, g := writeConfig(t, cfg)
	d, h := startDaemon(t, cfgFile, g.storagePath)
	defer d.close()

	errs := map[string]error{}
	d.fetchAll(context.Background(), func(name string, _ batchStats, err error) { errs[name] = err })
	if err := d.score(context.Background()); err != nil {
		t.Fatal(err)
	}
	if errs["good"] != nil {
		t.Fatalf("healthy source failed: %v", errs["good"])
	}
	fams := scrape(t, h)
	if got := value(t, fams, "affinity_topic_mentions_total", map[string]string{"topic": "proxmox", "format": "audience"}); got != 2 {
		t.Errorf("healthy source's mentions = %v, want 2", got)
	}
	for _, c := range []struct{ source, reason string }{
		{"limited", "rate_limited"},
		{"failing", "http_5xx"},
		{"hung", "timeout"},
		{"cut", "read"},
	} {
		if errs[c.source] == nil {
			t.Errorf("%s: no error", c.source)
		}
		if got := value(t, fams, "affinity_source_fetch_failures_total", map[string]string{"source": c.source, "reason": c.reason}); got != 1 {
			t.Errorf("%s: fetch_failures_total{reason=%q} = %v, want 1 (err: %v)", c.source, c.reason, got, errs[c.source])
		}
		if got := value(t, fams, "affinity_source_up", map[string]string{"source": c.source}); got != 0 {
			t.Errorf("%s: up = %v, want 0", c.source, got)
		}
	}
	if got := value(t, fams, "affinity_source_up", map[string]string{"source": "good"}); got != 1 {
		t.Errorf("good: up = %v, want 1", got)
	}

	// Retry-After is kept in the source's state: the next cycle does not ask again.
	st, _, err := d.store.SourceState(context.Background(), "limited")
	if err != nil {
		t.Fatal(err)
	}
	if wait := st.NextCheck.Sub(d.now()); wait < 119*time.Second {
		t.Errorf("limited: next check in %v, want at least the server's Retry-After of 120s", wait)
	}
	d.fetchAll(context.Background(), nil)
	fams = scrape(t, h)
	if got := value(t, fams, "affinity_source_fetches_total", map[string]string{"source": "limited"}); got != 1 {
		t.Errorf("limited fetched %v times, want 1: Retry-After not respected", got)
	}
}

// The fault-injection suite: every fault of issue 7 against a real daemon
// (real scheduler, real clock, store, metrics) with a healthy feed beside the
// faulty source. Sources run every 200 ms here (the config's floor is 1 s;
// the test shortens it after loading to keep the suite quick), with a 1 s
// request timeout and a 2 MiB body cap. For each fault the test asserts:
//   - the daemon keeps serving (/-/healthy 200, /metrics parses);
//   - the healthy source keeps its schedule: at least 3 more fetches within
//     10 s of the fault showing (about 50 are due; the slack is for -race on
//     a shared machine);
//   - the fault shows in affinity_source_fetch_failures_total{reason} and
//     in a "fetch failed" log line naming source and reason;
//   - memory: TotalAlloc from start to the fault stays under the row's
//     bound, and the heap in use after a GC is back within 16 MiB of the
//     start (rows that measure run one at a time);
//   - goroutines return to the baseline once daemon and servers stop;
//   - the source recovers by itself once the server is healthy again.
const (
	faultInterval = 200 * time.Millisecond
	faultTimeout  = time.Second
	faultBodyCap  = 2 << 20
	// allocSlack covers what the daemon allocates besides the fault in the
	// measured span: start-up, the healthy source's fetches, scoring.
	allocSlack = 24 << 20
)

type fault struct {
	name string
	kind string // the faulty source's kind: feed (default), mastodon, lemmy
	// serve answers while the fault lasts; nil with refused.
	serve   http.HandlerFunc
	refused bool // nothing listens until the fault clears
	// reason is the failure reason the fault is counted under; "" when the
	// daemon copes and the fetch succeeds.
	reason string
	// retryAfter: the server asked for this pause; no request may come sooner.
	retryAfter time.Duration
	// allocBound > 0 measures TotalAlloc from start to the fault and runs
	// the row alone; 0 runs it in parallel with the other light rows.
	allocBound uint64
	// check runs once the fault has shown, with the daemon still faced with it.
	check func(t *testing.T, d *daemon)
}

func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon per fault for a few seconds")
	}
	bomb := gzipBomb(t, 1<<30+1<<20) // a little over 1 GiB inflated
	// 10,000 items take about 3 s to store here, over a minute under -race
	// (the SQLite is transpiled C): there the parser's side is left to
	// collector's TestParseFeedLimits and the daemon ingests 1,000.
	bigFeed := 10000
	if raceDetector {
		bigFeed = 1000
	}
	faults := []fault{
		// Measured one at a time: the body-size and parser faults.
		{name: "50 MB body", reason: "too_large", allocBound: 3*faultBodyCap + allocSlack,
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/rss+xml")
				chunk := bytes.Repeat([]byte("<!-- padding -->"), 4096) // 64 KiB, no Content-Length
				for sent := 0; sent < 50<<20; sent += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}},
		{name: "gzip bomb as Content-Encoding", reason: "too_large", allocBound: 3*faultBodyCap + allocSlack,
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/rss+xml")
				w.Header().Set("Content-Encoding", "gzip")
				_, _ = w.Write(bomb)
			}},
		{name: "gzip bomb as a .gz body", reason: "too_large", allocBound: 3*faultBodyCap + allocSlack,
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/gzip")
				_, _ = w.Write(bomb)
			}},
		{name: "entity expansion (billion laughs)", allocBound: allocSlack,
			serve: xmlFault(billionLaughs),
			check: func(t *testing.T, d *daemon) {
				if text := storedText(t, d, "bad"); strings.Contains(text, "lollol") {
					t.Errorf("entities were expanded: %.80q", text)
				}
			}},
		{name: "10,000-deep nesting", reason: "parse", allocBound: allocSlack,
			serve: xmlFault(`<rss version="2.0"><channel><title>deep</title><item><title>Proxmox</title>` +
				strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000) + `</item></channel></rss>`)},
		{name: "feed of 10,000 items", allocBound: uint64(bigFeed)*40<<10 + allocSlack, // 40 KiB an item, store included
			serve: conditional(manyItems(bigFeed)), // big feeds are fetched once, then 304
			check: func(t *testing.T, d *daemon) {
				if got := sourceStatus(d, "bad").PostsScanned; got != int64(bigFeed) {
					t.Errorf("posts scanned %d, want all %d", got, bigFeed)
				}
			}},

		// Light faults, in parallel.
		{name: "500", reason: "http_5xx", serve: statusFault(500, "")},
		{name: "503", reason: "http_5xx", serve: statusFault(503, "")},
		{name: "429 Retry-After seconds", reason: "rate_limited", retryAfter: 2 * time.Second, serve: statusFault(429, "2")},
		{name: "429 Retry-After HTTP-date", reason: "rate_limited", retryAfter: 2 * time.Second, serve: statusFault(429, "date+3s")},
		{name: "connection refused", reason: "connect", refused: true},
		{name: "reset mid-body", reason: "read", serve: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000")
			_, _ = w.Write([]byte(manyItems(50))[:2000])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
				_ = conn.Close()
			}
		}},
		{name: "accepts and never answers", reason: "timeout", serve: func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}},
		{name: "one byte per second", reason: "timeout", serve: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/rss+xml")
			for _, b := range []byte(manyItems(3)) {
				if _, err := w.Write([]byte{b}); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(time.Second):
				}
			}
		}},
		{name: "redirect loop", reason: "connect", serve: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
		}},
		{name: "redirect to file:", reason: "connect", serve: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "file:///etc/passwd", http.StatusMovedPermanently)
		}},
		{name: "HTML page as 200", reason: "parse", serve: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form></form></body></html>")
		}},
		{name: "invalid UTF-8", serve: xmlFault(`<rss version="2.0"><channel><title>t</title><item><guid>u1</guid>` +
			"<title>Proxmox \xff\xfe caf\xe9 \xc3\x28</title></item></channel></rss>"),
			check: func(t *testing.T, d *daemon) {
				if text := storedText(t, d, "bad"); !utf8.ValidString(text) || !strings.Contains(text, "Proxmox") {
					t.Errorf("stored text %q: want valid UTF-8 keeping the words", text)
				}
			}},
		// One malformed item costs that item, not its page (a page refused
		// whole would be asked for again and again): the good one beside it is stored.
		{name: "JSON wrong types (mastodon)", kind: "mastodon", serve: jsonFault(
			`[{"id": 109, "uri": ["not", "a", "string"], "created_at": false, "content": {"html": 1},` +
				` "replies_count": "many", "account": "nobody"},` +
				` {"id": "110", "uri": "https://m.example/s/110", "created_at": "` + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + `",` +
				` "content": "<p>Proxmox</p>", "account": {"acct": "a"}}]`),
			check: func(t *testing.T, d *daemon) { _ = storedText(t, d, "bad") }},
		// Counts beyond int64 are clamped, not a failed page.
		{name: "JSON huge numbers (lemmy)", kind: "lemmy", serve: jsonFault(
			`{"posts": [{"post": {"id": 1e999, "name": "Proxmox", "ap_id": "https://l.example/post/1",` +
				` "published": "` + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + `"},` +
				` "counts": {"score": 123456789012345678901234567890, "comments": 1e400}}]}`),
			check: func(t *testing.T, d *daemon) { _ = storedText(t, d, "bad") }},
	}

	t.Run("measured", func(t *testing.T) {
		for _, f := range faults {
			if f.allocBound > 0 {
				t.Run(f.name, func(t *testing.T) {
					base := runtime.NumGoroutine()
					runFault(t, f)
					waitGoroutines(t, base)
				})
			}
		}
	})
	base := runtime.NumGoroutine()
	t.Run("parallel", func(t *testing.T) {
		for _, f := range faults {
			if f.allocBound == 0 {
				t.Run(f.name, func(t *testing.T) {
					t.Parallel()
					runFault(t, f)
				})
			}
		}
	})
	waitGoroutines(t, base)
}

// runFault runs one fault against a daemon with a healthy feed beside it.
func runFault(t *testing.T, f fault) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = io.WriteString(w, manyItems(3))
	}))
	defer healthy.Close()
	fs := newFaultServer(t, f)
	defer fs.close()

	kind := f.kind
	if kind == "" {
		kind = "feed"
	}
	bad := map[string]string{
		"feed":     `{name: bad, kind: feed, url: "URL/feed.xml", format: audience}`,
		"mastodon": `{name: bad, kind: mastodon, instances: ["URL"], tags: [proxmox]}`,
		"lemmy":    `{name: bad, kind: lemmy, instances: ["URL"]}`,
	}[kind]
	cfg := readersConfig + `sources:
  - {name: good, kind: feed, url: "GOOD/feed.xml", format: audience}
  - ` + strings.ReplaceAll(bad, "URL", fs.url) + `
scoring: {window: 365d, baseline: 28d}
collector: {timeout: 1s, connect_timeout: 500ms, max_body_size: 2MiB}
`
	cfg = strings.ReplaceAll(cfg, "GOOD", healthy.URL)
	g, l := loadTestConfig(t, cfg)
	for i := range l.cfg.Sources {
		l.cfg.Sources[i].Interval = model.Duration(faultInterval)
	}
	logs := &syncBuffer{}
	d, err := newDaemon(context.Background(), g, l, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	stop := func() {
		if !closed {
			closed = true
			if err := d.close(); err != nil {
				t.Error(err)
			}
		}
	}
	defer stop()
	gen, err := d.build(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.activate(context.Background(), gen); err != nil {
		t.Fatal(err)
	}
	h := d.handler(nil)

	var before runtime.MemStats
	if f.allocBound > 0 {
		runtime.GC()
		runtime.ReadMemStats(&before)
	}
	if err := d.schedule(context.Background(), gen); err != nil {
		t.Fatal(err)
	}

	// The fault shows: a failure under its reason, or a success for faults
	// the daemon copes with.
	shown := func() bool {
		st := sourceStatus(d, "bad")
		if f.reason == "" {
			return st.Fetches > 0 && st.Up
		}
		return st.Fetches > 0 && !st.Up && st.LastReason == f.reason
	}
	waitUntil(t, 15*time.Second, "the fault to show", shown)
	if f.allocBound > 0 {
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > f.allocBound {
			t.Errorf("allocated %d MiB up to the fault, want at most %d MiB", got>>20, f.allocBound>>20)
		} else {
			t.Logf("allocated %d MiB up to the fault (bound %d MiB)", got>>20, f.allocBound>>20)
		}
	}

	// The healthy source keeps its schedule while the fault lasts.
	h0 := sourceStatus(d, "good").Fetches
	waitUntil(t, 10*time.Second, "3 more fetches of the healthy source", func() bool {
		return sourceStatus(d, "good").Fetches >= h0+3
	})
	if st := sourceStatus(d, "good"); !st.Up {
		t.Errorf("healthy source is down: %s", st.LastError)
	}

	// The daemon keeps serving, and says what happened.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/-/healthy", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/-/healthy: %d", rec.Code)
	}
	fams := scrape(t, h)
	if got := value(t, fams, "affinity_source_fetches_total", map[string]string{"source": "bad"}); got < 1 {
		t.Errorf("affinity_source_fetches_total{source=bad} = %v, want >= 1", got)
	}
	if f.reason != "" {
		if got := value(t, fams, "affinity_source_fetch_failures_total", map[string]string{"source": "bad", "reason": f.reason}); got < 1 {
			t.Errorf("affinity_source_fetch_failures_total{source=bad,reason=%s} = %v, want >= 1", f.reason, got)
		}
		if line := logs.find(`msg="fetch failed"`, "source=bad", "reason="+f.reason); line == "" {
			t.Errorf("no log line for the failure; logs:\n%s", logs.String())
		}
	} else if line := logs.find(`msg=fetch`, "source=bad", "status=ok"); line == "" {
		t.Errorf("no log line for the fetch; logs:\n%s", logs.String())
	}
	for _, r := range collector.Reasons {
		if r == f.reason {
			continue
		}
		if got := value(t, fams, "affinity_source_fetch_failures_total", map[string]string{"source": "bad", "reason": r}); got != 0 {
			t.Errorf("failures{reason=%s} = %v: the fault is counted under the wrong reason", r, got)
		}
	}
	if f.check != nil {
		f.check(t, d)
	}

	// The source recovers by itself once the server behaves.
	fs.heal()
	healedAt := sourceStatus(d, "bad").Fetches
	waitUntil(t, 10*time.Second, "the source to recover", func() bool {
		st := sourceStatus(d, "bad")
		return st.Up && st.Fetches > healedAt
	})
	if f.retryAfter > 0 {
		hits := fs.requests()
		if len(hits) < 2 {
			t.Fatalf("%d requests, want the rate-limited one and a later one", len(hits))
		}
		if gap := hits[1].Sub(hits[0]); gap < f.retryAfter-100*time.Millisecond {
			t.Errorf("asked again after %v, the server asked for %v", gap, f.retryAfter)
		}
	}
	stop()
	if f.allocBound > 0 {
		// Nothing of the fault is kept once the daemon has dealt with it.
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		if after.HeapInuse > before.HeapInuse+16<<20 {
			t.Errorf("heap in use grew from %d to %d MiB", before.HeapInuse>>20, after.HeapInuse>>20)
		}
	}
}

// faultServer serves a fault until heal is called, then a healthy answer
// for the source's kind. It records when requests came.
type faultServer struct {
	t      *testing.T
	url    string
	srv    *httptest.Server
	addr   string // for refused: where the healthy server will listen
	kind   string
	healed atomic.Bool

	mu   sync.Mutex
	hits []time.Time
}

func newFaultServer(t *testing.T, f fault) *faultServer {
	fs := &faultServer{t: t, kind: f.kind}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.hits = append(fs.hits, time.Now())
		fs.mu.Unlock()
		if !fs.healed.Load() {
			f.serve(w, r)
			if f.retryAfter > 0 {
				fs.healed.Store(true) // one 429, then the server is fine
			}
			return
		}
		switch fs.kind {
		case "mastodon":
			_, _ = io.WriteString(w, `[]`)
		case "lemmy":
			_, _ = io.WriteString(w, `{"posts": []}`)
		default:
			w.Header().Set("Content-Type", "application/rss+xml")
			_, _ = io.WriteString(w, manyItems(2))
		}
	})
	if f.refused {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		fs.addr = ln.Addr().String()
		_ = ln.Close() // nothing listens there now: connections are refused
		fs.srv = httptest.NewUnstartedServer(handler)
		fs.url = "http://" + fs.addr
		return fs
	}
	fs.srv = httptest.NewServer(handler)
	fs.url = fs.srv.URL
	return fs
}

func (fs *faultServer) heal() {
	fs.healed.Store(true)
	if fs.addr != "" {
		ln, err := net.Listen("tcp", fs.addr)
		if err != nil {
			fs.t.Fatalf("listen again on %s: %v", fs.addr, err)
		}
		fs.srv.Listener = ln
		fs.srv.Start()
	}
}

func (fs *faultServer) close() {
	if fs.addr == "" || fs.healed.Load() {
		fs.srv.Close()
	}
}

func (fs *faultServer) requests() []time.Time {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return slices.Clone(fs.hits)
}

func statusFault(code int, retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case retryAfter == "date+3s":
			w.Header().Set("Retry-After", time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))
		case retryAfter != "":
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "<html><body>try later</body></html>")
	}
}

func xmlFault(doc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = io.WriteString(w, doc)
	}
}

func conditional(doc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		xmlFault(doc)(w, r)
	}
}

func jsonFault(doc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, doc)
	}
}

// manyItems is an RSS feed of n distinct items, the first (and one in a
// thousand) about Proxmox.
func manyItems(n int) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>many</title><link>https://many.example/</link>`)
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa")
	for i := range n {
		title := words[i%16] + " " + words[i/16%16] + " " + words[i/256%16] + " " + words[i/4096%16]
		if i%1000 == 0 {
			title += " Proxmox"
		}
		fmt.Fprintf(&b, "<item><title>%s %d</title><link>https://many.example/%d</link><guid>%d</guid><pubDate>%s</pubDate></item>",
			title, i, i, i, time.Now().Add(-time.Duration(i)*time.Minute).Format(time.RFC1123Z))
	}
	b.WriteString("</channel></rss>")
	return b.String()
}

const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><guid>laugh</guid><title>Proxmox &lol9;</title><description>&lol9;</description></item>
</channel></rss>`

// gzipBomb is concatenated gzip members that inflate to at least n zero
// bytes. Deflate tops out near 1:1000, so 1 GiB costs about 1 MB on the
// wire; readers take concatenated members as one stream (RFC 1952 2.2).
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, err := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	const block = 1 << 20
	if _, err := zw.Write(make([]byte, block)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.Repeat(member.Bytes(), (n+block-1)/block)
}

// storedText is the text of a post the source stored, via the evidence query.
func storedText(t *testing.T, d *daemon, source string) string {
	t.Helper()
	ev, err := d.store.Evidence(context.Background(), "proxmox", 100)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range ev {
		if p.Source == source {
			b.WriteString(p.Title + " " + p.Text + "\n")
		}
	}
	if b.Len() == 0 {
		t.Fatalf("no post of %s stored", source)
	}
	return b.String()
}

func sourceStatus(d *daemon, name string) server.SourceStatus {
	for _, s := range d.metrics.Sources() {
		if s.Name == name {
			return s
		}
	}
	return server.SourceStatus{}
}

// waitUntil polls cond until it holds; the deadline is the bound asserted.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond) // polling real-time work, not timing it
	}
}

// waitGoroutines waits for the goroutine count to come back to base: the
// daemon, its client's connections and the test servers are all gone.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// find returns the first log line containing every part, "" when none does.
func (s *syncBuffer) find(parts ...string) string {
next:
	for line := range strings.Lines(s.String()) {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return line
	}
	return ""
}
