package collector

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

// Hacker News through Algolia's search API.
//
// Each query asks search_by_date (newest first) for stories and comments
// created after the query's cursor. Algolia serves at most 1,000 hits per
// query (nbPages*hitsPerPage is capped), so a query with more matches is
// walked in time windows: page through the newest 1,000, then ask again for
// created_at_i<=OLDEST_SEEN, skipping the ids already delivered at that very
// second (a strict "<" would drop the unseen hits sharing it).
//
// Cursor of one query (collector.Cursors[query.Key]) — what a restart resumes:
//
//	"LO"               idle: every hit with created_at_i <= LO was delivered;
//	                   the next walk asks for created_at_i>LO.
//	"LO:TOP:HI:ID,ID"  a walk is under way: hits in (LO, HI] are still to come,
//	                   TOP is the newest created_at_i this walk delivered (the
//	                   next LO once the window is empty), the ids are those
//	                   already delivered at second HI.
//
// A walk is saved as a time window, never as a page number: new posts shift
// pages, but (LO, HI] holds still, so a saved window resumes without a gap and
// without delivering a post twice. The posts delivered so far are committed
// with that cursor in one transaction by the caller.
//
// Limit: Algolia indexes a post some seconds after it is created; one indexed
// later than a walk passed its second is missed (an overlap would buy that
// back at the cost of refetching, the store would drop the duplicates).
const (
	hnDefaultURL = "https://hn.algolia.com"
	// hnHitsPerPage is what one request asks for; Algolia allows up to 1,000,
	// 100 keeps a page small and a failed request cheap.
	hnHitsPerPage = 100
	// hnMaxRequestsPerQuery bounds one query's requests in one fetch, so a
	// backlog comes in batches the store commits one by one (Result.More).
	hnMaxRequestsPerQuery = 20
	// hnRequestsPerHour is Algolia's documented limit for the HN API, per IP.
	hnRequestsPerHour = 10000
	hnDefaultLookback = 7 * 24 * time.Hour
)

type hnSource struct {
	name     string
	base     string
	format   affinity.Format
	lookback time.Duration
	queries  []Query
	client   *Client
	logger   *slog.Logger
	now      func() time.Time

	// Tests lower these.
	maxRequests int // per query and fetch
	perHour     int

	mu        sync.Mutex
	hourStart time.Time // the clock hour the counter below belongs to
	used      int       // requests sent in that hour
}

func newHackerNews(cfg config.Source, opts Options) (Source, error) {
	base := strings.TrimRight(cfg.URL, "/")
	if base == "" {
		base = hnDefaultURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("collector: hackernews %q: url %q is not an http(s) URL", cfg.Name, redactURL(cfg.URL))
	}
	if opts.Client == nil {
		return nil, fmt.Errorf("collector: hackernews %q: no HTTP client", cfg.Name)
	}
	lookback := time.Duration(cfg.Lookback)
	if lookback <= 0 {
		lookback = hnDefaultLookback
	}
	return &hnSource{
		name:        cfg.Name,
		base:        base,
		format:      formatOr(cfg.Format, affinity.FormatCommunity),
		lookback:    lookback,
		queries:     opts.Queries,
		client:      opts.Client,
		logger:      loggerOr(opts.Logger),
		now:         nowOr(opts.Now),
		maxRequests: hnMaxRequestsPerQuery,
		perHour:     hnRequestsPerHour,
	}, nil
}

func (s *hnSource) Name() string { return s.name }

func (s *hnSource) where() string { return fmt.Sprintf("hackernews %q", s.name) }

// take counts one request against the hourly budget; false when it is spent.
// The count lives in memory: after a restart it starts at 0, which at worst
// costs one 429 (handled like any other) in that hour.
func (s *hnSource) take(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := now.Truncate(time.Hour); !h.Equal(s.hourStart) {
		s.hourStart, s.used = h, 0
	}
	if s.used >= s.perHour {
		return false
	}
	s.used++
	return true
}

func (s *hnSource) remaining(now time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !now.Truncate(time.Hour).Equal(s.hourStart) {
		return float64(s.perHour)
	}
	return float64(max(s.perHour-s.used, 0))
}

// hnCursor is one query's position; see the comment at the top of the file.
type hnCursor struct {
	lo, top, hi int64
	seen        []string // ids delivered at second hi
}

func (c hnCursor) walking() bool { return c.hi > 0 }

func (c hnCursor) String() string {
	if !c.walking() {
		return strconv.FormatInt(c.lo, 10)
	}
	return fmt.Sprintf("%d:%d:%d:%s", c.lo, c.top, c.hi, strings.Join(c.seen, ","))
}

// parseHNCursor reads a cursor; false for one it cannot read (the query then
// starts over from the look-back, as on a first run).
func parseHNCursor(s string) (hnCursor, bool) {
	parts := strings.Split(s, ":")
	var c hnCursor
	var err error
	if c.lo, err = strconv.ParseInt(parts[0], 10, 64); err != nil || c.lo < 0 {
		return hnCursor{}, false
	}
	switch len(parts) {
	case 1:
		return c, true
	case 4:
		if c.top, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
			return hnCursor{}, false
		}
		if c.hi, err = strconv.ParseInt(parts[2], 10, 64); err != nil || c.hi <= c.lo {
			return hnCursor{}, false
		}
		if parts[3] != "" {
			c.seen = strings.Split(parts[3], ",")
		}
		return c, true
	}
	return hnCursor{}, false
}

// Fetch walks every query from its cursor. A query that fails keeps its
// cursor and does not cost the others their posts; the fetch fails only when
// no query succeeded.
func (s *hnSource) Fetch(ctx context.Context, state affinity.SourceState) (Result, error) {
	state.Source = s.name
	state.NextCheck = time.Time{}
	res := Result{State: state, RateLimitRemaining: -1}
	now := s.now()
	old := DecodeCursors(state.Cursor)
	next := Cursors{} // cursors of queries no longer configured are dropped
	var (
		firstErr       error
		failed, ok     int
		budgetExceeded bool
	)
	for _, q := range s.queries {
		cur, valid := parseHNCursor(old[q.Key])
		if !valid {
			cur = hnCursor{lo: now.Add(-s.lookback).Unix()}
		}
		if budgetExceeded || ctx.Err() != nil {
			next[q.Key] = old[q.Key]
			if !valid {
				delete(next, q.Key)
			}
			continue
		}
		w := hnWalk{s: s, q: q, cur: cur, now: now}
		err := w.run(ctx)
		res.Posts = append(res.Posts, w.posts...)
		res.Skipped += w.skipped
		next[q.Key] = w.cur.String()
		switch {
		case err != nil:
			failed++
			s.logger.Warn("hackernews query failed", "query", q.Key, "posts", len(w.posts), "err", err)
			if firstErr == nil {
				firstErr = err
			}
			if d := apiRetryAfter(err); d > 0 {
				// Algolia's limit is per IP: the other queries would be refused too.
				res.State.NextCheck = now.Add(d)
				budgetExceeded = true
			}
		case w.budgetSpent:
			ok++
			budgetExceeded = true
		default:
			ok++
		}
		if w.cur.walking() {
			res.More = true
		}
		s.logger.Debug("hackernews query", "query", q.Key, "requests", w.requests, "posts", len(w.posts), "cursor", w.cur.String())
	}
	res.State.Cursor = next.Encode()
	res.RateLimitRemaining = s.remaining(s.now())
	if budgetExceeded {
		// The budget is spent (ours for the hour, or Algolia said 429): nothing
		// more until NextCheck. More stays false: the caller fetches again at
		// once while More is set, without looking at NextCheck.
		if res.State.NextCheck.IsZero() {
			res.State.NextCheck = now.Truncate(time.Hour).Add(time.Hour)
		}
		res.More = false
	}
	if ok == 0 && ctx.Err() != nil {
		return res, at(s.where(), ctx.Err())
	}
	if failed > 0 && ok == 0 {
		// Nothing worked: the caller counts the failure and keeps the old
		// state (a query that failed after some pages gets them again).
		return res, at(s.where(), firstErr)
	}
	return res, nil
}

// hnWalk is one query's part of one fetch.
type hnWalk struct {
	s   *hnSource
	q   Query
	cur hnCursor
	now time.Time

	posts       []affinity.Post
	skipped     int
	requests    int
	budgetSpent bool
}

// run pages through the query's window, narrowing it whenever Algolia's
// 1,000-hit cap is reached, until the window is empty or the per-fetch bound
// is hit; w.cur always describes what is left.
func (w *hnWalk) run(ctx context.Context) error {
	delivered := map[string]bool{}
	page := 0
	// oldest and atOldest track the oldest second of the current window seen so
	// far and the ids seen at it: where a stop or a narrowing resumes.
	var oldest int64 = math.MaxInt64
	var atOldest []string
	for {
		if w.requests >= w.s.maxRequests {
			w.stopAt(oldest, atOldest)
			return nil
		}
		if !w.s.take(w.s.now()) {
			w.budgetSpent = true
			w.stopAt(oldest, atOldest)
			return nil
		}
		w.requests++
		page0 := page
		resp, err := w.s.search(ctx, w.q, w.cur, page)
		if err != nil {
			w.stopAt(oldest, atOldest)
			return apiWrap(fmt.Sprintf("query %q", w.q.Key), err)
		}
		var skips pageSkips
		for _, h := range resp.hits {
			t, id := h.createdAt(), h.ObjectID
			if id == "" || t == 0 {
				skips.add(cmp.Or(h.bad, "hit without objectID or created_at"))
				continue
			}
			if t > w.now.Add(apiFutureSkew).Unix() { // compared as seconds: time.Unix of a huge t wraps
				skips.add("created_at_i " + strconv.FormatInt(t, 10) + " is out of range")
				continue
			}
			if t <= w.cur.lo || (w.cur.walking() && t > w.cur.hi) {
				continue // outside the window: a server that ignored the filter
			}
			w.cur.top = max(w.cur.top, t)
			if t < oldest {
				oldest, atOldest = t, nil
			}
			if t == oldest && !slices.Contains(atOldest, id) {
				atOldest = append(atOldest, id)
			}
			if delivered[id] || (t == w.cur.hi && slices.Contains(w.cur.seen, id)) {
				continue // shifted onto the next page by newer posts, or delivered before a restart
			}
			delivered[id] = true
			if h.bad != "" {
				// Its id and time still moved the window, so the next
				// fetch does not ask for it again.
				skips.add(h.bad)
				continue
			}
			w.posts = append(w.posts, h.post(w.s.name, w.s.format, w.now))
		}
		w.skipped += skips.n
		skips.warn(w.s.logger, "query", w.q.Key, "page", page0)
		switch {
		case len(resp.hits) == hnHitsPerPage && page0+1 < resp.nbPages:
			page++
			continue
		case len(resp.hits) < hnHitsPerPage, resp.nbHits <= (page0+1)*hnHitsPerPage, oldest == math.MaxInt64:
			// The window is exhausted: the walk is complete.
			w.cur = hnCursor{lo: max(w.cur.lo, w.cur.top)}
			return nil
		}
		// Algolia's cap: more hits exist than it pages to. Narrow the window
		// to the oldest second seen, skipping the ids delivered at it.
		seen := atOldest
		if oldest == w.cur.hi {
			// A whole capped window inside one second: a thousand HN posts in
			// one second does not happen, but give that second up rather than loop.
			w.s.logger.Warn("hackernews: more hits in one second than Algolia pages to; some skipped",
				"query", w.q.Key, "created_at_i", oldest)
			oldest, seen = oldest-1, nil
		}
		w.cur.hi, w.cur.seen = oldest, seen
		if w.cur.hi <= w.cur.lo {
			w.cur = hnCursor{lo: max(w.cur.lo, w.cur.top)}
			return nil
		}
		page, oldest, atOldest = 0, math.MaxInt64, nil
	}
}

// stopAt turns the page reached so far into a time window (the cursor never
// holds a page number: pages shift as posts arrive).
func (w *hnWalk) stopAt(oldest int64, atOldest []string) {
	if oldest == math.MaxInt64 {
		return // nothing seen in this window: it resumes as it is
	}
	seen := atOldest
	if oldest == w.cur.hi {
		seen = hnUnion(w.cur.seen, atOldest)
	}
	w.cur.hi, w.cur.seen = oldest, seen
}

func hnUnion(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

type hnHit struct {
	ObjectID    string   `json:"objectID"`
	CreatedAt   string   `json:"created_at"`
	CreatedAtI  int64    `json:"created_at_i"`
	Title       *string  `json:"title"`
	URL         *string  `json:"url"`
	Author      *string  `json:"author"`
	Points      apiCount `json:"points"`
	StoryText   *string  `json:"story_text"`
	CommentText *string  `json:"comment_text"`
	NumComments apiCount `json:"num_comments"`
	StoryTitle  *string  `json:"story_title"`

	// bad is why the hit did not decode; only its objectID and time were
	// read, to keep the window moving past it.
	bad string
}

// hnHitKey is what moves the cursor; read alone from a hit that does not
// decode whole.
type hnHitKey struct {
	ObjectID   string `json:"objectID"`
	CreatedAt  string `json:"created_at"`
	CreatedAtI int64  `json:"created_at_i"`
}

// hnResponse is the envelope; every hit is decoded on its own (see apiCount).
type hnResponse struct {
	Hits    *[]json.RawMessage `json:"hits"`
	NbHits  int                `json:"nbHits"`
	NbPages int                `json:"nbPages"`
	Page    int                `json:"page"`
}

// hnDecodeHit decodes one hit; a hit that does not decode comes back with
// bad set and whatever of its key could be read.
func hnDecodeHit(raw json.RawMessage) hnHit {
	var h hnHit
	err := json.Unmarshal(raw, &h)
	if err == nil {
		return h
	}
	var k hnHitKey
	_ = json.Unmarshal(raw, &k)
	return hnHit{ObjectID: k.ObjectID, CreatedAt: k.CreatedAt, CreatedAtI: k.CreatedAtI, bad: err.Error()}
}

type hnPage struct {
	hits            []hnHit
	nbHits, nbPages int
}

func (h hnHit) createdAt() int64 {
	if h.CreatedAtI > 0 {
		return h.CreatedAtI
	}
	if t, err := time.Parse(time.RFC3339, h.CreatedAt); err == nil {
		return t.Unix()
	}
	return 0
}

func hnStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// post maps a hit. URL is the HN item, not the story's external link: the
// store deduplicates by canonical URL, and an HN discussion must not be
// merged with the article it discusses (nor two HN threads on one article).
// The external link goes into the text instead, so analysis still sees it.
func (h hnHit) post(source string, format affinity.Format, now time.Time) affinity.Post {
	title := hnStr(h.Title)
	if title == "" {
		title = hnStr(h.StoryTitle) // comments carry their story's title
	}
	text := hnStr(h.StoryText)
	if text == "" {
		text = hnStr(h.CommentText)
	}
	if link := strings.TrimSpace(hnStr(h.URL)); link != "" {
		if text == "" {
			text = link
		} else {
			text += "\n<p>" + link
		}
	}
	return affinity.Post{
		Source:    source,
		ID:        h.ObjectID,
		URL:       "https://news.ycombinator.com/item?id=" + url.QueryEscape(h.ObjectID),
		Author:    hnStr(h.Author),
		Published: time.Unix(h.createdAt(), 0).UTC(),
		Collected: now,
		Title:     title,
		Text:      text,
		Engagement: affinity.Engagement{
			Score:   h.Points.n(),
			Replies: h.NumComments.nonNeg(),
		},
		Format: format,
	}
}

// search sends one search_by_date request for the cursor's window.
func (s *hnSource) search(ctx context.Context, q Query, c hnCursor, page int) (hnPage, error) {
	filters := "created_at_i>" + strconv.FormatInt(c.lo, 10)
	if c.walking() {
		filters += ",created_at_i<=" + strconv.FormatInt(c.hi, 10)
	}
	v := url.Values{
		"query":          {q.Search()},
		"tags":           {"(story,comment)"},
		"numericFilters": {filters},
		"hitsPerPage":    {strconv.Itoa(hnHitsPerPage)},
		"page":           {strconv.Itoa(page)},
	}
	req, err := s.client.NewRequest(ctx, http.MethodGet, s.base+"/api/v1/search_by_date?"+v.Encode(), nil)
	if err != nil {
		return hnPage{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return hnPage{}, err
	}
	if err := apiJSONCheck(resp); err != nil {
		return hnPage{}, err
	}
	var r hnResponse
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return hnPage{}, &FetchError{Reason: ReasonParse, Err: fmt.Errorf("search_by_date: %w", err)}
	}
	if r.Hits == nil {
		return hnPage{}, &FetchError{Reason: ReasonParse, Err: errors.New("search_by_date: response has no hits array")}
	}
	hits := make([]hnHit, len(*r.Hits))
	for i, raw := range *r.Hits {
		hits[i] = hnDecodeHit(raw)
	}
	return hnPage{hits: hits, nbHits: r.NbHits, nbPages: r.NbPages}, nil
}

// apiJSONCheck rejects a 200 that is not JSON: an HTML error page from a proxy or
// a captive portal would otherwise read as a cryptic "invalid character '<'".
func apiJSONCheck(resp *Response) error {
	b := bytes.TrimLeft(resp.Body, " \t\r\n\ufeff")
	if len(b) == 0 {
		return &FetchError{Reason: ReasonParse, Err: errors.New("empty body, want JSON")}
	}
	if b[0] == '<' || strings.Contains(strings.ToLower(resp.ContentType), "html") {
		return &FetchError{Reason: ReasonParse, Err: fmt.Errorf("got an HTML page (Content-Type %q), want JSON", resp.ContentType)}
	}
	return nil
}

// apiWrap puts what failed (`query "topic:x"`) before err's detail, keeping
// its reason and Retry-After.
func apiWrap(what string, err error) error {
	var fe *FetchError
	if errors.As(err, &fe) {
		c := *fe
		c.Err = fmt.Errorf("%s: %w", what, fe.Err)
		return &c
	}
	return &FetchError{Reason: classify(err), Err: fmt.Errorf("%s: %w", what, err)}
}

// apiRetryAfter is the delay a rate-limited error asks for (at least a
// minute), 0 for other errors.
func apiRetryAfter(err error) time.Duration {
	var fe *FetchError
	if errors.As(err, &fe) && fe.Reason == ReasonRateLimited {
		return max(fe.RetryAfter, time.Minute)
	}
	return 0
}

// --- shared by the JSON API sources: one bad item never sinks its page ---
//
// A page is decoded in two steps: the envelope (the array, or the object
// holding it) with each item kept as json.RawMessage, then every item on its
// own. A body that is not JSON at all, or whose envelope has the wrong shape,
// is still a parse error for the fetch: nothing in it can be trusted, and the
// cursor stays. One item that does not decode, or lacks its id or time, is
// skipped and counted (Result.Skipped), and the page's other items and the
// cursor go on: otherwise the next fetch would ask for the same page and fail
// on the same item for ever.

// apiFutureSkew is how far in the future an item's time may lie (clocks of
// federated servers drift). A later time is taken for garbage: a cursor
// moved there would make every later item look old, and the source would
// stall.
const apiFutureSkew = 24 * time.Hour

// apiTimeOK reports whether an item's time can drive a cursor: after 1970
// and not beyond now plus apiFutureSkew.
func apiTimeOK(t, now time.Time) bool {
	return t.Unix() > 0 && !t.After(now.Add(apiFutureSkew))
}

// pageSkips tallies the skipped items of one page (or one stream read) with
// the first reason, so a page of bad items costs one warning, not one each.
type pageSkips struct {
	n     int
	first string
}

// add counts one skipped item; why is kept only for the first and is cut
// short, as it may quote the item.
func (p *pageSkips) add(why string) {
	if p.n == 0 {
		p.first = apiSnippet(why, 160)
	}
	p.n++
}

// warn logs the page's skips in one line (the logger carries the source).
func (p *pageSkips) warn(logger *slog.Logger, attrs ...any) {
	if p.n == 0 {
		return
	}
	logger.Warn("items skipped", append(attrs, "items_skipped", p.n, "first_err", p.first)...)
}

func apiSnippet(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// apiCount is an engagement count as a platform sends it. Floats lose their
// fraction and numbers beyond int64 are clamped to its range, so a hostile
// 1e400 neither fails the item nor wraps around; null is 0. A count that is
// not a number (a string, an object) fails its item. Callers clamp counts
// that cannot be negative at 0; a score (HN, Reddit, Lemmy) may be.
type apiCount int64

func (c *apiCount) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return fmt.Errorf("count is not a number: %s", apiSnippet(s, 20))
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*c = apiCount(n)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64) // ±Inf with ErrRange beyond float64
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("count %s: %w", apiSnippet(s, 20), err)
	}
	switch {
	case f >= math.MaxInt64:
		*c = math.MaxInt64
	case f <= math.MinInt64:
		*c = math.MinInt64
	default:
		*c = apiCount(int64(f))
	}
	return nil
}

// n is the count as a plain number; nonNeg clamps it at 0 for counts of
// likes, reposts and replies, which cannot be negative.
func (c apiCount) n() int64      { return int64(c) }
func (c apiCount) nonNeg() int64 { return max(int64(c), 0) }
