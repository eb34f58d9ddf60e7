//go:build linux

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/store"
)

// The corpus generator every load and crash figure is measured on.
const makeCorpusScript = "../../../shared/bench/make-corpus.py"

// envInt reads a positive integer from the environment, else def: the full
// runs of the issue are the same tests with bigger numbers.
func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// buildBinary builds affinityd into dir, so a test can kill a real process.
func buildBinary(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "affinityd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// benchCorpus writes make-corpus.py's corpus into dir and a configuration
// with its topics (each topic phrase a term, its hyphenated form a synonym)
// and brands (the first one own, the rest competitors of the listed kind).
// It returns the configuration file and the JSONL corpus.
func benchCorpus(t testing.TB, dir string, posts, topics, brands int) (cfgFile, corpus string) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed to generate the corpus")
	}
	cmd := exec.Command("python3", makeCorpusScript, "--posts", strconv.Itoa(posts),
		"--topics", strconv.Itoa(topics), "--brands", strconv.Itoa(brands), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-corpus.py: %v\n%s", err, out)
	}
	var y strings.Builder
	q := strconv.Quote
	brandLines := readTSV(t, filepath.Join(dir, "brands.txt"))
	for i, f := range brandLines {
		names := strings.Split(f[2], "; ")
		aliases := make([]string, 0, len(names)-1)
		for _, a := range names[1:] {
			aliases = append(aliases, q(a))
		}
		if i == 0 {
			fmt.Fprintf(&y, "brand: {name: %s, aliases: [%s]}\ncompetitors:\n", q(names[0]), strings.Join(aliases, ", "))
			continue
		}
		fmt.Fprintf(&y, "  - {name: %s, kind: %s, aliases: [%s]}\n", q(names[0]), f[1], strings.Join(aliases, ", "))
	}
	y.WriteString("relationships:\n")
	for i, f := range readTSV(t, filepath.Join(dir, "topics.txt")) {
		if i%100 == 0 {
			fmt.Fprintf(&y, "  - name: rel-%d\n    type: communities\n    topics:\n", i/100)
		}
		phrases := strings.Split(f[1], "; ")
		syn := make([]string, 0, len(phrases)-1)
		for _, p := range phrases[1:] {
			syn = append(syn, q(p))
		}
		fmt.Fprintf(&y, "      - {name: %s, terms: [%s], synonyms: [%s]}\n", f[0], q(phrases[0]), strings.Join(syn, ", "))
	}
	corpus = filepath.Join(dir, "corpus.jsonl")
	fmt.Fprintf(&y, "sources:\n  - {name: corpus, kind: replay, path: %s, format: audience}\n", q(corpus))
	// The corpus spans November 2026; a window over it all keeps scores non-trivial.
	y.WriteString("scoring: {window: 28d, baseline: 28d}\n")
	// AFFINITYD_BENCH_NEARDUP=off measures the pipeline without near-duplicate detection.
	if os.Getenv("AFFINITYD_BENCH_NEARDUP") == "off" {
		y.WriteString("analysis: {near_duplicates: {enabled: false}}\n")
	}
	cfgFile = filepath.Join(dir, "affinityd.yml")
	if err := os.WriteFile(cfgFile, []byte(y.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgFile, corpus
}

// datePast moves the corpus's publication dates back so the newest is two
// days old. The generator dates posts in November 2026, partly after today;
// a post from the future counts at its collection time (affinity.Post.Time),
// which differs between two runs, and so would which of two near-duplicates
// is the earlier.
func datePast(t testing.TB, corpus string) {
	t.Helper()
	raw, err := os.ReadFile(corpus)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	recs := make([]map[string]json.RawMessage, len(lines))
	dates := make([]time.Time, len(lines))
	var newest time.Time
	for i, l := range lines {
		if err := json.Unmarshal(l, &recs[i]); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(recs[i]["published"], &dates[i]); err != nil {
			t.Fatal(err)
		}
		if dates[i].After(newest) {
			newest = dates[i]
		}
	}
	shift := time.Now().Add(-48 * time.Hour).Truncate(time.Minute).Sub(newest)
	var out bytes.Buffer
	for i, rec := range recs {
		rec["published"], _ = json.Marshal(dates[i].Add(shift).UTC())
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	if err := os.WriteFile(corpus, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readTSV(t testing.TB, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		out = append(out, strings.Split(l, "\t"))
	}
	return out
}

// dbCounts is every count a user could see come out of a store, read
// straight from the SQLite file, one "what=value" line each so two stores
// compare line by line.
func dbCounts(t testing.TB, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	for _, q := range []struct{ name, sql string }{
		{"posts", `SELECT 'all', COUNT(*) FROM posts`},
		{"posts_distinct_ids", `SELECT 'all', COUNT(DISTINCT source || '/' || external_id) FROM posts`},
		{"posts_distinct_urls", `SELECT 'all', COUNT(DISTINCT canonical_url) FROM posts WHERE canonical_url <> ''`},
		{"mentions", `SELECT topic || '/' || format, COUNT(*) FROM mentions GROUP BY 1`},
		{"mention_authors", `SELECT topic, COUNT(DISTINCT author) FROM mentions GROUP BY 1`},
		{"topic_totals", `SELECT topic || '/' || format, mentions FROM topic_totals`},
		{"brand_mentions", `SELECT brand, COUNT(*) FROM brand_mentions GROUP BY 1`},
		{"topic_brand_totals", `SELECT topic || '/' || brand, mentions FROM topic_brand_totals`},
		{"post_terms", `SELECT 'all', COUNT(*) FROM post_terms`},
		{"post_orgs", `SELECT 'all', COUNT(*) FROM post_orgs`},
	} {
		rows, err := db.Query(q.sql)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		for rows.Next() {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s[%s]=%d", q.name, k, n))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	var integrity string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil {
		t.Fatal(err)
	}
	out = append(out, "integrity_check="+integrity)
	return out
}

func countOfDB(t testing.TB, counts []string, key string) int {
	t.Helper()
	for _, c := range counts {
		if v, ok := strings.CutPrefix(c, key+"="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no %s in %v", key, counts[:min(len(counts), 5)])
	return 0
}

// diffCounts lists what differs between two dbCounts, at most ten lines.
func diffCounts(want, got []string) []string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, s := range want {
		w[s] = true
	}
	for _, s := range got {
		g[s] = true
	}
	var d []string
	for _, s := range want {
		if !g[s] {
			d = append(d, "- "+s)
		}
	}
	for _, s := range got {
		if !w[s] {
			d = append(d, "+ "+s)
		}
	}
	return d[:min(len(d), 10)]
}

var replaySummary = regexp.MustCompile(`: (\d+) posts read, (\d+) new, (\d+) duplicates`)

// TestReplaySurvivesSIGKILL replays the benchmark corpus once cleanly and
// once with SIGKILL at random moments (seeded, logged), restarting until
// the replay completes. Every count must equal the clean run's, no post may
// be stored twice, SQLite's integrity_check must say ok, and each restart
// must resume at the committed cursor rather than read the file again.
//
// CI runs a small corpus; the full run is
// AFFINITYD_CRASH_POSTS=100000 AFFINITYD_CRASH_KILLS=20 go test -run TestReplaySurvivesSIGKILL -v ./cmd/affinityd/
func TestReplaySurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and replays a corpus several times")
	}
	posts := envInt(t, "AFFINITYD_CRASH_POSTS", 5000)
	kills := envInt(t, "AFFINITYD_CRASH_KILLS", 5)
	seed := uint64(envInt(t, "AFFINITYD_CRASH_SEED", int(time.Now().UnixNano()%1_000_000_000)))
	t.Logf("posts=%d kills=%d seed=%d (rerun with AFFINITYD_CRASH_SEED=%d)", posts, kills, seed, seed)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	cfgFile, corpus := benchCorpus(t, dir, posts, 200, 20)
	datePast(t, corpus)

	// 1,000-post batches, so CI's small corpus still has several commits
	// for kills to land between.
	replay := func(db string) *exec.Cmd {
		return exec.Command(bin, "--config.file", cfgFile, "--storage.path", db, "--log.level", "warn",
			"replay", "--input", corpus, "--source", "corpus", "--batch-size", "1000")
	}

	cleanDB := filepath.Join(dir, "clean.db")
	start := time.Now()
	out, err := replay(cleanDB).CombinedOutput()
	if err != nil {
		t.Fatalf("clean replay: %v\n%s", err, out)
	}
	cleanTook := time.Since(start)
	want := dbCounts(t, cleanDB)
	if n := countOfDB(t, want, "posts[all]"); n != posts {
		t.Fatalf("clean replay stored %d posts, want %d\n%s", n, posts, out)
	}
	// A run's fixed cost (start-up, first batch) is timed on the corpus's
	// first 1,000 lines, one batch: kills before it only ever hit start-up.
	raw, err := os.ReadFile(corpus)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(raw, []byte("\n"))
	first := filepath.Join(dir, "first.jsonl")
	if err := os.WriteFile(first, bytes.Join(lines[:min(1000, len(lines))], nil), 0o600); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if out, err := exec.Command(bin, "--config.file", cfgFile, "--storage.path", filepath.Join(dir, "first.db"),
		"replay", "--input", first).CombinedOutput(); err != nil {
		t.Fatalf("replay of one batch: %v\n%s", err, out)
	}
	oneBatch := time.Since(start)
	work := max(cleanTook-oneBatch, time.Millisecond)
	t.Logf("clean replay: %s; start-up and first batch: %s", cleanTook.Round(time.Millisecond), oneBatch.Round(time.Millisecond))

	// Each kill lands after half a run's fixed cost plus a uniform share of
	// up to twice an even part of the rest of the work, so the kills spread
	// over the whole replay; some still hit start-up or the first batch.
	rng := rand.New(rand.NewPCG(seed, seed))
	crashDB := filepath.Join(dir, "crash.db")
	killed, lastCursor := 0, 0
	for run := 1; killed < kills; run++ {
		if run > 10*kills {
			t.Fatalf("%d runs without %d kills landing: the replay finishes too fast for this corpus", run, kills)
		}
		remaining := float64(work) * float64(posts-lastCursor) / float64(posts)
		delay := oneBatch/2 + time.Duration(rng.Float64()*(float64(oneBatch)/2+2*remaining/float64(kills-killed)))
		cmd := replay(crashDB)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d exited before its kill: %v\n%s", run, err, logs.String())
			}
			t.Logf("run %d: finished before its kill at %s; starting over on a new store", run, delay.Round(time.Millisecond))
			// Every kill counted must have hit the store that is compared.
			if err := removeDB(crashDB); err != nil {
				t.Fatal(err)
			}
			killed, lastCursor = 0, 0
			continue
		case <-time.After(delay):
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		if err := <-done; err == nil {
			// It finished in the same instant: as above.
			if err := removeDB(crashDB); err != nil {
				t.Fatal(err)
			}
			killed, lastCursor = 0, 0
			continue
		}
		killed++
		cursor := savedCursor(t, crashDB)
		if cursor < lastCursor {
			t.Fatalf("run %d: cursor went back from %d to %d", run, lastCursor, cursor)
		}
		t.Logf("kill %d/%d: run %d SIGKILLed after %s, cursor %d of %d", killed, kills, run, delay.Round(time.Millisecond), cursor, posts)
		lastCursor = cursor
	}
	// The run that completes must start at the cursor the last kill left.
	out, err = replay(crashDB).CombinedOutput()
	if err != nil {
		t.Fatalf("final replay: %v\n%s", err, out)
	}
	m := replaySummary.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no summary in final replay output:\n%s", out)
	}
	read, _ := strconv.Atoi(string(m[1]))
	if lastCursor > 0 && lastCursor < posts && read != posts-lastCursor {
		t.Errorf("final run read %d posts, want %d: it must resume after line %d, not start over\n%s", read, posts-lastCursor, lastCursor, out)
	}
	if lastCursor > 0 && lastCursor < posts && !strings.Contains(string(out), fmt.Sprintf("resuming after line %d", lastCursor)) {
		t.Errorf("final run does not say where it resumed:\n%s", out)
	}

	got := dbCounts(t, crashDB)
	if d := diffCounts(want, got); len(d) > 0 {
		t.Errorf("counts after %d kills differ from the clean run's (seed %d):\n%s", kills, seed, strings.Join(d, "\n"))
	}
	if n := countOfDB(t, got, "posts_distinct_ids[all]"); n != countOfDB(t, got, "posts[all]") {
		t.Errorf("%d distinct post ids among %d posts: a post is stored twice", n, countOfDB(t, got, "posts[all]"))
	}
	if !slices.Contains(got, "integrity_check=ok") {
		t.Errorf("PRAGMA %s", got[len(got)-1])
	}
}

// savedCursor reads the replay's committed cursor (0 when none yet).
func savedCursor(t testing.TB, dbFile string) int {
	t.Helper()
	if _, err := os.Stat(dbFile); os.IsNotExist(err) {
		return 0
	}
	st, err := store.OpenSQLite(context.Background(), dbFile, nil)
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	defer st.Close()
	s, ok, err := st.SourceState(context.Background(), "corpus")
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(s.Cursor)
	if err != nil {
		t.Fatalf("cursor %q: %v", s.Cursor, err)
	}
	return n
}

func removeDB(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// setFileSizeLimit sets RLIMIT_FSIZE of process pid (prlimit(2)): the kernel
// then refuses to grow any file of it past limit bytes, as a full disk does.
// Unlike chmod it binds root too, so the test means the same in CI.
func setFileSizeLimit(pid int, limit uint64) error {
	lim := syscall.Rlimit{Cur: limit, Max: ^uint64(0)}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE,
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

func appendPosts(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Words drawn per post keep the posts apart for near-duplicate detection.
	words := strings.Fields("account advisor app banking billing branch budget card checkout community dashboard " +
		"delivery discount experience feature fees feedback forum help invoice loan loyalty member mobile onboarding " +
		"order outage payment plan portal price privacy refund release review savings security shipping signup")
	for i := from; i < to; i++ {
		r := rand.New(rand.NewPCG(uint64(i), 7))
		var text []string
		for range 12 {
			text = append(text, words[r.IntN(len(words))])
		}
		fmt.Fprintf(f, `{"id":"%d","url":"https://example.org/post/%d","author":"a%d","published":"2026-11-20T10:00:00Z","text":"%s customer service %s"}`+"\n",
			i, i, i%7, strings.Join(text[:6], " "), strings.Join(text[6:], " "))
	}
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFullDiskMakesUnreadyAndLosesNothing runs the daemon on a replay file
// and takes its disk space away (RLIMIT_FSIZE on the process: writes past
// the files' size fail as on a full disk) while posts keep arriving: the
// log names the failure, /-/ready turns 503 and says why, the cursor stays
// where the last commit left it; once space returns every post is stored
// exactly once and readiness comes back.
func TestFullDiskMakesUnreadyAndLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	posts := filepath.Join(dir, "posts.jsonl")
	appendPosts(t, posts, 0, 200)
	cfgFile := filepath.Join(dir, "affinityd.yml")
	if err := os.WriteFile(cfgFile, []byte(`
brand: {name: Acme}
relationships:
  - name: support
    type: personal-assistance
    topics:
      - {name: customer-service, terms: ["customer service"]}
sources:
  - {name: posts, kind: replay, path: posts.jsonl, interval: 1s, format: network}
scoring: {window: 3650d, baseline: 28d, interval: 1s}
store: {retention: 4000d}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "a.db")
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file", cfgFile, "--storage.path", db, "--web.listen-address", addr)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := "http://" + addr
	newTotal := regexp.MustCompile(`(?m)^affinity_source_posts_new_total\{source="posts"\} (\d+)$`)
	waitNew := func(want string) {
		t.Helper()
		waitFor(t, base+"/metrics", func(b string) bool {
			m := newTotal.FindStringSubmatch(b)
			return m != nil && m[1] == want
		}, logs)
	}
	waitNew("200")
	waitFor(t, base+"/-/ready", func(string) bool { code, _ := httpGet(base + "/-/ready"); return code == 200 }, logs)

	// The disk fills up: no file of the daemon may grow by a byte.
	if err := setFileSizeLimit(cmd.Process.Pid, 0); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	appendPosts(t, posts, 200, 300)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), "commit failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no commit failure logged with the disk full:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ready string
	for {
		code, body := httpGet(base + "/-/ready")
		if code == http.StatusServiceUnavailable {
			ready = body
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/-/ready stays %d with the disk full", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(ready, "store cannot write") {
		t.Errorf("/-/ready body %q does not say the store cannot write", ready)
	}
	line := grepLines(logs.String(), "commit failed")
	if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "source=posts") {
		t.Errorf("commit failure not logged as an error of the source:\n%s", line)
	}
	t.Logf("with the disk full: /-/ready says %q; the log: %s", strings.TrimSpace(ready), strings.SplitN(line, "\n", 2)[0])
	if c := savedCursorOf(t, db, "posts"); c != 200 {
		t.Errorf("cursor = %d with the disk full, want 200 (only committed lines count)", c)
	}

	// Space returns: the 100 waiting posts are stored, once.
	if err := setFileSizeLimit(cmd.Process.Pid, ^uint64(0)); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	waitNew("300")
	waitFor(t, base+"/-/ready", func(string) bool { code, _ := httpGet(base + "/-/ready"); return code == 200 }, logs)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	got := dbCounts(t, db)
	if n := countOfDB(t, got, "posts[all]"); n != 300 {
		t.Errorf("%d posts stored, want 300", n)
	}
	if n := countOfDB(t, got, "topic_totals[customer-service/network]"); n != 300 {
		t.Errorf("customer-service total %d, want 300: nothing lost, nothing twice", n)
	}
	if !slices.Contains(got, "integrity_check=ok") {
		t.Errorf("integrity_check is not ok: %v", got[len(got)-1])
	}
}

// savedCursorOf reads a source's committed cursor from a database another
// process has open (a read-only connection, WAL lets it).
func savedCursorOf(t testing.TB, dbFile, source string) int {
	t.Helper()
	db, err := sql.Open("sqlite", dbFile+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var c string
	if err := db.QueryRow(`SELECT cursor FROM source_state WHERE source = ?`, source).Scan(&c); err != nil {
		t.Fatalf("cursor of %s: %v", source, err)
	}
	n, _ := strconv.Atoi(c)
	return n
}

// TestReplayResumesAtCommittedLine: a replay interrupted after a commit
// continues at that line on the same file, and only on the same file.
func TestReplayResumesAtCommittedLine(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "posts.jsonl")
	appendPosts(t, input, 0, 2500)
	db := filepath.Join(dir, "a.db")
	code, out, errOut := runCLI(t, "--storage.path", db, "--log.level", "error", "replay", "--input", input)
	if code != 0 || !strings.Contains(out, ": 2500 posts read, 2500 new") {
		t.Fatalf("first replay: exit %d\n%s%s", code, out, errOut)
	}
	// Move the cursor back to line 2000 of this file, as a kill after the
	// second commit leaves it (the later posts, stored here, come back as duplicates).
	st, err := store.OpenSQLite(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	saved, _, err := st.SourceState(context.Background(), "replay")
	if err != nil || saved.Cursor != "2500" {
		t.Fatalf("saved state %+v, %v", saved, err)
	}
	saved.Cursor = "2000"
	if _, err := st.Commit(context.Background(), affinity.Batch{Source: "replay", State: &saved}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, out, _ = runCLI(t, "--storage.path", db, "--log.level", "error", "replay", "--input", input)
	if !strings.Contains(out, "resuming after line 2000") || !strings.Contains(out, ": 500 posts read, 0 new, 500 duplicates") {
		t.Errorf("replay after an interruption does not resume at line 2000:\n%s", out)
	}
	// Another file under the same source name starts at its first line.
	other := filepath.Join(dir, "other.jsonl")
	appendPosts(t, other, 5000, 5100)
	_, out, _ = runCLI(t, "--storage.path", db, "--log.level", "error", "replay", "--input", other)
	if strings.Contains(out, "resuming") || !strings.Contains(out, ": 100 posts read, 100 new") {
		t.Errorf("a different file resumed at another file's cursor:\n%s", out)
	}
}
