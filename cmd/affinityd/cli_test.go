package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte(`brand:
  name: Acme
relationships:
  - name: support
    type: helpdesk
    topics:
      - name: service
        terms: []
sources:
  - name: news
    kind: feed
    url: "not a url"
    format: audience
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "check", "--config.file", bad)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing on error", out)
	}
	for _, want := range []string{
		bad + ":5: relationships[0].type: ",
		bad + ":8: relationships[0].topics[0].terms: ",
		bad + ":12: sources[0].url: ",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	code, out, errOut = runCLI(t, "check")
	if code != 0 || !strings.Contains(out, "embedded demo configuration: ok") || !strings.Contains(out, "series budget") {
		t.Errorf("check of the demo: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "check", "--config.file", filepath.Join(dir, "missing.yml"))
	if code != 1 || !strings.Contains(errOut, "missing.yml") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}

func TestReplaySummary(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "posts.jsonl")
	lines := []string{
		`{"source":"bench","id":"1","url":"https://example.org/post/1","author":"a","published":"2026-11-20T10:00:00Z","lang":"en","title":"","text":"Great customer service from Acme Bank","likes":1,"reposts":0,"replies":0,"format":"network"}`,
		`{"source":"bench","id":"2","url":"https://example.org/post/2","author":"b","published":"2026-11-20T11:00:00Z","lang":"en","title":"","text":"nothing to see","likes":0,"reposts":0,"replies":0,"format":"network"}`,
		`{"source":"bench","id":"3","url":"https://example.org/post/1?utm_source=x","author":"c","published":"2026-11-20T12:00:00Z","lang":"en","title":"","text":"a copy of post 1 about customer service","likes":0,"reposts":0,"replies":0,"format":"network"}`,
		`{not json`,
	}
	if err := os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "a.db")
	code, out, errOut := runCLI(t, "--storage.path", db, "--log.level", "error", "replay", "--input", input)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	re := regexp.MustCompile(`: 3 posts read, 2 new, 1 duplicates, 0 near-duplicates, 1 matched, 1 skipped, [0-9.]+ seconds, [0-9]+ posts/s`)
	if !re.MatchString(out) {
		t.Errorf("summary = %q, want it to match %s", out, re)
	}
	// A second replay of the same file stores nothing new.
	_, out, _ = runCLI(t, "--storage.path", db, "--log.level", "error", "replay", "--input", input)
	if !strings.Contains(out, ": 3 posts read, 0 new, 3 duplicates, 0 near-duplicates, 0 matched") {
		t.Errorf("second replay summary = %q", out)
	}
}

func TestScanDemoTable(t *testing.T) {
	db := filepath.Join(t.TempDir(), "scan.db")
	code, out, errOut := runCLI(t, "--storage.path", db, "--log.level", "error", "scan")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"source demo-social", "source demo-news",
		"RELATIONSHIP", "LEADING COMPETITOR", "customer-service", "open-banking", "Globex",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scan output lacks %q:\n%s", want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.Contains(out, "affinityd, version") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// TestHelpDoesNotRunTheDaemon: --help, help CMD and --version print and exit
// 0; they must not fall through to the default command and start a daemon
// (which would create affinityd.db and fetch the demo sources).
func TestHelpDoesNotRunTheDaemon(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "run"}, {"help", "replay"}, {"replay", "--help"}, {"--version"}} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 {
			t.Errorf("%v: exit %d; stderr:\n%s", args, code, errOut)
		}
		if !strings.Contains(out+errOut, "affinityd") {
			t.Errorf("%v printed no usage or version:\n%s%s", args, out, errOut)
		}
		if strings.Contains(errOut, "msg=") {
			t.Errorf("%v logged as a running daemon would:\n%s", args, errOut)
		}
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("help created files: %v", entries)
	}
}

// TestBinaryServesDemoAndStopsCleanly builds the real binary, runs it with no
// flags but a port and a database, and checks what a first-time user sees.
func TestBinaryServesDemoAndStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "affinityd")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--web.listen-address", addr, "--storage.path", filepath.Join(dir, "demo.db"))
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
	}()

	base := "http://" + addr
	body := waitFor(t, base+"/metrics", func(b string) bool {
		return regexp.MustCompile(`affinity_topic_mentions\{topic="customer-service"\} [1-9]`).MatchString(b)
	}, &logs)
	if !strings.Contains(body, `affinity_source_up{source="demo-social"} 1`) {
		t.Errorf("demo-social not up:\n%s", grepLines(body, "affinity_source_up"))
	}
	waitFor(t, base+"/-/ready", func(b string) bool { return strings.Contains(b, "Ready") }, &logs)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within 30s of SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("logs lack the clean stop line:\n%s", logs.String())
	}
}

// freeAddr is a free port on 127.0.0.1 for a daemon to listen on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitFor polls url until ok accepts the body; bounded, so a broken daemon fails the test.
func waitFor(t *testing.T, url string, ok func(string) bool, logs fmt.Stringer) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	last := ""
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if ok(last) {
				return last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never became as expected; last body:\n%s\nlogs:\n%s", url, last, logs.String())
	return ""
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestStartupFailsBeforeCollecting: a taken port or a broken
// --web.config.file stops the daemon before it opens the store, so a second
// daemon started by mistake never fetches into the first one's database.
func TestStartupFailsBeforeCollecting(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	badWeb := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(badWeb, []byte("tls_server_config: {cert_file: /nonexistent.crt}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"port in use", []string{"--web.listen-address", taken.Addr().String()}, "address already in use"},
		{"broken web config", []string{"--web.listen-address", "127.0.0.1:0", "--web.config.file", badWeb}, "--web.config.file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".db")
			start := time.Now()
			code, _, stderr := runCLI(t, append(c.args, "--storage.path", db)...)
			if code != 1 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, c.want)
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Errorf("the store %s was created (stat: %v): the daemon started before failing", db, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v to fail", d)
			}
		})
	}
}
