package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
)

// countingFeed serves a feed and records, per path, how many requests came
// and the most that were ever in flight at once.
type countingFeed struct {
	body []byte

	mu                  sync.Mutex
	hits, inflight, max map[string]int
}

func (c *countingFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.hits[r.URL.Path]++
	c.inflight[r.URL.Path]++
	c.max[r.URL.Path] = max(c.max[r.URL.Path], c.inflight[r.URL.Path])
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inflight[r.URL.Path]--
		c.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/rss+xml")
	_, _ = w.Write(c.body)
}

func (c *countingFeed) count(path string) (hits, maxInflight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits[path], c.max[path]
}

// TestScheduleOnFakeClock runs the real scheduler for three simulated hours:
// each source is fetched at its interval within the ±10 % jitter, never twice
// at once, and a failing source's backoff does not delay the healthy one.
func TestScheduleOnFakeClock(t *testing.T) {
	body, err := os.ReadFile(e2eFeed)
	if err != nil {
		t.Fatal(err)
	}
	feeds := &countingFeed{body: body, hits: map[string]int{}, inflight: map[string]int{}, max: map[string]int{}}
	srv := httptest.NewServer(feeds)
	defer srv.Close()
	cfg := strings.NewReplacer("URL", srv.URL).Replace(readersConfig + `sources:
  - {name: fast, kind: feed, url: URL/fast, interval: 10m, format: audience}
  - {name: slow, kind: feed, url: URL/slow, interval: 30m, format: audience}
scoring: {window: 365d, baseline: 28d, interval: 1m}
`)
	clock := clockwork.NewFakeClockAt(time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC))
	g, l := loadTestConfig(t, cfg)
	d, _ := startOnClock(t, g, l, clock)
	defer d.close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d.mu.Lock()
	sched := d.scheduler
	d.mu.Unlock()
	// Both sources start at once.
	waitFetches(ctx, t, d, map[string]int64{"fast": 1, "slow": 1})
	for range 180 {
		advanceClock(ctx, t, d, sched, clock, time.Minute)
	}

	for _, c := range []struct {
		path     string
		min, max int
	}{
		// The first run is immediate, then one every interval ±10 %.
		{"/fast", 1 + 180/11, 1 + 180/9},
		{"/slow", 1 + 180/33, 1 + 180/27},
	} {
		hits, most := feeds.count(c.path)
		if hits < c.min || hits > c.max {
			t.Errorf("%s fetched %d times in 3 simulated hours, want %d..%d", c.path, hits, c.min, c.max)
		}
		if most != 1 {
			t.Errorf("%s had %d fetches in flight at once, want 1 (singleton)", c.path, most)
		}
	}
}

func fetchCount(d *daemon, source string) int64 {
	for _, s := range d.metrics.Sources() {
		if s.Name == source {
			return s.Fetches
		}
	}
	return 0
}

// waitFetches waits until each source has finished at least the given number
// of fetches; the fetch itself runs in real time on the scheduler's goroutines.
func waitFetches(ctx context.Context, t *testing.T, d *daemon, want map[string]int64) {
	t.Helper()
	for ctx.Err() == nil {
		done := true
		for name, n := range want {
			if fetchCount(d, name) < n {
				done = false
			}
		}
		if done {
			return
		}
		time.Sleep(time.Millisecond) // real time: lets the fetch goroutines finish
	}
	t.Fatalf("fetches did not finish: want %v", want)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startOnClock starts a daemon whose scheduler and notion of now run on
// clock: built, activated and scheduled, as runDaemon does.
// readersConfig opens the configurations of the scheduling and fault tests:
// our brand and one topic; each test adds its sources and settings.
const readersConfig = `
brand: {name: Alpine Linux}
relationships:
  - name: readers
    type: communities
    topics:
      - {name: proxmox, terms: ["Proxmox"]}
`

func startOnClock(t *testing.T, g globalFlags, l loaded, clock clockwork.Clock) (*daemon, *generation) {
	t.Helper()
	d, err := newDaemon(context.Background(), g, l, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	d.now = clock.Now
	d.clock = gocron.WithClock(clock)
	gen, err := d.build(l)
	if err == nil {
		err = d.activate(context.Background(), gen)
	}
	if err == nil {
		err = d.schedule(context.Background(), gen)
	}
	if err != nil {
		d.close()
		t.Fatal(err)
	}
	return d, gen
}

// advanceClock moves clock on by step once the source jobs that fall due
// within it have run: it notes the fetch count each must reach, advances,
// and waits for them.
func advanceClock(ctx context.Context, t *testing.T, d *daemon, sched gocron.Scheduler, clock *clockwork.FakeClock, step time.Duration) {
	t.Helper()
	want := map[string]int64{}
	now := clock.Now()
	for _, j := range sched.Jobs() {
		name, ok := strings.CutPrefix(j.Name(), "source:")
		if !ok {
			continue
		}
		next, err := j.NextRun()
		if err != nil {
			t.Fatal(err)
		}
		if !next.After(now.Add(step)) {
			want[name] = fetchCount(d, name) + 1
		}
	}
	clock.Advance(step)
	waitFetches(ctx, t, d, want)
}

// flakyFeeds answers /bad with 500 and any other path with a new post,
// counting requests per path.
type flakyFeeds struct {
	mu   sync.Mutex
	hits map[string]int
}

func (f *flakyFeeds) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.URL.Path]++
	n := f.hits[r.URL.Path]
	f.mu.Unlock()
	if r.URL.Path == "/bad" {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/rss+xml")
	_, _ = w.Write([]byte(rssFeed(time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC), strings.Trim(r.URL.Path, "/"), int64(n))))
}

func (f *flakyFeeds) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

// eventually polls cond (real time: the scheduler's goroutines run in it) and
// fails with what when it does not hold within 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// nextCheck is the stored next check of source.
func nextCheck(t *testing.T, d *daemon, source string) time.Time {
	t.Helper()
	st, _, err := d.store.SourceState(context.Background(), source)
	if err != nil {
		t.Fatal(err)
	}
	return st.NextCheck
}

// retryPending reports whether the current scheduler runs source at at.
func retryPending(t *testing.T, d *daemon, source string, at time.Time) bool {
	t.Helper()
	d.mu.Lock()
	s := d.scheduler
	d.mu.Unlock()
	for _, j := range s.Jobs() {
		if next, err := j.NextRun(); err == nil && next.Equal(at) && strings.HasSuffix(j.Name(), ":"+source) {
			return true
		}
	}
	return false
}

// TestBackoffRetries: a failed fetch is tried again when its backoff ends
// (the next_check it logs), well before the source's 10 min interval; a
// reload that keeps the source's configuration keeps the backoff and its
// retry; one that changes it fetches the source at once.
func TestBackoffRetries(t *testing.T) {
	feeds := &flakyFeeds{hits: map[string]int{}}
	srv := httptest.NewServer(feeds)
	defer srv.Close()
	cfg := readersConfig + `sources:
  - {name: x, kind: feed, url: URL/bad, interval: 10m, format: audience}
scoring: {window: 7d, baseline: 7d, interval: 1h}
`
	clock := clockwork.NewFakeClockAt(time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC))
	g, l := loadTestConfig(t, strings.ReplaceAll(cfg, "URL", srv.URL))
	d, _ := startOnClock(t, g, l, clock)
	defer d.close()

	// The first run fails: backoff of 30..60 s (base min(interval, 1 min)).
	eventually(t, "the first fetch fails and a next check is stored", func() bool { return nextCheck(t, d, "x").After(clock.Now()) })
	at := nextCheck(t, d, "x")
	if wait := at.Sub(clock.Now()); wait < 30*time.Second || wait > time.Minute {
		t.Fatalf("backoff after the first failure = %s, want 30 s..1 min", wait)
	}
	eventually(t, "a run is scheduled at the next check "+at.String(), func() bool { return retryPending(t, d, "x", at) })

	// An unchanged configuration keeps the backoff: the new scheduler's
	// first run finds the source not due and keeps the retry.
	if err := d.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "after a reload keeping the source, its retry is still scheduled", func() bool { return retryPending(t, d, "x", at) })
	if n := feeds.count("/bad"); n != 1 {
		t.Fatalf("/bad fetched %d times before its next check, want 1", n)
	}

	clock.Advance(at.Sub(clock.Now()))
	eventually(t, "the retry at the next check fetches again", func() bool { return feeds.count("/bad") == 2 })
	eventually(t, "the second failure backs off longer", func() bool { return nextCheck(t, d, "x").After(clock.Now()) })
	if wait := nextCheck(t, d, "x").Sub(clock.Now()); wait < time.Minute || wait > 2*time.Minute {
		t.Errorf("backoff after the second failure = %s, want 1..2 min", wait)
	}

	// A reload that fixes the source's URL fetches it now, not after the backoff.
	if err := os.WriteFile(g.configFile, []byte(strings.ReplaceAll(cfg, "URL/bad", srv.URL+"/good")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fixed source is fetched at once after the reload", func() bool { return feeds.count("/good") == 1 })
	eventually(t, "the fixed source's fetch is committed", func() bool { return nextCheck(t, d, "x").IsZero() })
}
