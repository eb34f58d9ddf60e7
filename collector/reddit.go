package collector

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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

// Reddit: with a client id and secret, an app-only OAuth token (client
// credentials) on oauth.reddit.com, 100 requests a minute; without, the
// anonymous .json listings on www.reddit.com, 10 a minute and often refused
// to servers (403), which is said plainly.
//
// Listings read: /r/SUB/new and /r/SUB/comments per subreddit, /search?sort=new
// per query. Each is read newest first, paging on with after=FULLNAME, down to
// the listing's cursor — the newest thing delivered last time:
//
//	Cursors["new:r/SUB" | "comments:r/SUB" | "search:QUERYKEY"] = "CREATED_UTC:FULLNAME[,FULLNAME…]"
//
// The fullnames are those delivered at second CREATED_UTC (almost always one).
// The walk delivers what is newer, or of that second and not listed, and asks
// for no further page once a page reaches back to the cursor. Paging by time
// rather than before=FULLNAME: a deleted or removed anchor makes before= return
// nothing, silently; a time never goes away. On a first run the cursor is
// now − lookback with no fullname. A walk either completes within one fetch
// (posts and the new cursor are returned together) or is dropped whole and the
// cursor stays: Reddit pages a listing only ~1,000 things deep, so ten pages
// are a whole listing and a page number never needs saving.
const (
	redditDefaultAPI   = "https://oauth.reddit.com"
	redditAnonAPI      = "https://www.reddit.com"
	redditTokenURL     = "https://www.reddit.com/api/v1/access_token"
	redditPageLimit    = 100
	redditMaxPages     = 10 // Reddit pages ~1,000 things deep: 10 pages of 100
	redditLowRemaining = 5  // below this many requests left, wait for the reset
	// redditAnonPerFetch is the anonymous limit per minute: one fetch takes at most that.
	redditAnonPerFetch = 10
	redditDefaultLook  = 7 * 24 * time.Hour
)

type redditSource struct {
	name     string
	format   affinity.Format
	lookback time.Duration
	subs     []string
	queries  []Query
	clientID string
	secret   config.Secret
	client   *Client
	logger   *slog.Logger
	now      func() time.Time

	// Unexported so tests can point them at httptest.
	api      string // OAuth API base
	anonAPI  string // anonymous API base
	tokenURL string

	mu       sync.Mutex
	token    string
	tokenExp time.Time
}

func newReddit(cfg config.Source, opts Options) (Source, error) {
	api := strings.TrimRight(cfg.URL, "/")
	if api == "" {
		api = redditDefaultAPI
	}
	u, err := url.Parse(api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("collector: reddit %q: url %q is not an http(s) URL", cfg.Name, redactURL(cfg.URL))
	}
	if opts.Client == nil {
		return nil, fmt.Errorf("collector: reddit %q: no HTTP client", cfg.Name)
	}
	if (cfg.ClientID == "") != !cfg.ClientSecret.IsSet() {
		return nil, fmt.Errorf("collector: reddit %q: client_id and client_secret go together: set both or neither", cfg.Name)
	}
	var subs []string
	for _, s := range cfg.Subreddits {
		s = strings.Trim(strings.TrimSpace(s), "/")
		s = strings.TrimPrefix(strings.TrimPrefix(s, "r/"), "R/")
		if s != "" {
			subs = append(subs, s)
		}
	}
	lookback := time.Duration(cfg.Lookback)
	if lookback <= 0 {
		lookback = redditDefaultLook
	}
	return &redditSource{
		name:     cfg.Name,
		format:   formatOr(cfg.Format, affinity.FormatCommunity),
		lookback: lookback,
		subs:     subs,
		queries:  opts.Queries,
		clientID: cfg.ClientID,
		secret:   cfg.ClientSecret,
		client:   opts.Client,
		logger:   loggerOr(opts.Logger),
		now:      nowOr(opts.Now),
		api:      api,
		anonAPI:  redditAnonAPI,
		tokenURL: redditTokenURL,
	}, nil
}

func (s *redditSource) Name() string { return s.name }

func (s *redditSource) where() string { return fmt.Sprintf("reddit %q", s.name) }

func (s *redditSource) anonymous() bool { return s.clientID == "" }

// redditListing is one listing to walk: key names its cursor.
type redditListing struct {
	key, path string
	params    url.Values
}

func (s *redditSource) listings() []redditListing {
	var ls []redditListing
	for _, sub := range s.subs {
		p := "/r/" + url.PathEscape(sub)
		ls = append(ls,
			redditListing{key: "new:r/" + sub, path: p + "/new", params: url.Values{}},
			redditListing{key: "comments:r/" + sub, path: p + "/comments", params: url.Values{}})
	}
	for _, q := range s.queries {
		if q.Search() == "" {
			continue
		}
		ls = append(ls, redditListing{key: "search:" + q.Key, path: "/search",
			params: url.Values{"q": {q.Search()}, "sort": {"new"}, "type": {"link"}}})
	}
	return ls
}

type redditCursor struct {
	created float64
	names   []string // the things delivered at second created; none on a first run
}

func (c redditCursor) String() string {
	return strconv.FormatFloat(c.created, 'f', -1, 64) + ":" + strings.Join(c.names, ",")
}

func parseRedditCursor(s string) (redditCursor, bool) {
	created, names, ok := strings.Cut(s, ":")
	if !ok {
		return redditCursor{}, false
	}
	f, err := strconv.ParseFloat(created, 64)
	if err != nil || f < 0 {
		return redditCursor{}, false
	}
	c := redditCursor{created: f}
	if names != "" {
		c.names = strings.Split(names, ",")
	}
	return c, true
}

// redditFetch is one fetch's shared budget: what Reddit's rate-limit headers
// last said, and when to stop.
type redditFetch struct {
	remaining float64 // -1 until a response tells
	reset     time.Duration
	requests  int
}

// Fetch walks every listing from its cursor. A listing that fails keeps its
// cursor and costs the others nothing; the fetch fails only when none worked.
func (s *redditSource) Fetch(ctx context.Context, state affinity.SourceState) (Result, error) {
	state.Source = s.name
	state.NextCheck = time.Time{}
	res := Result{State: state, RateLimitRemaining: -1}
	now := s.now()
	old := DecodeCursors(state.Cursor)
	next := Cursors{}
	f := &redditFetch{remaining: -1}
	var (
		firstErr   error
		failed, ok int
		stopped    bool
	)
	for _, l := range s.listings() {
		if c, valid := parseRedditCursor(old[l.key]); valid {
			next[l.key] = c.String()
		}
		if stopped || ctx.Err() != nil {
			continue
		}
		if f.remaining >= 0 && f.remaining < redditLowRemaining {
			// Leave the rest for after the reset rather than run into 429s
			// (NextCheck is set below); their cursors stay.
			stopped = true
			s.logger.Debug("reddit rate limit low; waiting for reset", "remaining", f.remaining, "reset_seconds", f.reset.Seconds())
			continue
		}
		if s.anonymous() && f.requests >= redditAnonPerFetch {
			stopped = true
			res.State.NextCheck = redditLater(res.State.NextCheck, now.Add(time.Minute))
			continue
		}
		cur, valid := parseRedditCursor(old[l.key])
		if !valid {
			cur = redditCursor{created: float64(now.Add(-s.lookback).Unix())}
		}
		posts, newCur, skipped, err := s.walk(ctx, f, l, cur, now)
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			s.logger.Warn("reddit listing failed", "listing", l.key, "err", err)
			var fe *FetchError
			var auth redditAuthError
			if errors.As(err, &auth) || errors.As(err, &fe) && fe.Reason == ReasonRateLimited {
				// Refused for the whole client (no token, anonymous access
				// refused, rate limited), not for this listing: stop asking.
				stopped = true
				if d := apiRetryAfter(err); d > 0 {
					res.State.NextCheck = redditLater(res.State.NextCheck, now.Add(d))
				}
			}
			continue
		}
		ok++
		res.Posts = append(res.Posts, posts...)
		res.Skipped += skipped
		next[l.key] = newCur.String()
		s.logger.Debug("reddit listing", "listing", l.key, "posts", len(posts), "cursor", newCur.String())
	}
	res.State.Cursor = next.Encode()
	res.RateLimitRemaining = f.remaining
	if f.remaining >= 0 && f.remaining < redditLowRemaining {
		res.State.NextCheck = redditLater(res.State.NextCheck, now.Add(max(f.reset, time.Second)))
	}
	if ok == 0 && ctx.Err() != nil {
		return res, at(s.where(), ctx.Err())
	}
	if failed > 0 && ok == 0 {
		return res, at(s.where(), firstErr)
	}
	return res, nil
}

// walk reads one listing from the top down to cur and returns what is newer,
// with the cursor to save.
func (s *redditSource) walk(ctx context.Context, f *redditFetch, l redditListing, cur redditCursor, now time.Time) ([]affinity.Post, redditCursor, int, error) {
	var (
		posts    []affinity.Post
		skipped  int
		newest   = redditCursor{created: cur.created, names: slices.Clone(cur.names)}
		after    string
		seen     = map[string]bool{}
		complete bool
	)
	for page := 0; page < redditMaxPages && !complete; page++ {
		if page > 0 && f.remaining >= 0 && f.remaining < 1 {
			return nil, cur, 0, &FetchError{Reason: ReasonRateLimited, RetryAfter: f.reset,
				Err: fmt.Errorf("listing %q: request budget spent mid-way; resumes after the reset", l.key)}
		}
		children, nextAfter, err := s.page(ctx, f, l, after)
		if err != nil {
			return nil, cur, 0, apiWrap(fmt.Sprintf("listing %q", l.key), err)
		}
		var skips pageSkips
		for _, raw := range children {
			var c redditChild
			if err := json.Unmarshal(raw, &c); err != nil {
				skips.add("child: " + err.Error())
				continue
			}
			if c.Kind != "t3" && c.Kind != "t1" {
				continue // "more" stubs, subreddits, users
			}
			var t redditThing
			bad := ""
			if err := json.Unmarshal(c.Data, &t); err != nil {
				// Read its name and time alone: they still move the cursor
				// past it, so the next fetch does not stop on it again.
				bad, t = err.Error(), redditThing{}
				var k struct {
					ID         string  `json:"id"`
					Name       string  `json:"name"`
					CreatedUTC float64 `json:"created_utc"`
				}
				_ = json.Unmarshal(c.Data, &k)
				t.ID, t.Name, t.CreatedUTC = k.ID, k.Name, k.CreatedUTC
			}
			name := t.Name
			if name == "" && t.ID != "" {
				name = c.Kind + "_" + t.ID
			}
			if name == "" || t.CreatedUTC <= 0 {
				skips.add(cmp.Or(bad, "thing without name or created_utc"))
				continue
			}
			if t.CreatedUTC > float64(now.Add(apiFutureSkew).Unix()) {
				skips.add("created_utc is out of range")
				continue
			}
			switch {
			case t.CreatedUTC < cur.created, t.CreatedUTC == cur.created && slices.Contains(cur.names, name):
				// Delivered last time, or older than the look-back. The rest of
				// the page is looked at all the same, so an old pinned thing on
				// top does not end the walk, but no further page is asked for.
				complete = true
				continue
			case seen[name]:
				continue // pushed onto the next page by a newer thing
			}
			seen[name] = true
			switch {
			case t.CreatedUTC > newest.created:
				newest = redditCursor{created: t.CreatedUTC, names: []string{name}}
			case t.CreatedUTC == newest.created:
				newest.names = append(newest.names, name)
			}
			if bad != "" {
				skips.add(bad)
				continue
			}
			posts = append(posts, t.post(c.Kind, name, s.name, s.format, now))
		}
		skipped += skips.n
		skips.warn(s.logger, "listing", l.key, "page", page)
		if nextAfter == "" || len(children) == 0 {
			complete = true
		}
		after = nextAfter
	}
	if !complete {
		s.logger.Warn("reddit listing deeper than Reddit pages; older things may be missed", "listing", l.key, "pages", redditMaxPages)
	}
	return posts, newest, skipped, nil
}

type redditChild struct {
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

type redditListingBody struct {
	Kind string `json:"kind"`
	Data *struct {
		After    *string           `json:"after"`
		Children []json.RawMessage `json:"children"` // decoded one by one in walk
	} `json:"data"`
}

// redditThing holds the fields of a t3 (post) or t1 (comment) we use. Fields
// Reddit sends as null decode to zero values; "edited" (false or a time) and
// "replies" ("" or a listing) are left out on purpose: their types vary.
type redditThing struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Author      *string  `json:"author"`
	CreatedUTC  float64  `json:"created_utc"`
	Permalink   *string  `json:"permalink"`
	Title       *string  `json:"title"`
	LinkTitle   *string  `json:"link_title"`
	Selftext    *string  `json:"selftext"`
	Body        *string  `json:"body"`
	URL         *string  `json:"url"`
	IsSelf      bool     `json:"is_self"`
	Score       apiCount `json:"score"`
	Ups         apiCount `json:"ups"`
	NumComments apiCount `json:"num_comments"`
}

func (t redditThing) post(kind, name, source string, format affinity.Format, now time.Time) affinity.Post {
	author := hnStr(t.Author)
	if author == "[deleted]" {
		author = "" // the thing stays (its text may still count), its author is gone
	}
	p := affinity.Post{
		Source:     source,
		ID:         name,
		Author:     author,
		Published:  time.Unix(0, int64(t.CreatedUTC*1e9)).UTC(),
		Collected:  now,
		Engagement: affinity.Engagement{Score: t.Score.n(), Likes: t.Ups.nonNeg()},
		Format:     format,
	}
	if pl := hnStr(t.Permalink); pl != "" {
		p.URL = "https://www.reddit.com" + pl
	}
	if kind == "t3" {
		p.Title = hnStr(t.Title)
		p.Text = hnStr(t.Selftext)
		p.Engagement.Replies = t.NumComments.nonNeg()
		// A link post's target goes into the text, so analysis sees where it
		// points; URL stays the discussion (see hackernews.go for why).
		if link := strings.TrimSpace(hnStr(t.URL)); !t.IsSelf && link != "" && link != p.URL {
			if p.Text == "" {
				p.Text = link
			} else {
				p.Text += "\n\n" + link
			}
		}
	} else {
		// A comment in /comments carries its thread's num_comments, not its own
		// replies: counting it would credit "Thank you!" with 89,751 replies.
		p.Title = hnStr(t.LinkTitle)
		p.Text = hnStr(t.Body)
	}
	return p
}

// page requests one page of a listing and reads the rate-limit headers.
func (s *redditSource) page(ctx context.Context, f *redditFetch, l redditListing, after string) ([]json.RawMessage, string, error) {
	v := url.Values{}
	for k, vs := range l.params {
		v[k] = vs
	}
	v.Set("limit", strconv.Itoa(redditPageLimit))
	v.Set("raw_json", "1") // text as written, not HTML-escaped
	if after != "" {
		v.Set("after", after)
	}
	base, path := s.api, l.path
	if s.anonymous() {
		base, path = s.anonAPI, path+".json"
	}
	rawURL := base + path + "?" + v.Encode()
	resp, err := s.get(ctx, f, rawURL, false)
	if err != nil {
		return nil, "", err
	}
	if err := apiJSONCheck(resp); err != nil {
		return nil, "", err
	}
	var body redditListingBody
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		return nil, "", &FetchError{Reason: ReasonParse, Err: fmt.Errorf("%s: %w", path, err)}
	}
	if body.Kind != "Listing" || body.Data == nil {
		return nil, "", &FetchError{Reason: ReasonParse, Err: fmt.Errorf("%s: not a listing (kind %q)", path, body.Kind)}
	}
	return body.Data.Children, hnStr(body.Data.After), nil
}

// get sends one GET, with the token when there is one; a 401 on a token
// drops it and tries once more with a fresh one (tokens can be revoked
// before they expire).
func (s *redditSource) get(ctx context.Context, f *redditFetch, rawURL string, retried bool) (*Response, error) {
	req, err := s.client.NewRequest(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if !s.anonymous() {
		tok, err := s.bearer(ctx, retried)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "bearer "+tok)
	}
	f.requests++
	resp, err := s.client.Do(req)
	if resp != nil {
		if r := RateLimitRemaining(resp.Header); r >= 0 {
			f.remaining = r
		}
		if sec, perr := strconv.ParseFloat(strings.TrimSpace(resp.Header.Get("X-Ratelimit-Reset")), 64); perr == nil && sec >= 0 {
			f.reset = time.Duration(sec * float64(time.Second))
		}
	}
	if err == nil {
		return resp, nil
	}
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	switch {
	case code == http.StatusUnauthorized && !s.anonymous() && !retried:
		s.dropToken()
		return s.get(ctx, f, rawURL, true)
	case s.anonymous() && (code == http.StatusForbidden || code == http.StatusTooManyRequests):
		var fe *FetchError
		if !errors.As(err, &fe) {
			return nil, err
		}
		return nil, &FetchError{Reason: fe.Reason, RetryAfter: fe.RetryAfter,
			Err: redditAuthError{fmt.Errorf("reddit refused anonymous access (HTTP %d): configure client_id and client_secret", code)}}
	}
	return nil, err
}

func (s *redditSource) dropToken() {
	s.mu.Lock()
	s.token = ""
	s.mu.Unlock()
}

// bearer returns a valid app-only token, fetching one when there is none,
// it is about to expire, or force is set. The secret is read at each fetch
// (a rotated file is picked up) and never written into an error or a log.
func (s *redditSource) bearer(ctx context.Context, force bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !force && s.token != "" && now.Before(s.tokenExp) {
		return s.token, nil
	}
	secret, err := s.secret.Value()
	if err != nil {
		// Value's errors name the variable or file, never the value.
		return "", &FetchError{Reason: ReasonHTTP4xx, Err: redditAuthError{fmt.Errorf("client_secret: %w", err)}}
	}
	req, err := s.client.NewRequest(ctx, http.MethodPost, s.tokenURL, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(s.clientID, secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		var fe *FetchError
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && errors.As(err, &fe) {
			return "", &FetchError{Reason: fe.Reason, Err: redditAuthError{
				fmt.Errorf("access token: reddit rejected client_id %q and its client_secret (HTTP %d)", s.clientID, resp.StatusCode)}}
		}
		return "", apiWrap("access token", err)
	}
	if err := apiJSONCheck(resp); err != nil {
		return "", apiWrap("access token", err)
	}
	var tok struct {
		AccessToken string  `json:"access_token"`
		ExpiresIn   float64 `json:"expires_in"`
		Error       string  `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &tok); err != nil {
		return "", &FetchError{Reason: ReasonParse, Err: fmt.Errorf("access token: %w", err)}
	}
	if tok.Error != "" {
		return "", &FetchError{Reason: ReasonHTTP4xx, Err: redditAuthError{fmt.Errorf("access token: reddit answered %q", tok.Error)}}
	}
	if tok.AccessToken == "" {
		return "", &FetchError{Reason: ReasonParse, Err: errors.New("access token: response has no access_token")}
	}
	life := time.Duration(tok.ExpiresIn * float64(time.Second))
	if life <= 0 {
		life = time.Hour
	}
	// Renew a minute early (a tenth for short lives), so a token does not
	// expire between this check and the request that carries it.
	s.token, s.tokenExp = tok.AccessToken, now.Add(life-min(time.Minute, life/10))
	return s.token, nil
}

// redditAuthError marks a refusal of the client as a whole (no token,
// anonymous access refused): every listing would fail the same way, so the
// fetch stops at the first.
type redditAuthError struct{ error }

func (e redditAuthError) Unwrap() error { return e.error }

func redditLater(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
