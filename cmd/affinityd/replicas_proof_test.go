package main

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// corpusPost is one record of ../shared/bench/make-corpus.py's corpus.jsonl.
type corpusPost struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Author    string    `json:"author"`
	Published time.Time `json:"published"`
	Title     string    `json:"title"`
	Text      string    `json:"text"`
}

// benchCorpusDir generates the benchmark corpus (posts, topics, brands) into
// a temp dir with the shared generator, deterministic for a seed.
func benchCorpusDir(t testing.TB, posts, topics, brands int) string {
	t.Helper()
	script := filepath.Join("..", "..", "..", "shared", "bench", "make-corpus.py")
	if _, err := os.Stat(script); err != nil {
		t.Skipf("corpus generator: %v", err)
	}
	dir := t.TempDir()
	out, err := exec.Command("python3", script, "--posts", fmt.Sprint(posts), "--topics", fmt.Sprint(topics),
		"--brands", fmt.Sprint(brands), "--seed", "9", dir).CombinedOutput()
	if err != nil {
		t.Skipf("make-corpus.py: %v\n%s", err, out)
	}
	return dir
}

// readCorpusPosts reads corpus.jsonl and moves the posts' dates so the
// newest is two days ago: the generator's dates are fixed, the scoring
// window follows the clock.
func readCorpusPosts(t testing.TB, dir string) []corpusPost {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "corpus.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var posts []corpusPost
	var newest time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p corpusPost
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p.Published.After(newest) {
			newest = p.Published
		}
		posts = append(posts, p)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	shift := time.Now().Add(-48 * time.Hour).Truncate(time.Minute).Sub(newest)
	for i := range posts {
		posts[i].Published = posts[i].Published.Add(shift)
	}
	return posts
}

// corpusConfigYAML turns topics.txt and brands.txt into the brand,
// competitors and relationships of a configuration.
func corpusConfigYAML(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	brands, err := os.ReadFile(filepath.Join(dir, "brands.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var competitors []string
	for _, line := range strings.Split(strings.TrimSpace(string(brands)), "\n") {
		f := strings.Split(line, "\t") // name, kind, aliases
		aliases := strings.Split(f[2], "; ")
		if f[1] == "own" {
			fmt.Fprintf(&b, "brand: {name: %q, aliases: [%q]}\n", aliases[0], aliases[1])
			continue
		}
		competitors = append(competitors, fmt.Sprintf("  - {name: %q, kind: %s, aliases: [%q]}\n", aliases[0], f[1], aliases[1]))
	}
	b.WriteString("competitors:\n" + strings.Join(competitors, ""))
	topics, err := os.ReadFile(filepath.Join(dir, "topics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString("relationships:\n")
	for i, line := range strings.Split(strings.TrimSpace(string(topics)), "\n") {
		if i%10 == 0 {
			fmt.Fprintf(&b, "  - name: rel%d\n    type: communities\n    topics:\n", i/10)
		}
		f := strings.Split(line, "\t")
		var terms []string
		for _, p := range strings.Split(f[1], "; ") {
			terms = append(terms, fmt.Sprintf("%q", p))
		}
		fmt.Fprintf(&b, "      - {name: %q, terms: [%s]}\n", f[0], strings.Join(terms, ", "))
	}
	return b.String()
}

// corpusFeed serves posts as an RSS feed and counts its fetches.
type corpusFeed struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
	n    atomic.Int64 // posts served: a prefix of posts
	all  int64        // len(posts)
}

func newCorpusFeed(t testing.TB, name string, posts []corpusPost) *corpusFeed {
	t.Helper()
	f := &corpusFeed{name: name, all: int64(len(posts))}
	f.n.Store(f.all)
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		var b strings.Builder
		fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>%s</title><link>http://example.org/%s</link><description>d</description>`, name, name)
		for _, p := range posts[:min(f.n.Load(), f.all)] {
			fmt.Fprintf(&b, `<item><title>%s</title><link>%s</link><guid>%s-%s</guid><author>%s</author><pubDate>%s</pubDate><description>%s</description></item>`,
				esc(p.Title), esc(p.URL), name, p.ID, esc(p.Author), p.Published.Format(time.RFC1123Z), esc(p.Text))
		}
		b.WriteString(`</channel></rss>`)
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write([]byte(b.String()))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// corpusFeeds splits posts over n local feeds and returns them with the
// configuration's sources section.
func corpusFeeds(t testing.TB, posts []corpusPost, n int, interval string) ([]*corpusFeed, string) {
	t.Helper()
	var feeds []*corpusFeed
	var b strings.Builder
	b.WriteString("sources:\n")
	per := (len(posts) + n - 1) / n
	for i := range n {
		part := posts[min(i*per, len(posts)):min((i+1)*per, len(posts))]
		f := newCorpusFeed(t, fmt.Sprintf("feed%d", i), part)
		feeds = append(feeds, f)
		fmt.Fprintf(&b, "  - {name: %s, kind: feed, url: %q, interval: %s, format: community}\n", f.name, f.srv.URL, interval)
	}
	return feeds, b.String()
}

// startReplica starts `affinityd run` on cfgFile with env added, and stops
// it (SIGTERM) at the end of the test unless the test did.
func startReplica(t testing.TB, bin, cfgFile string, env ...string) *replicaProc {
	t.Helper()
	r := &replicaProc{addr: freeAddr(t), logs: &syncBuffer{}}
	r.cmd = exec.Command(bin, "--config.file", cfgFile, "--web.listen-address", r.addr, "--log.level", "info")
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stderr = r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.stop() })
	return r
}

// stop ends the replica with SIGTERM (a clean shutdown) and waits for it.
func (r *replicaProc) stop() {
	if !r.dead {
		r.dead = true
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		_ = r.cmd.Wait()
	}
}

func (r *replicaProc) ready() bool {
	code, _ := httpGet("http://" + r.addr + "/-/ready")
	return code == http.StatusOK
}

// metricSum sums the samples of a metric family whose labels contain match.
func (r *replicaProc) metricSum(t testing.TB, name, match string) float64 {
	t.Helper()
	_, body := httpGet("http://" + r.addr + "/metrics")
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	var sum float64
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		if strings.Contains(m[1], match) {
			var v float64
			fmt.Sscan(m[2], &v)
			sum += v
		}
	}
	return sum
}

// eventuallyTrue polls ok every 100ms until it holds or within passed.
func eventuallyTrue(t testing.TB, what string, within time.Duration, logs func() string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s\n%s", what, within, logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func logsOf(reps ...*replicaProc) func() string {
	return func() string {
		var b strings.Builder
		for i, r := range reps {
			fmt.Fprintf(&b, "--- replica %d\n%s", i, r.logs.String())
		}
		return b.String()
	}
}

// clockFreeReport is `affinityd report --format json` over ten years of the
// store cfgFile names (its DSN from env), without the fields that tell when
// it ran.
func clockFreeReport(t *testing.T, cfgFile string, env ...string) string {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	code, out, errOut := runCLI(t, "--log.level", "error", "report", "--config.file", cfgFile, "--format", "json", "--since", "3650d")
	if code != 0 {
		t.Fatalf("report: exit %d\n%s%s", code, out, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("report json: %v\n%s", err, out)
	}
	delete(m, "generated")
	delete(m, "window")
	b, _ := json.MarshalIndent(m, "", " ")
	return string(b)
}

// TestReplicasEqualOneSQLiteReplica is the proof that sharing the work
// changes nothing: three replicas against one PostgreSQL and one replica on
// SQLite ingest the same generated corpus from the same local feeds; the
// report (mentions, scores, share of voice of every topic and brand) is the
// same, every post is stored once and counted new by exactly one replica,
// and every source was fetched on schedule by whichever replica held it.
func TestReplicasEqualOneSQLiteReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts PostgreSQL")
	}
	dsn := startPostgres(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	corpus := benchCorpusDir(t, 3000, 40, 8)
	posts := readCorpusPosts(t, corpus)
	const nFeeds = 6
	interval := time.Second
	feeds, sources := corpusFeeds(t, posts, nFeeds, "1s")
	// Near-duplicate collapse is on, as by default: a post is a copy when an
	// earlier-dated similar post exists, whichever was stored first and by
	// which replica (store/neardup.go), so arrival order changes nothing.
	base := corpusConfigYAML(t, corpus) + sources + "scoring: {window: 60d, baseline: 28d, interval: 1s}\n"

	pgCfg := filepath.Join(dir, "pg.yml")
	liteCfg := filepath.Join(dir, "lite.yml")
	if err := os.WriteFile(pgCfg, []byte(base+"store: {driver: postgres}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(liteCfg, []byte(base+fmt.Sprintf("store: {driver: sqlite, path: %q}\n", filepath.Join(dir, "lite.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	lite := startReplica(t, bin, liteCfg)
	var reps []*replicaProc
	for range 3 {
		reps = append(reps, startReplica(t, bin, pgCfg, "AFFINITY_STORE_DSN="+dsn))
	}
	logs := logsOf(append([]*replicaProc{lite}, reps...)...)

	db, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	count := func(q string) int {
		var n int
		if err := db.QueryRow(context.Background(), q).Scan(&n); err != nil {
			return -1 // not migrated yet
		}
		return n
	}
	newPosts := func(rs ...*replicaProc) int {
		n := 0
		for _, r := range rs {
			n += int(r.metricSum(t, "affinity_source_posts_new_total", ""))
		}
		return n
	}
	eventuallyTrue(t, "all posts stored in PostgreSQL", 60*time.Second, logs, func() bool { return count(`SELECT COUNT(*) FROM posts`) == len(posts) })
	eventuallyTrue(t, "all posts stored in SQLite", 60*time.Second, logs, func() bool { return newPosts(lite) == len(posts) })
	if n := newPosts(reps...); n != len(posts) {
		t.Errorf("the replicas counted %d posts new, want %d: a post was taken for new by two", n, len(posts))
	}
	if n := count(`SELECT COUNT(DISTINCT url) FROM posts`); n != len(posts) {
		t.Errorf("%d distinct post URLs stored, want %d", n, len(posts))
	}

	// Let the schedule run on a while, then check every source was fetched
	// at its interval: the fetches of all replicas summed, against the time.
	time.Sleep(5 * interval)
	elapsed := time.Since(start)
	for _, f := range feeds {
		var fetched float64
		for _, r := range reps {
			fetched += r.metricSum(t, "affinity_source_fetches_total", `source="`+f.name+`"`)
		}
		// The clock started before the binaries (start-up takes seconds under
		// -race) and a busy machine delays runs; a third of the schedule is
		// the floor, a source nobody fetched for a while is far below it.
		if want := elapsed.Seconds() / interval.Seconds() / 3; fetched < want {
			t.Errorf("source %s fetched %.0f times by the replicas in %s, want at least %.0f (interval %s)", f.name, fetched, elapsed.Round(time.Second), want, interval)
		}
		if lf := lite.metricSum(t, "affinity_source_fetches_total", `source="`+f.name+`"`); lf < elapsed.Seconds()/interval.Seconds()/3 {
			t.Errorf("source %s fetched %.0f times by the SQLite replica in %s", f.name, lf, elapsed.Round(time.Second))
		}
	}
	for _, r := range append(reps, lite) {
		if v := r.metricSum(t, "affinity_replicas_config_mismatch", ""); v != 0 {
			t.Errorf("affinity_replicas_config_mismatch = %v on replicas of one configuration", v)
		}
	}

	// Stop the daemons so the stores are still, then compare the reports.
	lite.stop()
	for _, r := range reps {
		r.stop()
	}
	pgReport := clockFreeReport(t, pgCfg, "AFFINITY_STORE_DSN="+dsn)
	liteReport := clockFreeReport(t, liteCfg)
	if pgReport != liteReport {
		t.Errorf("the three PostgreSQL replicas' report differs from the SQLite replica's:\n--- sqlite\n%s\n--- postgres\n%s", liteReport, pgReport)
	}
	if !strings.Contains(pgReport, `"topic-0000"`) || !strings.Contains(pgReport, "BrandZ") && !strings.Contains(pgReport, "Brand") {
		t.Errorf("the report lacks the corpus's topics or brands:\n%s", pgReport)
	}
	t.Logf("%d posts over %d feeds; 3 PostgreSQL replicas and 1 SQLite replica agree after %s", len(posts), nFeeds, time.Since(start).Round(time.Second))
}

// TestReplicaRidesOutDatabaseOutage stops PostgreSQL under a running
// replica: /-/ready turns false, the log says so once (not at every run of
// every source and scoring pass), runs pause, and when the database is back
// the replica is ready again and stores everything the feeds and a replay
// file gained meanwhile, each post exactly once (no cursor moved past posts
// that were not committed).
func TestReplicaRidesOutDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts PostgreSQL")
	}
	srv, dsn := startPostgresServer(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	corpus := benchCorpusDir(t, 400, 20, 4)
	posts := readCorpusPosts(t, corpus)
	feedPosts, replayPosts := posts[:300], posts[300:]
	feeds, sources := corpusFeeds(t, feedPosts, 3, "1s")
	for _, f := range feeds {
		f.n.Store(f.n.Load() / 2) // the other half arrives while the database is away
	}
	replay := filepath.Join(dir, "replay.jsonl")
	appendJSONL := func(ps []corpusPost) {
		t.Helper()
		f, err := os.OpenFile(replay, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range ps {
			b, _ := json.Marshal(map[string]any{"id": "r" + p.ID, "url": p.URL + "/r", "author": p.Author,
				"published": p.Published.Format(time.RFC3339), "text": p.Text, "format": "community"})
			if _, err := f.Write(append(b, '\n')); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendJSONL(replayPosts[:50])
	sources += fmt.Sprintf("  - {name: archive, kind: replay, path: %q, interval: 1s}\n", replay)
	cfgFile := filepath.Join(dir, "affinityd.yml")
	if err := os.WriteFile(cfgFile, []byte(corpusConfigYAML(t, corpus)+sources+
		"scoring: {window: 60d, baseline: 28d, interval: 1s}\nstore: {driver: postgres}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startReplica(t, bin, cfgFile, "AFFINITY_STORE_DSN="+dsn)
	logs := logsOf(r)

	db := func() *pgx.Conn {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	count := func(c *pgx.Conn, q string) int {
		var n int
		if err := c.QueryRow(context.Background(), q).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	before := db()
	eventuallyTrue(t, "the first posts stored", 60*time.Second, logs, func() bool { return count(before, `SELECT COUNT(*) FROM posts`) == 150+50 })
	eventuallyTrue(t, "ready", 30*time.Second, logs, r.ready)
	before.Close(context.Background())

	// The database goes away; posts keep arriving.
	logStart := len(r.logs.String())
	if err := srv.Halt(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	for _, f := range feeds {
		f.n.Store(100)
	}
	appendJSONL(replayPosts[50:])
	eventuallyTrue(t, "/-/ready false without the database", 15*time.Second, logs, func() bool { return !r.ready() })
	t.Logf("unready %s after the database stopped", time.Since(down).Round(10*time.Millisecond))
	hitsDown := int64(0)
	for _, f := range feeds {
		hitsDown += f.hits.Load()
	}
	time.Sleep(6 * time.Second) // six source intervals and six scoring passes
	outage := r.logs.String()[logStart:]
	hitsDuring := -hitsDown
	for _, f := range feeds {
		hitsDuring += f.hits.Load()
	}

	// Said once: at most one line per run in flight when it went (each
	// source's failed commit) and one each for leases and scoring, however
	// long the outage lasts.
	var loud []string
	for _, line := range strings.Split(outage, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			loud = append(loud, line)
		}
	}
	t.Logf("%d warnings and errors in 6 s of outage:\n%s", len(loud), strings.Join(loud, "\n"))
	if most := len(feeds) + 1 + 2; len(loud) > most {
		t.Errorf("%d warnings and errors in 6 s of outage, want at most %d (said once, not a flood):\n%s", len(loud), most, strings.Join(loud, "\n"))
	}
	if n := strings.Count(outage, "leases unavailable"); n != 1 {
		t.Errorf("'leases unavailable' logged %d times during the outage, want once:\n%s", n, outage)
	}
	// Runs pause: no source is fetched without a lease to fetch under.
	if hitsDuring > int64(len(feeds)) {
		t.Errorf("the feeds were fetched %d times while the database was away, want runs paused", hitsDuring)
	}

	// The database returns: ready again, and everything is stored once.
	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	after := db()
	eventuallyTrue(t, "every post stored after the database returned", 60*time.Second, logs, func() bool { return count(after, `SELECT COUNT(*) FROM posts`) == len(posts) })
	eventuallyTrue(t, "ready again", 30*time.Second, logs, r.ready)
	t.Logf("all %d posts stored and ready %s after the database returned", len(posts), time.Since(back).Round(10*time.Millisecond))
	if n := count(after, `SELECT COUNT(DISTINCT url) FROM posts`); n != len(posts) {
		t.Errorf("%d distinct posts stored, want %d", n, len(posts))
	}
	if n := int(r.metricSum(t, "affinity_source_posts_new_total", "")); n != len(posts) {
		t.Errorf("affinity_source_posts_new_total = %d, want %d (each post new once)", n, len(posts))
	}
	if !strings.Contains(r.logs.String()[logStart:], "leases available again") {
		t.Errorf("the recovery was not logged:\n%s", r.logs.String()[logStart:])
	}
}

// TestReplicasWarnOnConfigMismatch starts two replicas on one database with
// different configurations (one has a topic more): both warn in the log and
// export affinity_replicas_config_mismatch 1; a third on the first one's
// configuration sees the difference too, and the gauge is 0 for replicas
// alone with their configuration.
func TestReplicasWarnOnConfigMismatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts PostgreSQL")
	}
	dsn := startPostgres(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	feed := newGrowingFeed(t, "news", 3)
	cfg := func(name, extraTopic string) string {
		p := filepath.Join(dir, name)
		body := fmt.Sprintf(`
brand: {name: Acme}
relationships:
  - name: support
    type: personal-assistance
    topics:
      - {name: customer-service, terms: ["customer service"]}
%s
sources:
  - {name: news, kind: feed, url: %q, interval: 1s, format: audience}
scoring: {interval: 1s}
store: {driver: postgres}
`, extraTopic, feed.srv.URL)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := startReplica(t, bin, cfg("a.yml", ""), "AFFINITY_STORE_DSN="+dsn)
	gauge := func(r *replicaProc) float64 { return r.metricSum(t, "affinity_replicas_config_mismatch", "") }
	logs := logsOf(a)
	eventuallyTrue(t, "first replica ready", 60*time.Second, logs, a.ready)
	time.Sleep(2 * time.Second)
	if g := gauge(a); g != 0 {
		t.Errorf("a lone replica reports a config mismatch: %v\n%s", g, logs())
	}
	if strings.Contains(a.logs.String(), "CONFIGURATION MISMATCH") {
		t.Errorf("a lone replica warned of a mismatch:\n%s", logs())
	}

	b := startReplica(t, bin, cfg("b.yml", "      - {name: billing, terms: [invoice]}"), "AFFINITY_STORE_DSN="+dsn)
	logs = logsOf(a, b)
	eventuallyTrue(t, "both replicas see the mismatch", 60*time.Second, logs, func() bool { return gauge(a) == 1 && gauge(b) == 1 })
	eventuallyTrue(t, "both replicas warn", 10*time.Second, logs, func() bool {
		return strings.Contains(a.logs.String(), "CONFIGURATION MISMATCH") && strings.Contains(b.logs.String(), "CONFIGURATION MISMATCH")
	})
	time.Sleep(3 * time.Second) // three scoring passes: warned once, not at each
	for i, r := range []*replicaProc{a, b} {
		if n := strings.Count(r.logs.String(), "CONFIGURATION MISMATCH"); n != 1 {
			t.Errorf("replica %d warned %d times, want once while the mismatch stays the same:\n%s", i, n, r.logs.String())
		}
	}

	// b goes away cleanly (its presence released): a is alone again.
	b.stop()
	eventuallyTrue(t, "the mismatch clears when the other replica leaves", 30*time.Second, logs, func() bool { return gauge(a) == 0 })
	if !strings.Contains(a.logs.String(), "replicas run the same configuration again") {
		t.Errorf("the resolution was not logged:\n%s", a.logs.String())
	}
}
