package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// fakeClock advances only when the test says so.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time           { return c.t }
func (c *fakeClock) add(d time.Duration)      { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock                { return &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)} }
func lines(s string) []string                 { return strings.Split(strings.TrimRight(s, "\n"), "\n") }
func countOf(s string, re *regexp.Regexp) int { return len(re.FindAllString(s, -1)) }

func TestProgressPlain(t *testing.T) {
	for _, c := range []struct {
		name      string
		total     int64
		step      int64         // units per update
		every     time.Duration // clock advance per update
		updates   int
		wantLines int
		wantLast  string
	}{
		// A line at each tenth, none between: 100 updates, 10 lines, Finish adds none.
		{"a line per tenth", 1000, 10, 100 * time.Millisecond, 100, 10, "test: 100% 1000/1000 lines, 100 lines/s, done in 10s"},
		// Slow work still says something every plainEvery.
		{"a line every ten seconds when slow", 1000, 1, 11 * time.Second, 5, 5 + 1, "test:   0% 5/1000 lines, 0.1 lines/s, ETA 3h2m25s"},
		// Unknown total: time-based lines only, then the final count.
		{"unknown total", 0, 100, time.Second, 25, 2 + 1, "test: 2500 lines, 100 lines/s, 25s elapsed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			clk := newFakeClock()
			p := newProgress(&out, false, "test", "lines", c.total, clk.now)
			for i := 1; i <= c.updates; i++ {
				clk.add(c.every)
				p.Update(int64(i) * c.step)
			}
			p.Finish()
			got := lines(out.String())
			if len(got) != c.wantLines {
				t.Errorf("%d lines, want %d:\n%s", len(got), c.wantLines, out.String())
			}
			if last := got[len(got)-1]; last != c.wantLast {
				t.Errorf("last line = %q, want %q", last, c.wantLast)
			}
			if strings.ContainsAny(out.String(), "\r\x1b") {
				t.Errorf("control characters in plain output: %q", out.String())
			}
		})
	}
}

func TestProgressTerminal(t *testing.T) {
	var out bytes.Buffer
	clk := newFakeClock()
	p := newProgress(&out, true, "replay posts.jsonl", "lines", 200, clk.now)
	clk.add(10 * time.Second)
	p.Update(50)
	clk.add(10 * time.Millisecond)
	p.Update(51) // too soon after the last redraw: not drawn
	clk.add(30 * time.Second)
	p.Update(200)
	p.Finish()
	s := out.String()
	want := "\rreplay posts.jsonl: [#######-----------------------]  25% 50/200 lines, 5.0 lines/s, ETA 30s\x1b[K"
	if !strings.HasPrefix(s, want) {
		t.Errorf("first draw = %q, want %q", s, want)
	}
	if strings.Contains(s, "51/200") {
		t.Errorf("redrew within %v: %q", ttyEvery, s)
	}
	if !strings.Contains(s, "[##############################] 100% 200/200 lines") || !strings.HasSuffix(s, "done in 40s\x1b[K\n") {
		t.Errorf("final draw = %q", s)
	}
}

func TestCountLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"", 0}, {"a", 1}, {"a\n", 1}, {"a\nb", 2}, {"a\n\nb\n", 3}, {strings.Repeat("x\n", 300000), 300000},
	} {
		got, err := countLines(strings.NewReader(c.in))
		if err != nil || got != c.want {
			t.Errorf("countLines(%.10q…) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestConsumed(t *testing.T) {
	for _, c := range []struct {
		cursor string
		done   batchStats
		want   int64
	}{
		{"1500", batchStats{Scanned: 1400, Skipped: 3}, 1500},
		{"", batchStats{Scanned: 7, Skipped: 2}, 9},
		{"opaque", batchStats{Scanned: 1}, 1},
	} {
		if got := consumed(c.done, affinity.SourceState{Cursor: c.cursor}); got != c.want {
			t.Errorf("consumed(%q) = %d, want %d", c.cursor, got, c.want)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Error("a regular file or a buffer is not a terminal")
	}
}

// TestReplayShowsProgress replays more than one batch (--batch-size 1000)
// through the command: without a terminal it prints plain lines ending at
// 100 %, then the summary.
func TestReplayShowsProgress(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "posts.jsonl")
	var b strings.Builder
	for i := range 2500 {
		fmt.Fprintf(&b, `{"id":"%d","url":"https://example.org/%d","author":"a%d","published":"2026-11-20T10:00:00Z","text":"customer service %d"}`+"\n", i, i, i%50, i)
	}
	if err := os.WriteFile(input, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "--storage.path", filepath.Join(dir, "a.db"), "--log.level", "error", "replay", "--input", input, "--batch-size", "1000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	re := regexp.MustCompile(`(?m)^replay posts\.jsonl: +\d+% \d+/2500 lines, [\d.]+ lines/s, (ETA|done in) \S+$`)
	if n := countOf(out, re); n < 2 {
		t.Errorf("%d progress lines, want at least 2 (1000 and 2000 of 2500 cross tenths):\n%s", n, out)
	}
	if !strings.Contains(out, "100% 2500/2500 lines") {
		t.Errorf("no final progress line:\n%s", out)
	}
	if l := lines(out); !strings.Contains(l[len(l)-1], "2500 posts read, 2500 new") {
		t.Errorf("summary is not the last line:\n%s", out)
	}
}
