package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/store"
	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
)

// rssFeed is a feed of one new post about Proxmox per call (guid n),
// published a day before at; its words differ from call to call, so no post
// is stored as a near-duplicate of another.
func rssFeed(at time.Time, prefix string, n int64) string {
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango")
	r := rand.New(rand.NewPCG(uint64(n), uint64(prefix[0])))
	var text strings.Builder
	for range 12 {
		text.WriteString(words[r.IntN(len(words))] + " ")
	}
	return fmt.Sprintf(`<?xml version="1.0"?>
<rss version="2.0"><channel><title>t</title><link>https://example.org/</link><description>d</description>
<item><title>Post %[2]s-%[3]d</title><link>https://example.org/%[2]s/%[3]d</link><guid>https://example.org/%[2]s/%[3]d</guid>
<pubDate>%[1]s</pubDate><description>%[4]s on Proxmox.</description></item>
</channel></rss>`, at.Add(-24*time.Hour).Format(time.RFC1123Z), prefix, n, text.String())
}

// within fails the test when f does not return within d: a deadlock shows as
// a failure, not as a test binary killed by -timeout.
func within(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s did not return within %s (deadlock?)", what, d)
	}
}

// TestReloadWhileSourcesCommit reloads again and again while the sources'
// first runs (which every new scheduler starts at once) fetch and commit new
// posts: every reload completes, scoring goes on, and the daemon stops. A
// source committing while a reload swaps the scheduler once asked the new,
// not yet started scheduler to score, which blocked reload, SIGTERM and
// scoring for good.
func TestReloadWhileSourcesCommit(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A few milliseconds, so reloads land while fetches and commits run.
		time.Sleep(time.Duration(rand.N(3000)) * time.Microsecond)
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, rssFeed(time.Now(), strings.Trim(r.URL.Path, "/"), n.Add(1)))
	}))
	defer srv.Close()
	cfg := strings.NewReplacer("URL", srv.URL).Replace(readersConfig + `sources:
  - {name: a, kind: feed, url: URL/a, interval: 1h, format: audience}
  - {name: b, kind: feed, url: URL/b, interval: 1h, format: community}
  - {name: c, kind: feed, url: URL/c, interval: 1h, format: network}
scoring: {window: 7d, baseline: 7d, interval: 1h}
`)
	g, l := loadTestConfig(t, cfg)
	d, _ := startOnClock(t, g, l, clockwork.NewRealClock())
	for i := range 40 {
		within(t, 5*time.Second, fmt.Sprintf("reload %d", i), func() error { return d.reload(context.Background()) })
		time.Sleep(time.Duration(rand.N(4000)) * time.Microsecond)
	}
	// The last scheduler's first runs commit and ask for a pass, which runs.
	want := n.Load()
	deadline := time.Now().Add(5 * time.Second)
	for {
		snap := d.snapshot.Load()
		ts, _ := snap.Topic("proxmox")
		if ts.Mentions >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxmox has %d mentions scored, want %d (every fetched post) within 5 s", ts.Mentions, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	within(t, 5*time.Second, "close", d.close)
}

// gatedStore holds the first scoring pass after arm, once it has read the
// current window, until release is closed: a pass that is running.
type gatedStore struct {
	store.Store
	armed    atomic.Bool
	entered  chan struct{}
	release  chan struct{}
	released atomic.Bool
}

func (s *gatedStore) TopicWindows(ctx context.Context, w affinity.Window) (map[string]affinity.TopicWindow, error) {
	res, err := s.Store.TopicWindows(ctx, w)
	if s.armed.CompareAndSwap(true, false) {
		close(s.entered)
		<-s.release
	}
	return res, err
}

// TestScoreRequestDuringPass: posts committed while a scoring pass runs are
// scored by one more pass right after it, not at the next tick (which never
// comes here: the fake clock stands still).
func TestScoreRequestDuringPass(t *testing.T) {
	gateB := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/b" {
			<-gateB
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, rssFeed(time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC), strings.Trim(r.URL.Path, "/"), 1))
	}))
	defer srv.Close()
	defer close(gateB)
	cfg := strings.NewReplacer("URL", srv.URL).Replace(readersConfig + `sources:
  - {name: a, kind: feed, url: URL/a, interval: 1h, format: audience}
  - {name: b, kind: feed, url: URL/b, interval: 1h, format: audience}
scoring: {window: 7d, baseline: 7d, interval: 1h}
`)
	clock := clockwork.NewFakeClockAt(time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC))
	g, l := loadTestConfig(t, cfg)
	d, err := newDaemon(context.Background(), g, l, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	gs := &gatedStore{Store: d.store, entered: make(chan struct{}), release: make(chan struct{})}
	d.store = gs
	d.now = clock.Now
	d.clock = gocron.WithClock(clock)
	gen, err := d.build(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.activate(context.Background(), gen); err != nil {
		t.Fatal(err)
	}
	gs.armed.Store(true)
	if err := d.schedule(context.Background(), gen); err != nil {
		t.Fatal(err)
	}
	defer func() { within(t, 5*time.Second, "close", d.close) }()
	defer func() {
		if gs.released.CompareAndSwap(false, true) {
			close(gs.release)
		}
	}()

	// a commits and asks for a pass; the pass has read the window (a's post only).
	select {
	case <-gs.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no scoring pass after source a committed a post")
	}
	// b commits while that pass runs, and asks again.
	gateB <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waitFetches(ctx, t, d, map[string]int64{"b": 1})
	// b asks just after its fetch is counted; let it ask while the pass still
	// runs (if it asks later, the test passes either way: no false failure).
	time.Sleep(10 * time.Millisecond)
	gs.released.Store(true)
	close(gs.release)

	for {
		ts, _ := d.snapshot.Load().Topic("proxmox")
		if ts.Mentions == 2 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("proxmox has %d mentions scored, want 2: b's post, committed during a pass, was never scored", ts.Mentions)
		}
		time.Sleep(time.Millisecond)
	}
}
