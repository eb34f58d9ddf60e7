package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinityd/affinityd/store/pgtest"
)

// BenchmarkReplicasIngest measures what 1, 2 and 3 replicas (processes)
// ingest together on one PostgreSQL: the generated corpus
// (AFFINITYD_BENCH_REPLICA_POSTS posts, default 12,000) appears at once on
// twelve local feeds the replicas already poll every second, and the clock
// runs until every post is stored. It reports posts/s, and the database's
// commits/s and rows written/s (pg_stat_database: inserts, updates and
// deletes, lease traffic included) and the database's size per post, what the capacity plan in the README's
// Scaling section is computed from. Run with -benchtime 1x:
//
//	go test ./cmd/affinityd/ -run '^$' -bench BenchmarkReplicasIngest -benchtime 1x
func BenchmarkReplicasIngest(b *testing.B) {
	n := 12_000
	if v := os.Getenv("AFFINITYD_BENCH_REPLICA_POSTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("AFFINITYD_BENCH_REPLICA_POSTS: %v", err)
		}
	}
	srv, err := pgtest.Start(context.Background())
	if err != nil {
		b.Skipf("no PostgreSQL: %v", err)
	}
	b.Cleanup(func() { srv.Stop() })
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	corpus := benchCorpusDir(b, n, 200, 20)
	posts := readCorpusPosts(b, corpus)
	people := corpusConfigYAML(b, corpus)
	// As in BenchmarkIngest: near-duplicate lookups on this templated corpus
	// grow with the store (README, Performance), which would measure that,
	// not how replicas share the work.
	neardup := ""
	if os.Getenv("AFFINITYD_BENCH_NEARDUP") == "off" {
		neardup = "analysis: {near_duplicates: {enabled: false}}\n"
	}

	for _, replicas := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			for range b.N {
				dsn, drop, err := srv.CreateDatabase(context.Background(), fmt.Sprintf("bench_replicas_%d", replicas))
				if err != nil {
					b.Fatal(err)
				}
				feeds, sources := corpusFeeds(b, posts, 12, "1s")
				for _, f := range feeds {
					f.n.Store(0) // the posts appear once every replica polls
				}
				cfgFile := filepath.Join(dir, fmt.Sprintf("r%d.yml", replicas))
				if err := os.WriteFile(cfgFile, []byte(people+sources+neardup+
					"scoring: {window: 60d, baseline: 28d, interval: 10s}\nstore: {driver: postgres}\n"), 0o600); err != nil {
					b.Fatal(err)
				}
				var reps []*replicaProc
				for range replicas {
					reps = append(reps, startReplica(b, bin, cfgFile, "AFFINITY_STORE_DSN="+dsn))
				}
				logs := logsOf(reps...)
				for _, r := range reps {
					eventuallyTrue(b, "replica ready", 120*time.Second, logs, r.ready)
				}
				time.Sleep(3 * time.Second) // the sources are balanced over the replicas

				db, err := pgx.Connect(context.Background(), dsn)
				if err != nil {
					b.Fatal(err)
				}
				stats := func() (commits, rows int64) {
					time.Sleep(1500 * time.Millisecond) // backends publish their counters about every second
					if err := db.QueryRow(context.Background(), `SELECT xact_commit, tup_inserted + tup_updated + tup_deleted
						FROM pg_stat_database WHERE datname = current_database()`).Scan(&commits, &rows); err != nil {
						b.Fatal(err)
					}
					return commits, rows
				}
				c0, w0 := stats()
				b.ResetTimer()
				start := time.Now()
				for _, f := range feeds {
					f.n.Store(f.all)
				}
				var stored int
				eventuallyTrue(b, "all posts stored", 10*time.Minute, logs, func() bool {
					_ = db.QueryRow(context.Background(), `SELECT COUNT(*) FROM posts`).Scan(&stored)
					return stored == len(posts)
				})
				elapsed := time.Since(start)
				b.StopTimer()
				c1, w1 := stats()
				b.ReportMetric(float64(stored)/elapsed.Seconds(), "posts/s")
				b.ReportMetric(float64(c1-c0)/elapsed.Seconds(), "commits/s")
				b.ReportMetric(float64(w1-w0)/elapsed.Seconds(), "rows/s")
				var size int64
				if err := db.QueryRow(context.Background(), `SELECT pg_database_size(current_database())`).Scan(&size); err == nil {
					b.ReportMetric(float64(size)/float64(stored), "db-bytes/post")
				}
				b.ReportMetric(0, "ns/op")
				db.Close(context.Background())
				for _, r := range reps {
					r.stop()
				}
				if err := drop(); err != nil {
					b.Logf("drop database: %v", err)
				}
				b.StartTimer()
			}
		})
	}
}
