//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/analysis"
	"github.com/affinityd/affinityd/collector"
	"github.com/affinityd/affinityd/config"
	"github.com/affinityd/affinityd/store"
)

// The load figures of the README. They are benchmarks that print a table
// row each, not timed tests; run them once each with
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m ./cmd/affinityd/
//
// AFFINITYD_BENCH_POSTS (default 100000) sizes the corpus and
// AFFINITYD_BENCH_HISTORY (default 1000000) the stored history.

func benchPosts(b *testing.B) int   { return envInt(b, "AFFINITYD_BENCH_POSTS", 100_000) }
func benchHistory(b *testing.B) int { return envInt(b, "AFFINITYD_BENCH_HISTORY", 1_000_000) }

func printFigure(what, value, goal string) {
	fmt.Printf("| %s | %s | %s |\n", what, value, goal)
}

func fileMB(paths ...string) float64 {
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return float64(n) / (1 << 20)
}

// BenchmarkIngest: `affinityd replay` of make-corpus.py's corpus (1,000
// topics, 50 brands) into a new store, end to end as a user runs it: posts/s
// over the process's whole life (start-up included) and its peak RSS.
func BenchmarkIngest(b *testing.B) {
	posts := benchPosts(b)
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	cfgFile, corpus := benchCorpus(b, dir, posts, 1000, 50)
	db := filepath.Join(dir, "ingest.db")
	for range b.N {
		if err := removeDB(db); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "--config.file", cfgFile, "--storage.path", db, "--log.level", "warn",
			"replay", "--input", corpus, "--source", "corpus")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		if err != nil {
			b.Fatalf("replay: %v\n%s", err, out)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		rate := float64(posts) / took.Seconds()
		peak := float64(ru.Maxrss) / 1024
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		b.ReportMetric(rate, "posts/s")
		b.ReportMetric(peak, "peak-RSS-MB")
		printFigure(fmt.Sprintf("ingest: `affinityd replay` of %d posts, 1,000 topics, 50 brands (%d CPUs)", posts, runtime.NumCPU()),
			fmt.Sprintf("%.0f posts/s end to end (%.1f s wall, %.1f s CPU)", rate, took.Seconds(), cpu.Seconds()), "≥ 10,000 posts/s")
		printFigure("ingest: peak RSS", fmt.Sprintf("%.0f MB", peak), "< 200 MB")
		printFigure("ingest: database size", fmt.Sprintf("%.0f MB for %d posts", fileMB(db, db+"-wal"), posts), "")
	}
}

// readCorpus analyzes the corpus once in this process, as the pipeline does,
// and returns it with the configured near-duplicate rule.
func readCorpus(b *testing.B, cfgFile, corpus string) ([]affinity.AnalyzedPost, affinity.NearDupRule) {
	cfg, err := config.Load(cfgFile)
	if err != nil {
		b.Fatal(err)
	}
	an, err := analysis.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	src, err := collector.Kinds["replay"](config.Source{Name: "corpus", Kind: "replay", Path: corpus, Format: "audience"},
		collector.Options{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	var out []affinity.AnalyzedPost
	state := affinity.SourceState{Source: "corpus"}
	for {
		res, err := src.Fetch(context.Background(), state)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, an.AnalyzeBatch(res.Posts)...)
		state = res.State
		if !res.More {
			return out, an.NearDupRule()
		}
	}
}

// historyNow is "now" for the stored history: the corpus is dated November
// 2026, copy k of it is moved k·28 days back.
var historyNow = time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)

// BenchmarkStoredHistory fills a store with AFFINITYD_BENCH_HISTORY posts
// (the analyzed corpus committed again and again under new ids, each copy
// 28 days older, so the history spans months like a real one), then
// measures a full scoring pass (7d window, 28d baseline, every topic), the
// daemon's RSS serving that store, and the database size per million posts.
func BenchmarkStoredHistory(b *testing.B) {
	posts, history := benchPosts(b), benchHistory(b)
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	cfgFile, corpus := benchCorpus(b, dir, posts, 1000, 50)
	// Near-duplicate keys are stored as the daemon stores them (unless
	// AFFINITYD_BENCH_NEARDUP=off), so the run below loads their index and
	// the fill is a backfill older than the index, copy after copy.
	analyzed, nearDup := readCorpus(b, cfgFile, corpus)
	db := filepath.Join(dir, "history.db")
	st, err := store.OpenSQLite(context.Background(), db, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	stored := 0
	for k := 0; stored < history; k++ {
		shift := time.Duration(k) * 28 * 24 * time.Hour
		for chunk := range slices.Chunk(analyzed, 1000) {
			batch := make([]affinity.AnalyzedPost, 0, len(chunk))
			for _, ap := range chunk {
				if stored+len(batch) == history {
					break
				}
				p := ap.Post
				p.ID = fmt.Sprintf("%d-%s", k, p.ID)
				p.URL = fmt.Sprintf("https://example.org/post/%d/%s", k, ap.Post.ID)
				p.Published = p.Published.Add(-shift)
				p.Collected = p.Published
				batch = append(batch, affinity.AnalyzedPost{Post: p, Analysis: ap.Analysis})
			}
			if len(batch) == 0 {
				break
			}
			res, err := st.Commit(ctx, affinity.Batch{Source: "corpus", Posts: batch, NearDup: nearDup,
				State: &affinity.SourceState{Source: "corpus", Cursor: strconv.Itoa(stored + len(batch))}})
			if err != nil || res.New != len(batch) {
				b.Fatalf("commit: %+v, %v", res, err)
			}
			stored += len(batch)
		}
	}
	fill := time.Since(start)
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	size := fileMB(db, db+"-wal")
	printFigure(fmt.Sprintf("history: store %d analyzed posts (commits only)", stored),
		fmt.Sprintf("%.0f posts/s", float64(stored)/fill.Seconds()), "")
	printFigure("history: database size", fmt.Sprintf("%.0f MB per million posts", size/float64(stored)*1e6), "")

	// The daemon on that store reads an empty replay file: only scoring and serving.
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	runCfg := filepath.Join(dir, "run.yml")
	cfgText, err := os.ReadFile(cfgFile)
	if err != nil {
		b.Fatal(err)
	}
	// The daemon's default window (7d) over the history, not the corpus's 28d.
	runText := strings.NewReplacer(strconv.Quote(corpus), strconv.Quote(empty),
		"scoring: {window: 28d, baseline: 28d}", "scoring: {window: 7d, baseline: 28d}").Replace(string(cfgText))
	if err := os.WriteFile(runCfg, []byte(runText), 0o600); err != nil {
		b.Fatal(err)
	}
	g := globalFlags{configFile: runCfg, storagePath: db}
	l, err := loadConfig(g)
	if err != nil {
		b.Fatal(err)
	}
	d, err := newDaemon(ctx, g, l, discardLogger())
	if err != nil {
		b.Fatal(err)
	}
	d.now = func() time.Time { return historyNow }
	gen, err := d.build(l)
	if err != nil {
		b.Fatal(err)
	}
	d.gen.Store(gen)
	var passes []time.Duration
	for range 3 {
		start := time.Now()
		if err := d.score(ctx); err != nil {
			b.Fatal(err)
		}
		passes = append(passes, time.Since(start))
	}
	_ = d.close()
	slices.Sort(passes)
	b.ReportMetric(passes[1].Seconds(), "scoring-s")
	printFigure(fmt.Sprintf("history: full scoring pass, %d topics, 7d window + 28d baseline over %d posts", len(gen.cfg.Topics()), stored),
		fmt.Sprintf("%.2f s (median of 3; first %.2f s)", passes[1].Seconds(), passes[len(passes)-1].Seconds()), "< 2 s")

	addr := freeAddr(b)
	cmd := exec.Command(bin, "--config.file", runCfg, "--storage.path", db, "--web.listen-address", addr, "--log.level", "warn")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitBench(b, func() bool { code, _ := httpGet("http://" + addr + "/-/ready"); return code == 200 }, logs)
	for range 5 { // a few scrapes and API reads, as Prometheus and a person would
		httpGet("http://" + addr + "/metrics")
		httpGet("http://" + addr + "/api/v1/topics")
	}
	hwm, rss := procMemory(b, cmd.Process.Pid)
	b.ReportMetric(hwm, "daemon-peak-RSS-MB")
	printFigure(fmt.Sprintf("history: `affinityd run` on %d posts, RSS after start-up scoring and scrapes", stored),
		fmt.Sprintf("%.0f MB now, %.0f MB peak", rss, hwm), "< 250 MB")
}

// procMemory reads VmHWM (peak) and VmRSS of a process in MB.
func procMemory(b testing.TB, pid int) (hwm, rss float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmHWM:":
			hwm = kb / 1024
		case "VmRSS:":
			rss = kb / 1024
		}
	}
	return hwm, rss
}

// waitBench polls ok for up to five minutes: a store of a million posts
// takes a while to score at start-up.
func waitBench(b testing.TB, ok func() bool, logs fmt.Stringer) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			b.Fatalf("daemon never became ready:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkScrapeWhileIngesting runs the daemon with 1,000 topics and 20
// brands on a replay source of the corpus and scrapes /metrics back to back
// from this process (a second process to the daemon) while it ingests:
// exposition size and scrape latency percentiles.
func BenchmarkScrapeWhileIngesting(b *testing.B) {
	posts := benchPosts(b)
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	cfgFile, _ := benchCorpus(b, dir, posts, 1000, 20)
	addr := freeAddr(b)
	cmd := exec.Command(bin, "--config.file", cfgFile, "--storage.path", filepath.Join(dir, "scrape.db"),
		"--web.listen-address", addr, "--log.level", "warn")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := "http://" + addr
	waitBench(b, func() bool { code, _ := httpGet(base + "/metrics"); return code == 200 }, logs)

	newTotal := regexp.MustCompile(`(?m)^affinity_source_posts_new_total\{source="corpus"\} (\d+)$`)
	client := &http.Client{Timeout: time.Minute}
	var lat []time.Duration
	var size, series, ingested int
	start := time.Now()
	for time.Since(start) < 10*time.Minute {
		t0 := time.Now()
		resp, err := client.Get(base + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		size = len(body)
		if m := newTotal.FindSubmatch(body); m != nil {
			ingested, _ = strconv.Atoi(string(m[1]))
		}
		if ingested >= posts {
			series = 0
			for _, l := range strings.Split(string(body), "\n") {
				if l != "" && !strings.HasPrefix(l, "#") {
					series++
				}
			}
			break
		}
	}
	took := time.Since(start)
	if ingested < posts {
		b.Fatalf("ingested %d of %d posts in %s", ingested, posts, took)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(float64(pct(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	printFigure("scrape: /metrics exposition, 1,000 topics × 20 brands",
		fmt.Sprintf("%.1f MB, %d series", float64(size)/(1<<20), series), "")
	printFigure(fmt.Sprintf("scrape: latency, %d back-to-back scrapes while ingesting %d posts (%.0f posts/s meanwhile)", len(lat), posts, float64(posts)/took.Seconds()),
		fmt.Sprintf("p50 %s, p99 %s, max %s", pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond)), "")
}
