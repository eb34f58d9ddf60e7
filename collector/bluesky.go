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
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

const (
	blueskyDefaultURL = "https://bsky.social"
	// blueskyPageSize is the most searchPosts gives in one page.
	blueskyPageSize = 100
	// blueskyMaxPages bounds the pages one query reads in one fetch; a busy
	// query continues where it stopped on the next fetch (Result.More).
	blueskyMaxPages = 10
	// blueskyDefaultLookback bounds the first fetch of a query when the
	// config sets no lookback (the loader normally sets it).
	blueskyDefaultLookback = 7 * 24 * time.Hour
	blueskyPostCollection  = "app.bsky.feed.post"
)

// blueskySource searches posts through app.bsky.feed.searchPosts, which needs
// a session since 2025. Without credentials newBluesky returns a
// jetstreamSource instead (jetstream.go).
//
// State.Cursor holds one cursor per query (Cursors, keyed by Query.Key). A
// cursor is the newest indexedAt seen, RFC 3339 ("2026-11-12T09:58:01.5Z");
// while a query's backlog is larger than one fetch may read, it is
// "SINCE,UNTIL,NEWEST": the older part between SINCE and UNTIL is still to
// be read, NEWEST becomes the cursor once it is. Newest-first paging cannot
// save a plain "newest" before the older pages are in without leaving a gap.
type blueskySource struct {
	name       string
	base       string // service base URL, no trailing slash
	identifier string
	password   config.Secret // read at each sign-in: a rotated file is picked up
	format     affinity.Format
	client     *Client
	logger     *slog.Logger
	now        func() time.Time
	queries    []Query
	lookback   time.Duration
	maxPages   int

	// mu guards sess: a scan and the scheduler may fetch at the same time.
	mu   sync.Mutex
	sess *blueskySession // kept across fetches: createSession is tightly rate-limited
}

// blueskySession is what createSession and refreshSession answer. Its
// String and LogValue never show the tokens.
type blueskySession struct {
	AccessJwt  string `json:"accessJwt"`
	RefreshJwt string `json:"refreshJwt"`
	DID        string `json:"did"`
	Handle     string `json:"handle"`
}

func (s blueskySession) String() string { return "session(" + s.Handle + ")" }

func (s blueskySession) LogValue() slog.Value { return slog.StringValue(s.String()) }

// newBluesky builds a search source when identifier and app_password are
// set, otherwise a Jetstream source that needs no account.
func newBluesky(cfg config.Source, opts Options) (Source, error) {
	id := strings.TrimSpace(cfg.Identifier)
	switch {
	case id == "" && !cfg.AppPassword.IsSet():
		return newJetstream(cfg, opts)
	case id == "":
		return nil, fmt.Errorf("collector: bluesky %q: app_password is set but identifier is not", cfg.Name)
	case !cfg.AppPassword.IsSet():
		return nil, fmt.Errorf("collector: bluesky %q: identifier is set but app_password is not", cfg.Name)
	}
	base := strings.TrimRight(strings.TrimSpace(cfg.URL), "/")
	if base == "" {
		base = blueskyDefaultURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("collector: bluesky %q: url %q is not an http(s) URL", cfg.Name, redactURL(base))
	}
	if opts.Client == nil {
		return nil, fmt.Errorf("collector: bluesky %q: no HTTP client", cfg.Name)
	}
	lookback := time.Duration(cfg.Lookback)
	if lookback <= 0 {
		lookback = blueskyDefaultLookback
	}
	return &blueskySource{
		name:       cfg.Name,
		base:       base,
		identifier: id,
		password:   cfg.AppPassword,
		format:     formatOr(cfg.Format, affinity.FormatNetwork),
		client:     opts.Client,
		logger:     loggerOr(opts.Logger),
		now:        nowOr(opts.Now),
		queries:    opts.Queries,
		lookback:   lookback,
		maxPages:   blueskyMaxPages,
	}, nil
}

func (s *blueskySource) Name() string { return s.name }

func (s *blueskySource) where() string { return fmt.Sprintf("bluesky %q", s.name) }

// blueskyFetch is the state of one Fetch.
type blueskyFetch struct {
	renewed   bool    // the session was renewed once already: a second 401 is an error
	remaining float64 // lowest RateLimit-Remaining seen; -1 none
}

func (f *blueskyFetch) observe(resp *Response) {
	if resp == nil {
		return
	}
	if rem := RateLimitRemaining(resp.Header); rem >= 0 && (f.remaining < 0 || rem < f.remaining) {
		f.remaining = rem
	}
}

// Fetch searches every query in turn. A query that fails keeps its cursor
// (and whatever part of its backlog it read) and is logged; the fetch fails
// only when no query got anywhere, or at once when signing in fails or the
// service rate-limits us (asking the next query would only spend more).
func (s *blueskySource) Fetch(ctx context.Context, state affinity.SourceState) (Result, error) {
	state.Source = s.name
	res := Result{State: state, RateLimitRemaining: -1}
	f := &blueskyFetch{remaining: -1}
	if err := s.ensureSession(ctx, f); err != nil {
		res.RateLimitRemaining = f.remaining
		return res, at(s.where(), err)
	}
	cursors := DecodeCursors(state.Cursor)
	now := s.now()
	seen := map[string]bool{}
	var failures []error
	asked := 0
	for _, q := range s.queries {
		if q.Search() == "" {
			continue
		}
		asked++
		run := s.fetchQuery(ctx, f, q, cursors[q.Key], now)
		res.Skipped += run.skipped
		res.More = res.More || run.more
		if run.cursor != "" {
			cursors[q.Key] = run.cursor
		}
		for _, p := range run.posts {
			if !seen[p.ID] { // one post found by two queries is one post
				seen[p.ID] = true
				res.Posts = append(res.Posts, p)
			}
		}
		if run.err == nil {
			continue
		}
		failures = append(failures, run.err)
		s.logger.Warn("bluesky query failed", "query", q.Key, "reason", ReasonOf(run.err), "err", run.err)
		var fe *FetchError
		if errors.As(run.err, &fe) && fe.Reason == ReasonRateLimited {
			if fe.RetryAfter > 0 {
				res.State.NextCheck = now.Add(fe.RetryAfter)
			}
			res.More = false // the scheduler waits for NextCheck instead
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	res.RateLimitRemaining = f.remaining
	if len(failures) > 0 && len(res.Posts) == 0 && len(failures) == asked {
		return Result{State: state, RateLimitRemaining: f.remaining}, at(s.where(), failures[0])
	}
	res.State.Cursor = cursors.Encode()
	s.logger.Debug("bluesky fetched", "queries", asked, "failed", len(failures),
		"posts", len(res.Posts), "skipped", res.Skipped, "more", res.More)
	return res, nil
}

// blueskyCursor is one query's position; see blueskySource.
type blueskyCursor struct {
	since  time.Time // posts indexed at or before it were delivered already
	until  time.Time // zero, or: posts at or after it were delivered in an earlier pass
	newest time.Time // the newest indexedAt delivered in any pass
}

func parseBlueskyCursor(s string) (blueskyCursor, bool) {
	parts := strings.Split(s, ",")
	var ts []time.Time
	for _, p := range parts {
		t, err := time.Parse(time.RFC3339Nano, p)
		if err != nil {
			return blueskyCursor{}, false
		}
		ts = append(ts, t)
	}
	switch len(ts) {
	case 1:
		return blueskyCursor{since: ts[0], newest: ts[0]}, true
	case 3:
		return blueskyCursor{since: ts[0], until: ts[1], newest: ts[2]}, true
	}
	return blueskyCursor{}, false
}

func blueskyTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// blueskyRun is what one query contributed to a fetch.
type blueskyRun struct {
	posts   []affinity.Post
	cursor  string // "" keeps the old one
	more    bool
	skipped int
	err     error
}

// fetchQuery pages through one query, newest first, until it reaches posts
// delivered before (or the look-back), the results end, or the page bound.
func (s *blueskySource) fetchQuery(ctx context.Context, f *blueskyFetch, q Query, raw string, now time.Time) blueskyRun {
	var run blueskyRun
	c, ok := parseBlueskyCursor(raw)
	if !ok {
		if raw != "" {
			s.logger.Info("bluesky cursor unreadable, starting from the look-back", "query", q.Key)
		}
		c = blueskyCursor{since: now.Add(-s.lookback)}
	}
	newest, oldest := c.newest, c.until
	// pending is the cursor that keeps the unread older part for later.
	pending := func() string {
		if oldest.IsZero() {
			return "" // nothing read yet: the old cursor stays
		}
		return blueskyTime(c.since) + "," + blueskyTime(oldest) + "," + blueskyTime(newest)
	}
	page := ""
	for n := 0; ; n++ {
		if n == s.maxPages {
			run.cursor, run.more = pending(), true
			return run
		}
		out, err := s.search(ctx, f, q, c, page)
		if err != nil {
			run.cursor, run.err = pending(), err
			return run
		}
		reachedOld := false
		var skips pageSkips
		for _, pv := range out.Posts {
			indexed, err := time.Parse(time.RFC3339Nano, pv.IndexedAt)
			if err != nil || !apiTimeOK(indexed, now) {
				skips.add(cmp.Or(pv.bad, "no valid indexedAt"))
				continue
			}
			// since is inclusive on the server, and the server filters by
			// sortAt, not indexedAt: drop what an earlier fetch delivered.
			if !indexed.After(c.since) {
				reachedOld = true
				continue
			}
			if !c.until.IsZero() && !indexed.Before(c.until) {
				continue
			}
			// A post that does not decode or map still moves the cursor by
			// its indexedAt: the next fetch must not stop on it again.
			if indexed.After(newest) {
				newest = indexed
			}
			if oldest.IsZero() || indexed.Before(oldest) {
				oldest = indexed
			}
			if pv.bad != "" {
				skips.add(pv.bad)
				continue
			}
			p, err := s.post(pv, now)
			if err != nil {
				skips.add(err.Error())
				continue
			}
			run.posts = append(run.posts, p)
		}
		run.skipped += skips.n
		skips.warn(s.logger, "query", q.Key)
		if reachedOld || out.Cursor == "" || len(out.Posts) == 0 {
			break
		}
		page = out.Cursor
	}
	next := c.since
	if newest.After(next) {
		next = newest
	}
	run.cursor = blueskyTime(next)
	return run
}

// blueskySearchOutput is app.bsky.feed.searchPosts#output.
type blueskySearchOutput struct {
	Cursor string             `json:"cursor"`
	Posts  *[]json.RawMessage `json:"posts"` // each decoded alone: one bad post never sinks the page
}

type blueskySearchPage struct {
	Cursor string
	Posts  []blueskyPostView
}

// blueskyPostView is the part of app.bsky.feed.defs#postView we read.
type blueskyPostView struct {
	URI    string `json:"uri"`
	Author struct {
		DID    string `json:"did"`
		Handle string `json:"handle"`
	} `json:"author"`
	Record      json.RawMessage `json:"record"`
	Embed       *blueskyEmbed   `json:"embed"`
	ReplyCount  apiCount        `json:"replyCount"`
	RepostCount apiCount        `json:"repostCount"`
	LikeCount   apiCount        `json:"likeCount"`
	QuoteCount  apiCount        `json:"quoteCount"`
	IndexedAt   string          `json:"indexedAt"`

	// bad is why the view did not decode; then only URI and IndexedAt
	// were read, to move the cursor past it.
	bad string
}

// blueskyDecodeView decodes one postView of a page.
func blueskyDecodeView(raw json.RawMessage) blueskyPostView {
	var pv blueskyPostView
	if err := json.Unmarshal(raw, &pv); err != nil {
		var k struct {
			URI       string `json:"uri"`
			IndexedAt string `json:"indexedAt"`
		}
		_ = json.Unmarshal(raw, &k)
		return blueskyPostView{URI: k.URI, IndexedAt: k.IndexedAt, bad: err.Error()}
	}
	return pv
}

// blueskyRecord is the part of an app.bsky.feed.post record we read; the
// search API and Jetstream carry the same record.
type blueskyRecord struct {
	Type      string         `json:"$type"`
	Text      string         `json:"text"`
	CreatedAt string         `json:"createdAt"`
	Langs     []string       `json:"langs"`
	Facets    []blueskyFacet `json:"facets"`
	Tags      []string       `json:"tags"` // tags outside the text
	Embed     *blueskyEmbed  `json:"embed"`
}

type blueskyFacet struct {
	Index struct {
		ByteStart int `json:"byteStart"`
		ByteEnd   int `json:"byteEnd"`
	} `json:"index"`
	Features []struct {
		Type string `json:"$type"`
		URI  string `json:"uri"`
		Tag  string `json:"tag"`
	} `json:"features"`
}

// blueskyEmbed covers app.bsky.embed.external (record and #view, same
// shape) and recordWithMedia, whose media may be an external card.
type blueskyEmbed struct {
	Type     string `json:"$type"`
	External *struct {
		URI   string `json:"uri"`
		Title string `json:"title"`
	} `json:"external"`
	Media *blueskyEmbed `json:"media"`
}

// search asks for one page of one query.
func (s *blueskySource) search(ctx context.Context, f *blueskyFetch, q Query, c blueskyCursor, page string) (blueskySearchPage, error) {
	v := url.Values{
		"q":     {q.Search()},
		"sort":  {"latest"},
		"limit": {fmt.Sprint(blueskyPageSize)},
		"since": {blueskyTime(c.since)},
	}
	if !c.until.IsZero() {
		v.Set("until", blueskyTime(c.until))
	}
	if page != "" {
		v.Set("cursor", page)
	}
	var out blueskySearchOutput
	if err := s.query(ctx, f, "app.bsky.feed.searchPosts", v, &out); err != nil {
		return blueskySearchPage{}, err
	}
	if out.Posts == nil {
		return blueskySearchPage{}, &FetchError{Reason: ReasonParse, Err: errors.New("searchPosts: answer has no posts array")}
	}
	posts := make([]blueskyPostView, len(*out.Posts))
	for i, raw := range *out.Posts {
		posts[i] = blueskyDecodeView(raw)
	}
	return blueskySearchPage{Cursor: out.Cursor, Posts: posts}, nil
}

// query does an authenticated XRPC GET. An expired or rejected access token
// renews the session once per fetch (refresh, else sign in again) and retries.
func (s *blueskySource) query(ctx context.Context, f *blueskyFetch, nsid string, params url.Values, v any) error {
	u := s.base + "/xrpc/" + nsid + "?" + params.Encode()
	for {
		req, err := s.client.NewRequest(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.session().AccessJwt)
		resp, err := s.client.Do(req)
		f.observe(resp)
		if err != nil {
			if blueskyAuthExpired(resp) && !f.renewed {
				f.renewed = true
				if err := s.renew(ctx, f); err != nil {
					return err
				}
				continue
			}
			return blueskyAnnotate(err, resp, "")
		}
		return blueskyDecode(resp, nsid, v)
	}
}

// blueskyAuthExpired: the access token expired (400 ExpiredToken) or the
// service no longer takes it (401).
func blueskyAuthExpired(resp *Response) bool {
	if resp == nil {
		return false
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return true
	}
	name, _ := blueskyServerError(resp)
	return resp.StatusCode == http.StatusBadRequest && (name == "ExpiredToken" || name == "InvalidToken")
}

func (s *blueskySource) session() blueskySession {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return blueskySession{}
	}
	return *s.sess
}

func (s *blueskySource) setSession(sess *blueskySession) {
	s.mu.Lock()
	s.sess = sess
	s.mu.Unlock()
}

// ensureSession signs in unless a session from an earlier fetch is at hand.
func (s *blueskySource) ensureSession(ctx context.Context, f *blueskyFetch) error {
	if s.session().AccessJwt != "" {
		return nil
	}
	return s.createSession(ctx, f)
}

// renew refreshes the session; when the refresh token is refused too (it
// expired, or was revoked), it signs in again.
func (s *blueskySource) renew(ctx context.Context, f *blueskyFetch) error {
	old := s.session()
	if old.RefreshJwt != "" {
		sess, resp, err := s.sessionCall(ctx, "com.atproto.server.refreshSession", "Bearer "+old.RefreshJwt, nil)
		f.observe(resp)
		if err == nil {
			s.setSession(sess)
			s.logger.Debug("bluesky session refreshed")
			return nil
		}
		err = blueskyAnnotate(err, resp, "")
		if ctx.Err() != nil {
			return err
		}
		s.logger.Info("bluesky session refresh failed, signing in again", "reason", ReasonOf(err), "err", err)
	}
	s.setSession(nil)
	return s.createSession(ctx, f)
}

// createSession signs in with the app password. The password goes only into
// the request body; errors name the identifier and the secret's source,
// and whatever the server says is scrubbed of the password.
func (s *blueskySource) createSession(ctx context.Context, f *blueskyFetch) error {
	pw, err := s.password.Value()
	if err != nil {
		// No exchange was possible: counted like an unusable URL.
		return &FetchError{Reason: ReasonConnect, Err: fmt.Errorf("app_password (%s): %w", s.password, err)}
	}
	body, err := json.Marshal(map[string]string{"identifier": s.identifier, "password": pw})
	if err != nil {
		return err
	}
	sess, resp, err := s.sessionCall(ctx, "com.atproto.server.createSession", "", body)
	f.observe(resp)
	if err != nil {
		hint := ""
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			hint = "check identifier and app_password: an app password from Settings, not the account password"
		}
		return blueskyScrub(blueskyAnnotate(err, resp, hint), fmt.Sprintf("signing in as %q", s.identifier), pw)
	}
	s.setSession(sess)
	s.logger.Debug("bluesky session created", "handle", sess.Handle)
	return nil
}

// sessionCall POSTs to a session endpoint and decodes the session it answers.
func (s *blueskySource) sessionCall(ctx context.Context, nsid, auth string, body []byte) (*blueskySession, *Response, error) {
	req, err := s.client.NewRequest(ctx, http.MethodPost, s.base+"/xrpc/"+nsid, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, resp, err // the caller adds the server's words and a hint
	}
	var sess blueskySession
	if err := blueskyDecode(resp, nsid, &sess); err != nil {
		return nil, resp, err
	}
	if sess.AccessJwt == "" || sess.RefreshJwt == "" {
		return nil, resp, &FetchError{Reason: ReasonParse, Err: fmt.Errorf("%s: answer has no accessJwt/refreshJwt", nsid)}
	}
	return &sess, resp, nil
}

// blueskyDecode unmarshals a JSON object body. An HTML page served with
// 200, a cut body or another shape is a parse error saying what arrived.
func blueskyDecode(resp *Response, nsid string, v any) error {
	body := bytes.TrimSpace(resp.Body)
	if len(body) == 0 || body[0] != '{' {
		what := "not a JSON object"
		if looksLikeHTML(body) {
			what = "an HTML page, not JSON"
		}
		return &FetchError{Reason: ReasonParse, Err: fmt.Errorf("%s: %s (Content-Type %q, body starts %q)",
			nsid, what, resp.ContentType, blueskySnippet(string(body)))}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &FetchError{Reason: ReasonParse, Err: fmt.Errorf("%s: invalid JSON (%d bytes): %w", nsid, len(body), err)}
	}
	return nil
}

// blueskyServerError reads an XRPC error body {"error":NAME,"message":TEXT}.
func blueskyServerError(resp *Response) (name, message string) {
	if resp == nil || resp.StatusCode < 400 {
		return "", ""
	}
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(resp.Body, &e) != nil {
		return "", ""
	}
	return blueskySnippet(strings.TrimSpace(e.Error)), blueskySnippet(strings.TrimSpace(e.Message))
}

// blueskyAnnotate adds the server's XRPC error and a hint to a status error,
// keeping its reason and Retry-After.
func blueskyAnnotate(err error, resp *Response, hint string) error {
	var fe *FetchError
	if !errors.As(err, &fe) {
		return err
	}
	name, msg := blueskyServerError(resp)
	extra := strings.TrimPrefix(strings.Join([]string{name, msg}, ": "), ": ")
	if extra == "" && hint == "" {
		return err
	}
	c := *fe
	switch {
	case extra != "" && hint != "":
		c.Err = fmt.Errorf("%w (server said %q; %s)", fe.Err, extra, hint)
	case extra != "":
		c.Err = fmt.Errorf("%w (server said %q)", fe.Err, extra)
	default:
		c.Err = fmt.Errorf("%w (%s)", fe.Err, hint)
	}
	return &c
}

// blueskyScrub prefixes err with what was done and replaces the password
// wherever it might appear in the text (a server echoing it back), keeping
// the reason and Retry-After for metrics and scheduling.
func blueskyScrub(err error, doing, secret string) error {
	scrub := func(s string) string {
		if secret == "" {
			return s
		}
		return strings.ReplaceAll(s, secret, "[REDACTED]")
	}
	var fe *FetchError
	if errors.As(err, &fe) {
		return &FetchError{Reason: fe.Reason, RetryAfter: fe.RetryAfter,
			Err: errors.New(scrub(doing + ": " + fe.Err.Error()))}
	}
	return &FetchError{Reason: classify(err), Err: errors.New(scrub(doing + ": " + err.Error()))}
}

func blueskySnippet(s string) string {
	if r := []rune(s); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return s
}

// post maps a postView. Engagement: quotes count as reposts (both spread
// the post to new readers).
func (s *blueskySource) post(pv blueskyPostView, now time.Time) (affinity.Post, error) {
	did, rkey, ok := blueskyParseURI(pv.URI)
	if !ok {
		return affinity.Post{}, fmt.Errorf("uri %q is not a post URI", blueskySnippet(pv.URI))
	}
	if pv.Author.DID != "" {
		did = pv.Author.DID
	}
	var rec blueskyRecord
	if err := json.Unmarshal(pv.Record, &rec); err != nil {
		return affinity.Post{}, errors.New("record is not a post record")
	}
	indexed, _ := time.Parse(time.RFC3339Nano, pv.IndexedAt)
	p := blueskyPost(did, pv.Author.Handle, rkey, rec, pv.Embed, indexed)
	p.Source = s.name
	p.Collected = now
	p.Format = s.format
	p.Engagement = affinity.Engagement{
		Likes: pv.LikeCount.nonNeg(),
		// Two counts near the int64 limit must not wrap around when added.
		Reposts: min(pv.RepostCount.nonNeg(), math.MaxInt64-pv.QuoteCount.nonNeg()) + pv.QuoteCount.nonNeg(),
		Replies: pv.ReplyCount.nonNeg(),
	}
	return p, nil
}

// blueskyParseURI splits at://DID/app.bsky.feed.post/RKEY.
func blueskyParseURI(uri string) (did, rkey string, ok bool) {
	rest, found := strings.CutPrefix(uri, "at://")
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] != blueskyPostCollection || parts[2] == "" {
		return "", "", false
	}
	return parts[0], parts[2], true
}

// blueskyPost maps a post record, shared by search and Jetstream. handle
// may be empty (Jetstream has none) or "handle.invalid" (an identity whose
// handle no longer verifies): the DID stands in, and bsky.app resolves
// profile URLs by DID too. fallback is the time when createdAt is unusable.
func blueskyPost(did, handle, rkey string, rec blueskyRecord, viewEmbed *blueskyEmbed, fallback time.Time) affinity.Post {
	who := handle
	if who == "" || who == "handle.invalid" {
		who = did
	}
	published, err := time.Parse(time.RFC3339Nano, rec.CreatedAt)
	if err != nil {
		published = fallback
	}
	lang := ""
	if len(rec.Langs) > 0 {
		lang = strings.TrimSpace(rec.Langs[0])
	}
	embed := rec.Embed
	if blueskyExternal(embed) == nil {
		embed = viewEmbed
	}
	return affinity.Post{
		ID:        "at://" + did + "/" + blueskyPostCollection + "/" + rkey,
		URL:       "https://bsky.app/profile/" + who + "/post/" + rkey,
		Author:    who,
		Published: published.UTC(),
		Language:  lang,
		Text:      blueskyText(rec, embed),
	}
}

func blueskyExternal(e *blueskyEmbed) *struct {
	URI   string `json:"uri"`
	Title string `json:"title"`
} {
	for ; e != nil; e = e.Media {
		if e.External != nil {
			return e.External
		}
	}
	return nil
}

const (
	blueskyFacetLink = "app.bsky.richtext.facet#link"
	blueskyFacetTag  = "app.bsky.richtext.facet#tag"
)

// blueskyText is the record's text with what its facets and embed hide made
// visible, so analysis sees links, hashtags and link cards:
//   - a link facet's text is often shortened ("github.com/snarfed/brid...");
//     it is replaced by the full URI in place. Facet ranges are UTF-8 byte
//     offsets; a range that is out of bounds, splits a character or does not
//     look like the link (clients have bugs) leaves the text alone and the
//     URI is appended instead;
//   - tags from tag facets and the record's own tags that the text does not
//     show as #tag are appended as #tag;
//   - an external link card adds its title and URI.
func blueskyText(rec blueskyRecord, embed *blueskyEmbed) string {
	text := rec.Text
	type span struct {
		start, end int
		uri        string
	}
	var (
		spans []span
		links []string
		tags  []string
	)
	for _, f := range rec.Facets {
		start, end := f.Index.ByteStart, f.Index.ByteEnd
		valid := start >= 0 && start < end && end <= len(text) &&
			utf8.RuneStart(text[start]) && (end == len(text) || utf8.RuneStart(text[end])) &&
			utf8.ValidString(text[start:end])
		for _, ft := range f.Features {
			switch ft.Type {
			case blueskyFacetLink:
				uri := strings.TrimSpace(ft.URI)
				switch {
				case uri == "":
				case valid && blueskyShows(text[start:end], uri):
					spans = append(spans, span{start, end, uri})
				case !strings.Contains(text, uri):
					links = append(links, uri)
				}
			case blueskyFacetTag:
				tags = append(tags, ft.Tag)
			}
		}
	}
	tags = append(tags, rec.Tags...)

	// Replace back to front so earlier offsets stay valid; overlapping spans
	// (a malformed record) keep only the first.
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		if sp.start < last {
			continue
		}
		b.WriteString(text[last:sp.start])
		b.WriteString(sp.uri)
		last = sp.end
	}
	b.WriteString(text[last:])
	out := b.String()

	var extra []string
	for _, l := range links {
		if !slices.Contains(extra, l) {
			extra = append(extra, l)
		}
	}
	var hashtags []string
	for _, t := range tags {
		t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "#"))
		if t == "" || blueskyHasWord(out, "#"+t) || slices.ContainsFunc(hashtags, func(h string) bool { return strings.EqualFold(h, "#"+t) }) {
			continue
		}
		hashtags = append(hashtags, "#"+t)
	}
	if len(hashtags) > 0 {
		extra = append(extra, strings.Join(hashtags, " "))
	}
	if ext := blueskyExternal(embed); ext != nil {
		if t := strings.TrimSpace(ext.Title); t != "" {
			extra = append(extra, t)
		}
		if u := strings.TrimSpace(ext.URI); u != "" && !strings.Contains(out, u) && !slices.Contains(extra, u) {
			extra = append(extra, u)
		}
	}
	if len(extra) == 0 {
		return out
	}
	if strings.TrimSpace(out) == "" {
		return strings.Join(extra, "\n")
	}
	return strings.TrimRight(out, " \t\n") + "\n\n" + strings.Join(extra, "\n")
}

// blueskyShows reports whether shown is how a client displays uri: the URI
// itself, or it without scheme and "www.", possibly cut and ending in "...".
func blueskyShows(shown, uri string) bool {
	strip := func(s string) string {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
		return strings.ToLower(strings.TrimPrefix(s, "www."))
	}
	sh := strip(strings.TrimSpace(shown))
	sh = strings.TrimSuffix(strings.TrimSuffix(sh, "..."), "…")
	return sh != "" && strings.HasPrefix(strip(uri), sh)
}

// blueskyHasWord reports whether text contains term as a whole word,
// case-insensitively: the runes around a match are not letters, digits or
// "_" (where the term itself starts or ends with one). Jetstream's local
// filter uses it as well.
func blueskyHasWord(text, term string) bool {
	return blueskyMatch(strings.ToLower(text), strings.ToLower(term))
}

// blueskyMatch is blueskyHasWord on text and term already lowercased.
func blueskyMatch(text, term string) bool {
	if term == "" {
		return false
	}
	first, _ := utf8.DecodeRuneInString(term)
	lastR, _ := utf8.DecodeLastRuneInString(term)
	for from := 0; from <= len(text)-len(term); {
		i := strings.Index(text[from:], term)
		if i < 0 {
			return false
		}
		i += from
		j := i + len(term)
		before, _ := utf8.DecodeLastRuneInString(text[:i])
		after, _ := utf8.DecodeRuneInString(text[j:])
		if (i == 0 || !blueskyWordRune(first) || !blueskyWordRune(before)) &&
			(j == len(text) || !blueskyWordRune(lastR) || !blueskyWordRune(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		from = i + size
	}
	return false
}

func blueskyWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
