package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

// memFiles serves files from memory and counts opens and bytes read, so
// tests can tell a file read once from one re-read per chunk.
type memFiles struct {
	mu    sync.Mutex
	files map[string][]byte
	opens int
	read  int64
}

func (m *memFiles) Open(name string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	m.opens++
	return io.NopCloser(&countingReader{r: bytes.NewReader(b), m: m}), nil
}

type countingReader struct {
	r io.Reader
	m *memFiles
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.m.mu.Lock()
	c.m.read += int64(n)
	c.m.mu.Unlock()
	return n, err
}

func record(id int, published string) string {
	return fmt.Sprintf(`{"source":"bench","id":"%d","url":"https://example.org/post/%d","author":"user%d",`+
		`"published":"%s","lang":"en","title":"","text":"post %d","likes":%d,"reposts":2,"replies":3,"format":"network"}`,
		id, id, id%7, published, id, id)
}

func records(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		b.WriteString(record(i, "2026-11-01T10:00:00Z"))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func newTestReplay(t *testing.T, cfg config.Source, files *memFiles, chunk int, logger *slog.Logger) Source {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "demo"
	}
	src, err := Kinds["replay"](cfg, Options{Open: files.Open, Now: func() time.Time { return testNow }, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if chunk > 0 {
		src.(*replaySource).chunk = chunk
	}
	return src
}

func ids(posts []affinity.Post) []string {
	out := make([]string, len(posts))
	for i, p := range posts {
		out[i] = p.ID
	}
	return out
}

func TestReplayBadLines(t *testing.T) {
	long := `{"id":"long","text":"` + strings.Repeat("x", maxReplayLine) + `"}`
	file := strings.Join([]string{
		record(1, "2026-11-01T10:00:00Z"),
		`{"id": "broken", `,
		`{"text": "no id"}`,
		record(2, "not a date"),
		"",
		long,
		`{"id": 3, "format": "bogus", "score": 42}`,
	}, "\n") // no final newline: the last line still counts
	files := &memFiles{files: map[string][]byte{"posts.jsonl": []byte(file)}}
	var logs bytes.Buffer
	src := newTestReplay(t, config.Source{Path: "posts.jsonl", Format: "community"}, files, 0,
		slog.New(slog.NewTextHandler(&logs, nil)))

	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(res.Posts), ","); got != "1,2,3" {
		t.Errorf("ids %s, want 1,2,3", got)
	}
	if res.Skipped != 3 || res.More || res.State.Cursor != "7" || res.State.Source != "demo" {
		t.Errorf("skipped %d more %v cursor %q source %q, want 3 false 7 demo", res.Skipped, res.More, res.State.Cursor, res.State.Source)
	}
	for _, line := range []string{"line=2 ", "line=3 ", "line=6 "} {
		if !strings.Contains(logs.String(), "level=WARN msg=\"skipping bad replay record\" file=posts.jsonl "+line) {
			t.Errorf("no warning for %s in:\n%s", line, logs.String())
		}
	}
	p1, p2, p3 := res.Posts[0], res.Posts[1], res.Posts[2]
	want1 := affinity.Post{
		Source: "demo", ID: "1", URL: "https://example.org/post/1", Author: "user1",
		Published: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), Collected: testNow, Language: "en",
		Text: "post 1", Engagement: affinity.Engagement{Likes: 1, Reposts: 2, Replies: 3}, Format: affinity.FormatNetwork,
	}
	if p1 != want1 {
		t.Errorf("post 1:\n got %+v\nwant %+v", p1, want1)
	}
	if !p2.Published.IsZero() {
		t.Errorf("post 2 published %v, want zero for an unparseable date", p2.Published)
	}
	if p3.Format != affinity.FormatCommunity || p3.Engagement.Score != 42 {
		t.Errorf("post 3 format %q score %d, want the config's community and 42", p3.Format, p3.Engagement.Score)
	}
}

func TestReplayChunksReadOnce(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	data := records(n)
	files := &memFiles{files: map[string][]byte{"big.jsonl": data}}
	src := newTestReplay(t, config.Source{Path: "big.jsonl"}, files, 0, nil)
	state := affinity.SourceState{}
	got := 0
	for round := 0; ; round++ {
		res, err := src.Fetch(context.Background(), state)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Posts) > replayChunk {
			t.Fatalf("round %d: %d posts, more than a chunk", round, len(res.Posts))
		}
		if len(res.Posts) > 0 && res.Posts[0].ID != strconv.Itoa(got) {
			t.Fatalf("round %d starts at %s, want %d", round, res.Posts[0].ID, got)
		}
		got += len(res.Posts)
		state = res.State
		if !res.More {
			break
		}
	}
	if got != n || state.Cursor != strconv.Itoa(n) {
		t.Errorf("delivered %d, cursor %q, want %d", got, state.Cursor, n)
	}
	if files.opens != 1 || files.read != int64(len(data)) {
		t.Errorf("%d opens, %d bytes read of %d: the file must be read once", files.opens, files.read, len(data))
	}
}

func TestReplayCursor(t *testing.T) {
	const n = 25
	type step struct {
		fresh  bool
		cursor string
		first  string
		count  int
		more   bool
	}
	cases := []struct {
		name  string
		steps []step
		opens int
	}{
		{"straight through", []step{
			{false, "", "0", 10, true}, {false, "-", "10", 10, true}, {false, "-", "20", 5, false},
		}, 1},
		{"restart continues without duplicates or gaps", []step{
			{false, "", "0", 10, true}, {true, "-", "10", 10, true}, {false, "-", "20", 5, false},
		}, 2},
		{"rolled-back cursor re-reads", []step{
			{false, "", "0", 10, true}, {false, "0", "0", 10, true},
		}, 2},
		{"exhausted file delivers nothing", []step{
			{false, "25", "", 0, false},
		}, 1},
		{"cursor beyond the file", []step{
			{false, "99", "", 0, false},
		}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := &memFiles{files: map[string][]byte{"p.jsonl": records(n)}}
			src := newTestReplay(t, config.Source{Path: "p.jsonl"}, files, 10, nil)
			state := affinity.SourceState{}
			for i, s := range tc.steps {
				if s.fresh {
					src = newTestReplay(t, config.Source{Path: "p.jsonl"}, files, 10, nil)
				}
				if s.cursor != "-" {
					state.Cursor = s.cursor
				}
				res, err := src.Fetch(context.Background(), state)
				if err != nil {
					t.Fatal(err)
				}
				first := ""
				if len(res.Posts) > 0 {
					first = res.Posts[0].ID
				}
				if first != s.first || len(res.Posts) != s.count || res.More != s.more {
					t.Errorf("step %d: first %q count %d more %v, want %q %d %v", i, first, len(res.Posts), res.More, s.first, s.count, s.more)
				}
				state = res.State
			}
			if files.opens != tc.opens {
				t.Errorf("%d opens, want %d", files.opens, tc.opens)
			}
		})
	}

	t.Run("bad cursor", func(t *testing.T) {
		files := &memFiles{files: map[string][]byte{"p.jsonl": records(3)}}
		_, err := newTestReplay(t, config.Source{Path: "p.jsonl"}, files, 0, nil).Fetch(context.Background(), affinity.SourceState{Cursor: "abc"})
		if ReasonOf(err) != ReasonParse {
			t.Errorf("error %v, want a parse error", err)
		}
	})
}

func TestReplayShiftToNow(t *testing.T) {
	file := strings.Join([]string{
		record(1, "2026-10-01T10:00:00Z"),
		record(2, "2026-10-05T12:00:00Z"), // newest
		record(3, "2026-10-03T10:00:00Z"),
		record(4, ""),
	}, "\n")
	files := &memFiles{files: map[string][]byte{"p.jsonl": []byte(file)}}
	src := newTestReplay(t, config.Source{Path: "p.jsonl", ShiftToNow: true}, files, 2, nil)
	offset := testNow.Sub(time.Date(2026, 10, 5, 12, 0, 0, 0, time.UTC))
	want := map[string]time.Time{
		"1": time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC).Add(offset),
		"2": testNow,
		"3": time.Date(2026, 10, 3, 10, 0, 0, 0, time.UTC).Add(offset),
		"4": {},
	}
	state := affinity.SourceState{}
	seen := 0
	for more := true; more; {
		res, err := src.Fetch(context.Background(), state)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Posts {
			seen++
			if !p.Published.Equal(want[p.ID]) {
				t.Errorf("post %s published %v, want %v", p.ID, p.Published, want[p.ID])
			}
		}
		state, more = res.State, res.More
	}
	if seen != 4 {
		t.Errorf("saw %d posts, want 4", seen)
	}
}

func TestReplayFeedFile(t *testing.T) {
	body, err := os.ReadFile("testdata/fallbacks.rss")
	if err != nil {
		t.Fatal(err)
	}
	files := &memFiles{files: map[string][]byte{"news.rss": body}}
	src := newTestReplay(t, config.Source{Path: "news.rss", Format: "audience", ShiftToNow: true}, files, 2, nil)

	first, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := src.Fetch(context.Background(), first.State)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(first.Posts), ","); got != "post-1,https://blog.example.org/news/2" || !first.More || first.State.Cursor != "2" {
		t.Errorf("first chunk %s more %v cursor %q", got, first.More, first.State.Cursor)
	}
	if len(second.Posts) != 1 || second.More || second.State.Cursor != "3" {
		t.Errorf("second chunk %d posts more %v cursor %q", len(second.Posts), second.More, second.State.Cursor)
	}
	// The newest item (11 Nov 09:30 UTC) lands at now; the file is parsed once.
	if p := second.Posts[0]; !p.Published.Equal(testNow) || p.Source != "demo" || p.Collected != testNow {
		t.Errorf("shifted post %+v", p)
	}
	if files.opens != 1 {
		t.Errorf("%d opens, want 1", files.opens)
	}
}

func TestReplayErrors(t *testing.T) {
	if _, err := newReplay(config.Source{Name: "demo"}, Options{}); err == nil {
		t.Error("a replay without path was accepted")
	}
	files := &memFiles{files: map[string][]byte{"page.html": []byte("<!DOCTYPE html><html></html>")}}
	tests := []struct {
		path, reason, msg string
	}{
		{"missing.jsonl", ReasonRead, `collector: replay "demo": read: open missing.jsonl`},
		{"page.html", ReasonParse, `collector: replay "demo": parse: got an HTML page, not a feed`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := newTestReplay(t, config.Source{Path: tt.path}, files, 0, nil).Fetch(context.Background(), affinity.SourceState{})
			if ReasonOf(err) != tt.reason || !strings.HasPrefix(fmt.Sprint(err), tt.msg) {
				t.Errorf("error %v (reason %q), want %q / %q", err, ReasonOf(err), tt.reason, tt.msg)
			}
			if tt.reason == ReasonRead && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v does not unwrap to fs.ErrNotExist", err)
			}
		})
	}
}

// The default opener reads real files (cfg.Path is already resolved by the loader).
func TestReplayDefaultOpen(t *testing.T) {
	path := t.TempDir() + "/p.jsonl"
	if err := os.WriteFile(path, records(3), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := newReplay(config.Source{Name: "demo", Path: path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil || len(res.Posts) != 3 || res.Posts[0].Format != affinity.FormatNetwork {
		t.Fatalf("posts %+v, err %v", res.Posts, err)
	}
}

// TestReplayBatch: Options.ReplayBatch (affinityd replay --batch-size)
// bounds each Fetch; 0 keeps the default.
func TestReplayBatch(t *testing.T) {
	for _, tt := range []struct{ batch, want int }{{7, 7}, {0, replayChunk}} {
		files := &memFiles{files: map[string][]byte{"a.jsonl": records(replayChunk + 1)}}
		src, err := newReplay(config.Source{Name: "r", Kind: "replay", Path: "a.jsonl"},
			Options{Open: files.Open, ReplayBatch: tt.batch})
		if err != nil {
			t.Fatal(err)
		}
		res, err := src.Fetch(context.Background(), affinity.SourceState{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Posts) != tt.want || !res.More {
			t.Errorf("batch %d: first fetch %d posts (more %t), want %d and more", tt.batch, len(res.Posts), res.More, tt.want)
		}
	}
}
