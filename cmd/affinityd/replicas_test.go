package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// growingFeed is a local RSS feed of n items, each about "customer service";
// it records when it was fetched.
type growingFeed struct {
	name  string
	items atomic.Int64
	mu    sync.Mutex
	hits  []time.Time
	srv   *httptest.Server
}

func newGrowingFeed(t *testing.T, name string, items int) *growingFeed {
	f := &growingFeed{name: name}
	f.items.Store(int64(items))
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.hits = append(f.hits, time.Now())
		f.mu.Unlock()
		var b strings.Builder
		fmt.Fprintf(&b, `<?xml version="1.0"?><rss version="2.0"><channel><title>%s</title><link>http://example.org/%s</link><description>d</description>`, name, name)
		pub := time.Now().Add(-time.Hour).UTC()
		for i := range f.items.Load() {
			fmt.Fprintf(&b, `<item><title>%s post %d</title><link>http://example.org/%s/%d</link><guid>%s-%d</guid><pubDate>%s</pubDate><description>%s</description></item>`,
				name, i, name, i, name, i, pub.Add(time.Duration(i)*time.Second).Format(time.RFC1123Z), distinctText(name, i))
		}
		b.WriteString(`</channel></rss>`)
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write([]byte(b.String()))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// distinctText is a post about customer service whose other words differ
// from every other post's, so none collapses as a near-duplicate.
func distinctText(feed string, i int64) string {
	words := strings.Fields(`harbor violet engine marble quartz lantern orchard cobalt falcon meadow
		thunder pepper saddle canyon walnut glacier ribbon compass velvet anchor tundra mosaic
		cactus lagoon ember prism willow saffron beacon juniper summit cedar dune fjord ivory
		kettle lilac magnet nectar opal pylon quiver raven sorrel tassel umber vortex wharf
		yonder zephyr basalt cinder delta fennel garnet hazel`)
	rng := rand.New(rand.NewPCG(uint64(len(feed))*7919+uint64(feed[len(feed)-1]), uint64(i)))
	rng.Shuffle(len(words), func(a, b int) { words[a], words[b] = words[b], words[a] })
	return strings.Join(words[:8], " ") + " and the customer service of Acme " + strings.Join(words[8:16], " ")
}

// hitsAfter returns the fetches after t.
func (f *growingFeed) hitsAfter(t time.Time) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for _, h := range f.hits {
		if h.After(t) {
			out = append(out, h)
		}
	}
	return out
}

// replicaProc is one affinityd process of the test.
type replicaProc struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
	dead bool
}

func (r *replicaProc) metric(t *testing.T, re *regexp.Regexp) (float64, bool) {
	t.Helper()
	code, body := httpGet("http://" + r.addr + "/metrics")
	if code != http.StatusOK {
		return 0, false
	}
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// TestReplicasShareSourcesAndSurviveSIGKILL runs three affinityd processes
// against one PostgreSQL and six local feeds: the sources are divided (not
// fetched three times over), every post is stored and counted once, exactly
// one replica leads scoring and all serve its numbers, and when the replica
// holding sources is killed with SIGKILL, the others take its sources (and
// leadership) over within a lease period, losing nothing.
func TestReplicasShareSourcesAndSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts PostgreSQL")
	}
	dsn := startPostgres(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)

	const (
		nSources = 6
		items    = 5
		interval = time.Second // the minimum a source may have
	)
	ttl := sourceLeaseTTL(interval)
	var feeds []*growingFeed
	var srcYAML strings.Builder
	for i := range nSources {
		f := newGrowingFeed(t, fmt.Sprintf("feed%d", i), items)
		feeds = append(feeds, f)
		fmt.Fprintf(&srcYAML, "  - {name: %s, kind: feed, url: %q, interval: 1s, format: audience}\n", f.name, f.srv.URL)
	}
	cfgFile := filepath.Join(dir, "affinityd.yml")
	if err := os.WriteFile(cfgFile, []byte(`
brand: {name: Acme}
relationships:
  - name: support
    type: personal-assistance
    topics:
      - {name: customer-service, terms: ["customer service"]}
sources:
`+srcYAML.String()+`
scoring: {window: 30d, baseline: 28d, interval: 1s}
store: {driver: postgres}
`), 0o600); err != nil {
		t.Fatal(err)
	}

	var reps []*replicaProc
	for range 3 {
		reps = append(reps, startReplica(t, bin, cfgFile, "AFFINITY_STORE_DSN="+dsn))
	}
	allLogs := func() string {
		var b strings.Builder
		for i, r := range reps {
			fmt.Fprintf(&b, "--- replica %d (pid %d)\n%s", i, r.cmd.Process.Pid, r.logs.String())
		}
		return b.String()
	}
	for _, r := range reps {
		eventuallyTrue(t, "replica ready", 60*time.Second, allLogs, r.ready)
	}

	db, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	holders := func() map[string]string {
		t.Helper()
		rows, err := db.Query(context.Background(), `SELECT name, holder FROM leases WHERE expires_at > $1`, time.Now().UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var n, h string
			if err := rows.Scan(&n, &h); err != nil {
				t.Fatal(err)
			}
			out[n] = h
		}
		return out
	}
	pidOf := func(holder string) int {
		for _, r := range reps {
			if strings.Contains(holder, fmt.Sprintf("-%d-", r.cmd.Process.Pid)) {
				return r.cmd.Process.Pid
			}
		}
		return 0
	}
	eventually := func(what string, within time.Duration, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > within {
				t.Fatalf("%s: not within %s\n%s", what, within, allLogs())
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(start)
	}
	mentions := regexp.MustCompile(`(?m)^affinity_topic_mentions_total\{format="audience",topic="customer-service"\} (\S+)$`)
	leader := regexp.MustCompile(`(?m)^affinity_scoring_leader (\S+)$`)
	servesMentions := func(want int) func() bool {
		return func() bool {
			for _, r := range reps {
				if r.dead {
					continue
				}
				if v, ok := r.metric(t, mentions); !ok || int(v) != want {
					return false
				}
			}
			return true
		}
	}
	oneLeader := func() (pid int, ok bool) {
		n := 0
		for _, r := range reps {
			if r.dead {
				continue
			}
			if v, ok := r.metric(t, leader); ok && v == 1 {
				n++
				pid = r.cmd.Process.Pid
			}
		}
		return pid, n == 1
	}

	// Every post of every source is stored once, and every replica serves the
	// leader's durable count of them.
	eventually("all posts stored", 30*time.Second, func() bool { return count(`SELECT COUNT(*) FROM posts`) == nSources*items })
	eventually("every replica serves the stored count", 30*time.Second, servesMentions(nSources*items))
	eventually("exactly one scoring leader", 15*time.Second, func() bool { _, ok := oneLeader(); return ok })

	// The sources are balanced: two for each of the three replicas.
	took := eventually("sources balanced over the replicas", 45*time.Second, func() bool {
		per := map[int]int{}
		for name, h := range holders() {
			if strings.HasPrefix(name, "source:") {
				per[pidOf(h)]++
			}
		}
		return len(per) == 3 && per[0] == 0 && per[reps[0].cmd.Process.Pid] == 2 && per[reps[1].cmd.Process.Pid] == 2
	})
	t.Logf("balanced %s after the posts were stored", took)

	// Steady state: the sources are divided, not fetched by every replica.
	window := 6 * time.Second
	from := time.Now()
	time.Sleep(window)
	for _, f := range feeds {
		// One holder fetches at most every 0.9 s; three would triple that.
		if n, most := len(f.hitsAfter(from)), int(1.5*window.Seconds()/0.9)+2; n > most {
			t.Errorf("%s fetched %d times in %s, want at most %d (one replica at a time)", f.name, n, window, most)
		}
	}
	h := holders()
	held := map[int][]string{}
	for _, f := range feeds {
		pid := pidOf(h["source:"+f.name])
		if pid == 0 {
			t.Fatalf("source %s held by %q, not by a replica; leases %v", f.name, h["source:"+f.name], h)
		}
		held[pid] = append(held[pid], f.name)
	}
	t.Logf("sources by replica pid: %v; scoring leader %s", held, h[scoringLease])

	// Kill a replica that holds sources, preferring the scoring leader.
	victim := reps[0]
	leaderPid, _ := oneLeader()
	for _, r := range reps {
		if len(held[r.cmd.Process.Pid]) > 0 && (len(held[victim.cmd.Process.Pid]) == 0 || r.cmd.Process.Pid == leaderPid) {
			victim = r
		}
	}
	victimPid := victim.cmd.Process.Pid
	orphans := held[victimPid]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.dead = true
	_ = victim.cmd.Wait()
	killed := time.Now()
	for _, f := range feeds {
		f.items.Add(2) // new posts arrive while the replica is gone
	}

	// Its sources are fetched by the survivors within one lease period (plus
	// the run that notices, and slack for a busy machine).
	bound := ttl + interval + interval/10 + 3*time.Second
	for _, name := range orphans {
		var f *growingFeed
		for _, g := range feeds {
			if g.name == name {
				f = g
			}
		}
		eventually("source "+name+" taken over", 30*time.Second, func() bool {
			return len(f.hitsAfter(killed)) > 0 && pidOf(holders()["source:"+name]) != 0 && pidOf(holders()["source:"+name]) != victimPid
		})
		first := f.hitsAfter(killed)[0].Sub(killed)
		if first > bound {
			t.Errorf("source %s first fetched %s after the kill, want within %s (lease %s)", name, first, bound, ttl)
		}
		t.Logf("source %s fetched by a survivor %s after the kill", name, first)
	}
	if victimPid == leaderPid {
		eventually("scoring leadership moved", 30*time.Second, func() bool { pid, ok := oneLeader(); return ok && pid != victimPid })
		t.Logf("scoring leadership moved %s after the kill (lease %s)", time.Since(killed), scoringLeaseTTL(time.Second))
	}

	// Nothing lost, nothing counted twice.
	want := nSources * (items + 2)
	eventually("posts after the kill stored", 30*time.Second, func() bool { return count(`SELECT COUNT(*) FROM posts`) == want })
	eventually("survivors serve the stored count", 30*time.Second, servesMentions(want))
	if n := count(`SELECT COUNT(*) FROM mentions`); n != want {
		t.Errorf("mentions = %d, want %d (one per post)", n, want)
	}
	if _, ok := oneLeader(); !ok {
		t.Errorf("not exactly one scoring leader among the survivors\n%s", allLogs())
	}
	t.Logf("killed pid %d holding %v; survivors took them over", victimPid, orphans)
}
