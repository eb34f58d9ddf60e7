package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

	cfg := `
brand: {name: Alpine Linux}
relationships:
  - name: readers
    type: communities
    topics:
      - {name: proxmox, terms: ["Proxmox"]}
sources:
  - {name: good, kind: feed, url: GOOD, format: audience}
  - {name: limited, kind: feed, url: BROKEN/429, format: audience}
  - {name: failing, kind: feed, url: BROKEN/503, format: audience}
  - {name: hung, kind: feed, url: BROKEN/hang, format: audience}
  - {name: cut, kind: feed, url: BROKEN/cut, format: audience}
scoring: {window: 365d, baseline: 28d}
collector: {timeout: 2s, connect_timeout: 1s}
`
	cfg = strings.NewReplacer("GOOD", healthy.URL, "BROKEN", broken.URL).Replace(cfg)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "affinityd.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d, h := startDaemon(t, cfgFile, filepath.Join(dir, "a.db"))
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
