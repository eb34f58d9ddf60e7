package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/affinityd/affinityd/store"
	"github.com/affinityd/affinityd/store/pgtest"
)

// startPostgres gives the test a PostgreSQL server (pgtest: AFFINITY_TEST_PG_DSN's
// or a throwaway one) and a new database on it; outside CI it skips when
// none can start.
func startPostgres(t *testing.T) (dsn string) {
	t.Helper()
	_, dsn = startPostgresServer(t)
	return dsn
}

// startPostgresServer is startPostgres that also returns the server, for
// tests that stop and restart it.
func startPostgresServer(t *testing.T) (srv *pgtest.Server, dsn string) {
	t.Helper()
	srv, err := pgtest.Start(context.Background())
	if err != nil {
		if pgtest.Required() {
			t.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		t.Skipf("no PostgreSQL: %v", err)
	}
	t.Cleanup(func() { srv.Stop() })
	dsn, drop, err := srv.CreateDatabase(context.Background(), "cmd_"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drop() })
	return srv, dsn
}

// demoConfig writes the embedded demo's configuration into dir, its replay
// paths made absolute, with store appended.
func demoConfig(t *testing.T, dir, storeYAML string) string {
	t.Helper()
	demo, err := filepath.Abs(filepath.Join("..", "..", "config", "demo"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(demo, "affinityd.yml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "path: posts.jsonl", "path: "+filepath.Join(demo, "posts.jsonl"))
	s = strings.ReplaceAll(s, "path: news.xml", "path: "+filepath.Join(demo, "news.xml"))
	cfg := filepath.Join(dir, "affinityd.yml")
	if err := os.WriteFile(cfg, []byte(s+"\n"+storeYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// withPassword adds a password to dsn; the test server trusts local
// connections, so it is never checked, only carried where it must not leak.
func withPassword(t *testing.T, dsn, pw string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://postgres@") {
		t.Skipf("dsn %s has a user or form this test does not rewrite", store.RedactDSN(dsn))
	}
	return strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:"+pw+"@", 1)
}

func TestPostgresCheckAndMigrate(t *testing.T) {
	const pw = "s3cret-pw"
	dsn := withPassword(t, startPostgres(t), pw)
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := demoConfig(t, dir, "store:\n  driver: postgres\n  dsn:\n    file: dsn\n")
	known := store.KnownSchemaVersion("postgres")
	noLeak := func(step, out, errOut string) {
		t.Helper()
		if strings.Contains(out+errOut, pw) {
			t.Errorf("%s printed the password:\n%s%s", step, out, errOut)
		}
	}

	code, out, errOut := runCLI(t, "check", "--config.file", cfg)
	noLeak("check", out, errOut)
	if want := fmt.Sprintf("reachable, schema version 0 of %d", known); code != 0 || !strings.Contains(out, want) {
		t.Errorf("check of a new database: exit %d, want 0 and %q:\n%s%s", code, want, out, errOut)
	}

	code, out, errOut = runCLI(t, "--log.level", "error", "migrate", "--config.file", cfg)
	noLeak("migrate", out, errOut)
	if want := fmt.Sprintf("schema version %d (up to date)", known); code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "postgres postgres@127.0.0.1:") {
		t.Errorf("migrate: exit %d, want 0 and %q naming the server:\n%s%s", code, want, out, errOut)
	}
	code, out, errOut = runCLI(t, "check", "--config.file", cfg)
	if want := fmt.Sprintf("schema version %d (up to date)", known); code != 0 || !strings.Contains(out, want) {
		t.Errorf("check after migrate: exit %d, want 0 and %q:\n%s%s", code, want, out, errOut)
	}

	// A newer affinityd migrated the database: check says so and fails.
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), `INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	code, out, errOut = runCLI(t, "check", "--config.file", cfg)
	noLeak("check of a newer schema", out, errOut)
	if want := fmt.Sprintf("schema version 999 is newer than this binary knows (%d)", known); code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("check of a newer schema: exit %d, want 1 and %q:\n%s%s", code, want, out, errOut)
	}
	code, _, errOut = runCLI(t, "--log.level", "error", "migrate", "--config.file", cfg)
	if code != 1 || !strings.Contains(errOut, "newer than this binary") {
		t.Errorf("migrate of a newer schema: exit %d, want 1:\n%s", code, errOut)
	}

	// A server nobody listens on, its DSN from AFFINITY_STORE_DSN (the default).
	t.Setenv("AFFINITY_STORE_DSN", "postgres://app:"+pw+"@127.0.0.1:1/affinity?connect_timeout=2")
	cfg = demoConfig(t, dir, "store:\n  driver: postgres\n")
	code, out, errOut = runCLI(t, "check", "--config.file", cfg)
	noLeak("check of an unreachable server", out, errOut)
	if code != 1 || !strings.Contains(errOut, "cannot reach postgres app@127.0.0.1:1/affinity") {
		t.Errorf("check of an unreachable server: exit %d, want 1 naming it:\n%s%s", code, out, errOut)
	}
}

// replayAndReport replays the demo's social posts and news feed into the
// store of cfg, in that order, and returns the replay summaries and the
// report over ten years (the demo's posts have fixed dates), without the
// lines and columns that depend on the clock.
func replayAndReport(t *testing.T, cfg string) string {
	t.Helper()
	demo := filepath.Join("..", "..", "config", "demo")
	var b strings.Builder
	for _, args := range [][]string{
		{"--input", filepath.Join(demo, "posts.jsonl"), "--source", "demo-social"},
		{"--input", filepath.Join(demo, "news.xml"), "--source", "demo-news", "--format", "audience"},
	} {
		code, out, errOut := runCLI(t, append([]string{"--log.level", "error", "replay", "--config.file", cfg}, args...)...)
		if code != 0 {
			t.Fatalf("replay %v: exit %d\n%s%s", args, code, out, errOut)
		}
		b.WriteString(clockFree.ReplaceAllString(out, ""))
	}
	code, out, errOut := runCLI(t, "--log.level", "error", "report", "--config.file", cfg, "--format", "csv", "--since", "3650d")
	if code != 0 {
		t.Fatalf("report: exit %d\n%s%s", code, out, errOut)
	}
	b.WriteString(reportClock.ReplaceAllString(out, ""))
	return b.String()
}

var (
	// clockFree drops what replay's summary measures in time.
	clockFree = regexp.MustCompile(`(?m)^replay [^:]*: (\d+%|\d+ items, ).*$|, [0-9.]+ seconds, [0-9]+ posts/s`)
	// reportClock is the report's window_from,window_to, relative to now.
	reportClock = regexp.MustCompile(`,[0-9T:-]+Z,[0-9T:-]+Z`)
)

// TestReplaySameOnBothDrivers replays the demo into SQLite and into
// PostgreSQL: the summaries (new, duplicate, near-duplicate, matched) and
// the report (scores, mentions, share of voice) must be the same.
func TestReplaySameOnBothDrivers(t *testing.T) {
	t.Setenv("AFFINITY_STORE_DSN", startPostgres(t))
	dir := t.TempDir()
	pgOut := replayAndReport(t, demoConfig(t, dir, "store:\n  driver: postgres\n"))
	liteOut := replayAndReport(t, demoConfig(t, t.TempDir(), "store:\n  driver: sqlite\n  path: "+filepath.Join(dir, "a.db")+"\n"))
	if pgOut != liteOut {
		t.Errorf("replay and report differ between drivers:\n--- sqlite\n%s\n--- postgres\n%s", liteOut, pgOut)
	}
	if !strings.Contains(pgOut, "customer-service") || !strings.Contains(pgOut, "41 new") {
		t.Errorf("replay on postgres lacks the demo's posts or topics:\n%s", pgOut)
	}
}
