package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// Progress output for long one-shot work (replay). On a terminal it redraws
// one line with a bar, rate and ETA; anywhere else (a pipe, a file, CI logs)
// it prints a plain line at each tenth of the work and at least every
// plainEvery, because carriage returns make a mess of logs.
const (
	plainEvery = 10 * time.Second
	ttyEvery   = 100 * time.Millisecond // redraws faster than this only flicker
	barWidth   = 30
)

type progress struct {
	w     io.Writer
	tty   bool
	label string
	unit  string
	total int64 // 0: unknown, no bar and no ETA
	now   func() time.Time

	start    time.Time
	done     int64
	lastOut  time.Time
	lastTick int64 // tenths of total already printed (plain mode)
}

func newProgress(w io.Writer, tty bool, label, unit string, total int64, now func() time.Time) *progress {
	if now == nil {
		now = time.Now
	}
	t := now()
	return &progress{w: w, tty: tty, label: label, unit: unit, total: total, now: now, start: t, lastOut: t}
}

// isTerminal reports whether w is a character device, the portable test for
// a terminal without golang.org/x/term (/dev/null is one too, harmlessly).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update records that done units are finished.
func (p *progress) Update(done int64) {
	p.done = done
	now := p.now()
	if p.tty {
		if now.Sub(p.lastOut) >= ttyEvery || (p.total > 0 && done >= p.total) {
			p.draw(now)
		}
		return
	}
	tick := int64(0)
	if p.total > 0 {
		tick = min(done*10/p.total, 10)
	}
	if tick > p.lastTick || now.Sub(p.lastOut) >= plainEvery {
		p.lastTick = max(p.lastTick, tick)
		p.line(now)
	}
}

// Finish prints the final state and leaves the cursor on a fresh line, so
// what follows (the summary) is not glued to the bar.
func (p *progress) Finish() {
	now := p.now()
	if p.tty {
		p.draw(now)
		fmt.Fprintln(p.w)
		return
	}
	if p.total == 0 || p.lastTick < 10 {
		p.line(now)
	}
}

func (p *progress) draw(now time.Time) {
	p.lastOut = now
	// \r returns to the line start, \x1b[K clears what a longer line left.
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.render(now, true))
}

func (p *progress) line(now time.Time) {
	p.lastOut = now
	fmt.Fprintln(p.w, p.render(now, false))
}

// render is one status line: label, bar (terminal only), counts, rate, ETA.
func (p *progress) render(now time.Time, bar bool) string {
	var b strings.Builder
	b.WriteString(p.label)
	b.WriteString(": ")
	elapsed := now.Sub(p.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done) / elapsed.Seconds()
	}
	if p.total > 0 {
		frac := min(float64(p.done)/float64(p.total), 1)
		if bar {
			full := int(frac * barWidth)
			b.WriteString("[" + strings.Repeat("#", full) + strings.Repeat("-", barWidth-full) + "] ")
		}
		fmt.Fprintf(&b, "%3.0f%% %d/%d %s", frac*100, p.done, p.total, p.unit)
	} else {
		fmt.Fprintf(&b, "%d %s", p.done, p.unit)
	}
	prec := 0
	if rate < 10 {
		prec = 1 // "0 lines/s" would read as stalled
	}
	fmt.Fprintf(&b, ", %.*f %s/s", prec, rate, p.unit)
	switch {
	case p.total > 0 && p.done >= p.total:
		fmt.Fprintf(&b, ", done in %s", roundDuration(elapsed))
	case p.total > 0 && rate > 0:
		fmt.Fprintf(&b, ", ETA %s", roundDuration(time.Duration(float64(p.total-p.done)/rate*float64(time.Second))))
	default:
		fmt.Fprintf(&b, ", %s elapsed", roundDuration(elapsed))
	}
	return b.String()
}

// roundDuration keeps ETAs readable: whole seconds, tenths under ten seconds.
func roundDuration(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// countLines counts the lines of a file (a last line without a newline
// counts), reading it once in large chunks: at disk speed, so knowing the
// total costs far less than replaying it.
func countLines(r io.Reader) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	last := byte('\n')
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += int64(bytes.Count(buf[:k], []byte{'\n'}))
			last = buf[k-1]
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if last != '\n' {
		n++
	}
	return n, nil
}

// replayProgress is the progress display of `affinityd replay`. A JSONL
// file's lines are counted first so there is a total and an ETA; a feed file
// is parsed whole by the source anyway, so it only shows a count.
func replayProgress(input string, stdout io.Writer) *progress {
	label, unit, total := "replay "+filepath.Base(input), "items", int64(0)
	if strings.EqualFold(filepath.Ext(input), ".jsonl") {
		unit = "lines"
		if f, err := os.Open(input); err == nil {
			total, _ = countLines(f) // best effort: without a total there is no ETA, nothing worse
			_ = f.Close()
		}
	}
	return newProgress(stdout, isTerminal(stdout), label, unit, total, time.Now)
}

// consumed is how far a replay is: the replay source's cursor counts the
// records it consumed, bad and blank lines included, which is what the line
// count measures. Any other cursor falls back to the posts seen.
func consumed(done batchStats, next affinity.SourceState) int64 {
	if n, err := strconv.ParseInt(next.Cursor, 10, 64); err == nil {
		return n
	}
	return int64(done.Scanned + done.Skipped)
}
