package collector

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

const (
	// replayChunk is how many posts one Fetch delivers at most, so a large
	// backfill commits in batches and a crash loses at most one. Each commit
	// rewrites the index pages it touches, so fewer, larger ones cost less:
	// 5,000 posts a commit wrote half the pages of 1,000 (a few MB of
	// analyzed posts in flight).
	replayChunk = 5000
	// maxReplayLine bounds one JSONL record; a longer line is skipped.
	maxReplayLine = 1 << 20
	// maxReplayFeed bounds a feed file, which gofeed builds in memory.
	maxReplayFeed = 64 << 20
)

// replaySource delivers posts from a file on disk: JSONL records (the
// schema of bench/make-corpus.py) or, for any other extension, a feed file.
//
// State.Cursor counts the records consumed so far — JSONL lines including
// bad and blank ones, or feed items — as a decimal string. Consumed lines are
// never re-read while the cursor continues where the last Fetch stopped; a
// cursor from elsewhere (a restart) reopens the file and skips that many.
// When the file is exhausted it is closed; the next Fetch reopens it to
// look for appended records.
type replaySource struct {
	name   string
	path   string
	format affinity.Format // cfg.Format, or audience
	shift  bool
	open   func(string) (io.ReadCloser, error)
	logger *slog.Logger
	now    func() time.Time
	chunk  int // replayChunk; smaller in tests
	jsonl  bool

	mu sync.Mutex
	// offset is the ShiftToNow offset, computed once per source on the first Fetch.
	offset     time.Duration
	offsetDone bool
	// An open JSONL file and how many lines of it were consumed.
	rc   io.ReadCloser
	br   *bufio.Reader
	line int
	// A parsed feed file's posts (unshifted, no Collected time), kept until delivered.
	items []affinity.Post
}

func newReplay(cfg config.Source, opts Options) (Source, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("collector: replay %q: no path", cfg.Name)
	}
	open := opts.Open
	if open == nil {
		open = func(name string) (io.ReadCloser, error) { return os.Open(name) }
	}
	return &replaySource{
		name:   cfg.Name,
		path:   cfg.Path,
		format: formatOr(cfg.Format, affinity.FormatAudience),
		shift:  cfg.ShiftToNow,
		open:   open,
		logger: loggerOr(opts.Logger),
		now:    nowOr(opts.Now),
		chunk:  cmp.Or(max(opts.ReplayBatch, 0), replayChunk),
		jsonl:  strings.EqualFold(filepath.Ext(cfg.Path), ".jsonl"),
	}, nil
}

func (s *replaySource) Name() string { return s.name }

func (s *replaySource) where() string { return fmt.Sprintf("replay %q", s.name) }

// Fetch delivers the next chunk after state.Cursor.
func (s *replaySource) Fetch(ctx context.Context, state affinity.SourceState) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	state.Source = s.name
	res := Result{State: state, RateLimitRemaining: -1}
	cursor := 0
	if state.Cursor != "" {
		n, err := strconv.Atoi(state.Cursor)
		if err != nil || n < 0 {
			return res, at(s.where(), parseError(fmt.Errorf("cursor %q is not a record count", state.Cursor)))
		}
		cursor = n
	}
	if s.shift && !s.offsetDone {
		newest, err := s.newest(ctx)
		if err != nil {
			return res, at(s.where(), err)
		}
		if !newest.IsZero() {
			s.offset = s.now().Sub(newest)
		}
		s.offsetDone = true
	}
	var err error
	if s.jsonl {
		err = s.fetchJSONL(ctx, cursor, &res)
	} else {
		err = s.fetchFeed(cursor, &res)
	}
	if err != nil {
		return res, at(s.where(), err)
	}
	now := s.now()
	for i := range res.Posts {
		p := &res.Posts[i]
		p.Collected = now
		if s.offset != 0 && !p.Published.IsZero() {
			p.Published = p.Published.Add(s.offset)
		}
	}
	return res, nil
}

// newest is the latest publication time in the file: a first pass so the
// ShiftToNow offset is the same for every chunk.
func (s *replaySource) newest(ctx context.Context) (time.Time, error) {
	var newest time.Time
	if !s.jsonl {
		items, err := s.loadFeed()
		if err != nil {
			return newest, err
		}
		s.items = items // the first chunk comes from this same parse
		for _, p := range items {
			if p.Published.After(newest) {
				newest = p.Published
			}
		}
		return newest, nil
	}
	rc, err := s.open(s.path)
	if err != nil {
		return newest, &FetchError{Reason: ReasonRead, Err: err}
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	var rec struct {
		Published string `json:"published"`
	}
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return newest, ctx.Err()
		}
		line, err := readLine(br)
		if err == io.EOF {
			return newest, nil
		}
		if err != nil && !errors.Is(err, errLongLine) {
			return newest, &FetchError{Reason: ReasonRead, Err: err}
		}
		rec.Published = ""
		if err != nil || json.Unmarshal(line, &rec) != nil {
			continue // reported when the line is delivered
		}
		if t, err := time.Parse(time.RFC3339, rec.Published); err == nil && t.After(newest) {
			newest = t
		}
	}
}

// fetchJSONL reads up to s.chunk posts after line cursor.
func (s *replaySource) fetchJSONL(ctx context.Context, cursor int, res *Result) error {
	if s.rc == nil || s.line != cursor {
		s.closeFile()
		rc, err := s.open(s.path)
		if err != nil {
			return &FetchError{Reason: ReasonRead, Err: err}
		}
		s.rc, s.br, s.line = rc, bufio.NewReaderSize(rc, 64<<10), 0
		for s.line < cursor {
			if _, err := readLine(s.br); err == io.EOF {
				break
			} else if err != nil && !errors.Is(err, errLongLine) {
				s.closeFile()
				return &FetchError{Reason: ReasonRead, Err: err}
			}
			s.line++
		}
		if s.line < cursor {
			// The file shrank or was replaced: nothing left to deliver.
			s.logger.Warn("replay file shorter than cursor", "file", s.path, "cursor", cursor, "lines", s.line)
			s.closeFile()
			res.State.Cursor = strconv.Itoa(cursor)
			return nil
		}
	}
	for len(res.Posts) < s.chunk {
		if len(res.Posts)%256 == 0 && ctx.Err() != nil {
			break // deliver what we have; the cursor says where to go on
		}
		raw, err := readLine(s.br)
		if err == io.EOF {
			s.closeFile()
			break
		}
		s.line++
		if err != nil && !errors.Is(err, errLongLine) {
			s.closeFile()
			return &FetchError{Reason: ReasonRead, Err: fmt.Errorf("%s line %d: %w", s.path, s.line, err)}
		}
		if err == nil && len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var p affinity.Post
		if err == nil {
			p, err = decodeRecord(raw)
		}
		if err != nil {
			res.Skipped++
			s.logger.Warn("skipping bad replay record", "file", s.path, "line", s.line, "err", err)
			continue
		}
		p.Source = s.name
		p.Format = formatOr(string(p.Format), s.format)
		res.Posts = append(res.Posts, p)
	}
	res.State.Cursor = strconv.Itoa(s.line)
	res.More = s.rc != nil
	if res.More {
		// Peek so a file that ends exactly at a chunk boundary does not ask for an empty round.
		if _, err := s.br.Peek(1); err == io.EOF {
			s.closeFile()
			res.More = false
		}
	}
	return nil
}

func (s *replaySource) closeFile() {
	if s.rc != nil {
		_ = s.rc.Close()
	}
	s.rc, s.br = nil, nil
}

// fetchFeed delivers the next chunk of a feed file's items.
func (s *replaySource) fetchFeed(cursor int, res *Result) error {
	if s.items == nil {
		items, err := s.loadFeed()
		if err != nil {
			return err
		}
		s.items = items
	}
	start := min(cursor, len(s.items))
	end := min(start+s.chunk, len(s.items))
	res.Posts = append(res.Posts, s.items[start:end]...)
	res.State.Cursor = strconv.Itoa(end)
	res.More = end < len(s.items)
	if !res.More {
		s.items = nil // reparse next time: the file may have new items
	}
	return nil
}

func (s *replaySource) loadFeed() ([]affinity.Post, error) {
	rc, err := s.open(s.path)
	if err != nil {
		return nil, &FetchError{Reason: ReasonRead, Err: err}
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxReplayFeed+1))
	if err != nil {
		return nil, &FetchError{Reason: ReasonRead, Err: fmt.Errorf("%s: %w", s.path, err)}
	}
	if len(body) > maxReplayFeed {
		return nil, &FetchError{Reason: ReasonTooLarge, Err: fmt.Errorf("%s: over %d bytes", s.path, maxReplayFeed)}
	}
	feed, truncated, err := parseFeed(body, "")
	if err != nil {
		return nil, err
	}
	if truncated { // a backfill that size belongs in a JSONL file
		s.logger.Warn("feed file has too many items: kept the first ones; use JSONL for more", "file", s.path, "items_kept", len(feed.Items))
	}
	return feedPosts(feed, nil, s.name, s.format, time.Time{}), nil
}

// replayRecord is one JSONL line. Its "source" field is ignored: posts
// belong to the configured source they were replayed through.
type replayRecord struct {
	ID        flexString `json:"id"`
	URL       string     `json:"url"`
	Author    string     `json:"author"`
	Published string     `json:"published"` // RFC 3339; empty or invalid leaves it zero
	Lang      string     `json:"lang"`
	Title     string     `json:"title"`
	Text      string     `json:"text"`
	Likes     int64      `json:"likes"`
	Reposts   int64      `json:"reposts"`
	Replies   int64      `json:"replies"`
	Score     int64      `json:"score"`
	Format    string     `json:"format"`
}

func decodeRecord(line []byte) (affinity.Post, error) {
	var r replayRecord
	if err := json.Unmarshal(line, &r); err != nil {
		return affinity.Post{}, err
	}
	if strings.TrimSpace(string(r.ID)) == "" {
		return affinity.Post{}, errors.New("no id")
	}
	p := affinity.Post{
		ID:       string(r.ID),
		URL:      r.URL,
		Author:   r.Author,
		Language: r.Lang,
		Title:    r.Title,
		Text:     r.Text,
		Engagement: affinity.Engagement{
			Likes: r.Likes, Reposts: r.Reposts, Replies: r.Replies, Score: r.Score,
		},
		Format: affinity.Format(r.Format), // checked by the caller
	}
	if t, err := time.Parse(time.RFC3339, r.Published); err == nil {
		p.Published = t.UTC()
	}
	return p, nil
}

// flexString accepts a JSON string or number: ids are often numeric.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id: want a string or number, got %s", b)
	}
	*f = flexString(n.String())
	return nil
}

var errLongLine = fmt.Errorf("line longer than %d bytes", maxReplayLine)

// readLine returns the next line without its newline. A line over
// maxReplayLine is consumed to its end and reported as errLongLine, so one
// huge record costs a skip, not the whole file. io.EOF only at the very end.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	long := false
	for {
		frag, err := br.ReadSlice('\n')
		if !long {
			if len(buf)+len(frag) > maxReplayLine+1 { // +1: the newline itself
				long, buf = true, nil
			} else {
				buf = append(buf, frag...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(buf) == 0 && !long {
				return nil, io.EOF
			}
		case err != nil:
			return nil, err
		}
		if long {
			return nil, errLongLine
		}
		return bytes.TrimRight(buf, "\r\n"), nil
	}
}
