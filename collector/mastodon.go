package collector

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

const (
	// mastodonLimit is the largest page the tag timeline serves.
	mastodonLimit = 40
	// mastodonMaxPages bounds the requests per instance and tag in one Fetch:
	// 300 requests / 5 min per IP is shared by every tag we follow there.
	mastodonMaxPages = 5
	// fediDefaultLookback is how far back a first fetch reaches when the config
	// leaves lookback zero (the loader's default is the same).
	fediDefaultLookback = 7 * 24 * time.Hour
	// fediLowBudget: below this share of X-RateLimit-Limit we stop asking
	// and wait for X-RateLimit-Reset instead of running into 429s.
	fediLowBudget = 0.05
)

// mastodonSource follows hashtag timelines on one or more Mastodon instances.
//
// State.Cursor holds Cursors keyed "INSTANCE|TAG" (INSTANCE as configured,
// without a trailing slash); each value is the newest status id seen there,
// resumed with min_id. Ids are per instance, hence one cursor per instance.
type mastodonSource struct {
	name      string
	instances []string // base URLs, no trailing slash
	tags      []string // folded: lower case, no '#'
	token     string   // bearer token; "" for anonymous reads
	lookback  time.Duration
	format    affinity.Format
	client    *Client
	logger    *slog.Logger
	now       func() time.Time
	limit     int // page size; smaller in tests
	maxPages  int

	// emptyLogged remembers the instance|tag pairs whose empty first page was
	// already reported, so a closed timeline is logged once, not every fetch.
	mu          sync.Mutex
	emptyLogged map[string]bool
}

func newMastodon(cfg config.Source, opts Options) (Source, error) {
	where := fmt.Sprintf("mastodon %q", cfg.Name)
	if opts.Client == nil {
		return nil, fmt.Errorf("collector: %s: no HTTP client", where)
	}
	instances, err := fediInstances(cfg)
	if err != nil {
		return nil, fmt.Errorf("collector: %s: %w", where, err)
	}
	tags, err := mastodonTags(cfg.Tags, opts.Queries)
	if err != nil {
		return nil, fmt.Errorf("collector: %s: %w", where, err)
	}
	var token string
	if cfg.Token.IsSet() {
		// Read once here: a missing variable or file fails the config load
		// (and a reload), not every fetch. Value's errors name the variable
		// or the file, never the secret.
		if token, err = cfg.Token.Value(); err != nil {
			return nil, fmt.Errorf("collector: %s: token: %w", where, err)
		}
	}
	return &mastodonSource{
		name:        cfg.Name,
		instances:   instances,
		tags:        tags,
		token:       token,
		lookback:    fediLookback(cfg),
		format:      formatOr(cfg.Format, affinity.FormatNetwork),
		client:      opts.Client,
		logger:      loggerOr(opts.Logger),
		now:         nowOr(opts.Now),
		limit:       mastodonLimit,
		maxPages:    mastodonMaxPages,
		emptyLogged: map[string]bool{},
	}, nil
}

func (s *mastodonSource) Name() string { return s.name }

func (s *mastodonSource) where() string { return fmt.Sprintf("mastodon %q", s.name) }

// Fetch reads every tag on every instance (see fediFetch).
func (s *mastodonSource) Fetch(ctx context.Context, state affinity.SourceState) (Result, error) {
	state.Source = s.name
	now := s.now()
	return fediFetch(s.where(), s.logger, state, s.instances, s.tags, func(tag string) string { return tag }, now,
		func(run *fediRun, inst, tag, cursor string) bool { return s.fetchTag(ctx, run, inst, tag, cursor, now) })
}

// fetchTag pages through one tag timeline of one instance. It reports whether
// the instance should not be asked again in this fetch (down, closed to us,
// or its budget nearly spent).
func (s *mastodonSource) fetchTag(ctx context.Context, run *fediRun, inst, tag, cursor string, now time.Time) (stop bool) {
	key := inst + "|" + tag
	base := inst + "/api/v1/timelines/tag/" + url.PathEscape(tag)
	host := fediHost(inst)
	first := cursor == ""
	cutoff := now.Add(-s.lookback)
	newest, maxID := cursor, ""
	for page := 0; page < s.maxPages; page++ {
		q := url.Values{"limit": {strconv.Itoa(s.limit)}}
		switch {
		case !first:
			// min_id gives the page immediately after the cursor (oldest
			// first, served newest first), so following it forward leaves
			// no gap, however many statuses arrived meanwhile.
			q.Set("min_id", newest)
		case maxID != "":
			q.Set("max_id", maxID) // first run: walk back into the look-back
		}
		var statuses []json.RawMessage // each decoded alone: one bad status never sinks the page
		resp, err := s.get(ctx, base+"?"+q.Encode(), &statuses)
		run.observe(resp, now)
		if err != nil {
			err = mastodonExplain(fediAnnotate(err, resp), resp, s.token != "")
			run.fail(inst, "tag", tag, err, now)
			return fediInstanceDown(err, resp)
		}
		run.ok++
		if len(statuses) == 0 {
			if first && page == 0 {
				s.logEmptyOnce(inst, tag)
			}
			break
		}
		kept, oldest, before := 0, "", newest
		var skips pageSkips
		for _, raw := range statuses {
			st, bad := mastodonDecode(raw)
			if st.ID == "" {
				skips.add(cmp.Or(bad, "status without id"))
				continue
			}
			// A status that does not decode still moves the cursor by its
			// id: min_id must get past it, or every fetch stops on it.
			if newest == "" || mastodonIDLess(newest, st.ID) {
				newest = st.ID
			}
			if oldest == "" || mastodonIDLess(st.ID, oldest) {
				oldest = st.ID
			}
			if bad != "" {
				skips.add(bad)
				continue
			}
			p, ok := s.post(st, host, now)
			if !ok {
				skips.add("status without uri")
				continue
			}
			if first && !p.Published.IsZero() && p.Published.Before(cutoff) {
				continue
			}
			kept++
			run.posts = append(run.posts, p)
		}
		run.skipped += skips.n
		skips.warn(s.logger, "instance", inst, "tag", tag)
		// Saved after every page: a later page failing keeps this progress.
		if newest != "" {
			run.cursors[key] = newest
		}
		if run.low || len(statuses) < s.limit || (!first && newest == before) {
			// A full page without one readable id would be asked for again
			// with the same min_id: stop, and let new statuses move it on.
			// A short page is the end for now; were it short for another
			// reason, the cursor still resumes right here next time.
			break
		}
		if first {
			if kept == 0 {
				break // this page is wholly older than the look-back
			}
			maxID = oldest
			continue // the bound ends a backfill: older posts are not wanted badly enough
		}
		if page == s.maxPages-1 {
			run.more = true
		}
	}
	return run.low
}

// get asks url and decodes the JSON array it answers into v.
func (s *mastodonSource) get(ctx context.Context, u string, v any) (*Response, error) {
	req, err := s.client.NewRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return resp, err
	}
	return resp, fediDecode(resp, '[', v)
}

func (s *mastodonSource) logEmptyOnce(inst, tag string) {
	s.mu.Lock()
	key := inst + "|" + tag
	seen := s.emptyLogged[key]
	s.emptyLogged[key] = true
	s.mu.Unlock()
	if !seen {
		s.logger.Info("mastodon tag timeline empty", "instance", inst, "tag", tag,
			"hint", "no posts yet, or the instance disabled public tag timelines (Mastodon 4.5+); a token may help")
	}
}

// mastodonStatus is the part of a Status entity we read.
type mastodonStatus struct {
	ID              string          `json:"id"`
	URI             string          `json:"uri"`
	URL             string          `json:"url"`
	CreatedAt       string          `json:"created_at"`
	Language        string          `json:"language"`
	Content         string          `json:"content"`
	SpoilerText     string          `json:"spoiler_text"`
	RepliesCount    apiCount        `json:"replies_count"`
	ReblogsCount    apiCount        `json:"reblogs_count"`
	FavouritesCount apiCount        `json:"favourites_count"`
	Account         mastodonAccount `json:"account"`
	Reblog          *mastodonStatus `json:"reblog"`
}

// mastodonDecode decodes one status of a page. One that does not decode
// comes back with bad set and only its id, if that much could be read.
func mastodonDecode(raw json.RawMessage) (st mastodonStatus, bad string) {
	if err := json.Unmarshal(raw, &st); err != nil {
		var k struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &k)
		return mastodonStatus{ID: k.ID}, err.Error()
	}
	return st, ""
}

type mastodonAccount struct {
	Acct string `json:"acct"`
}

// post maps a status; a reblog counts as the status it boosts (its own id
// still drives the cursor). host completes local accounts' handles.
func (s *mastodonSource) post(st mastodonStatus, host string, now time.Time) (affinity.Post, bool) {
	if st.Reblog != nil {
		st = *st.Reblog
	}
	if st.URI == "" {
		return affinity.Post{}, false
	}
	p := affinity.Post{
		Source:    s.name,
		ID:        st.URI, // the ActivityPub id: one post however many instances show it
		URL:       st.URL,
		Author:    st.Account.Acct,
		Collected: now,
		Language:  st.Language,
		Text:      st.Content,
		Engagement: affinity.Engagement{
			Likes:   st.FavouritesCount.nonNeg(),
			Reposts: st.ReblogsCount.nonNeg(),
			Replies: st.RepliesCount.nonNeg(),
		},
		Format: s.format,
	}
	if p.URL == "" {
		p.URL = st.URI
	}
	if p.Author != "" && !strings.Contains(p.Author, "@") && host != "" {
		p.Author += "@" + host // local accounts come without their domain
	}
	if t, err := time.Parse(time.RFC3339Nano, st.CreatedAt); err == nil {
		p.Published = t.UTC()
	}
	if cw := strings.TrimSpace(st.SpoilerText); cw != "" {
		// The content warning is plain text and says what the post is about;
		// content is HTML, so escape the warning before putting it in front.
		p.Text = "<p>" + html.EscapeString(cw) + "</p>" + p.Text
	}
	return p, true
}

// mastodonExplain says what a 401/403 means on a tag timeline: since
// Mastodon 4.5 an admin may restrict public timelines to signed-in users.
func mastodonExplain(err error, resp *Response, withToken bool) error {
	var fe *FetchError
	if resp == nil || !errors.As(err, &fe) ||
		(resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden) {
		return err
	}
	c := *fe
	if withToken {
		c.Err = fmt.Errorf("%w: the instance rejected the configured token for tag timelines (expired, revoked or missing the read scope?)", fe.Err)
	} else {
		c.Err = fmt.Errorf("%w: the instance requires an access token for tag timelines (Mastodon 4.5+ may disable public timelines); set token on this source", fe.Err)
	}
	return &c
}

// mastodonTags folds configured tags, or derives them from the queries'
// terms when none are configured: "customer service" follows #customerservice.
func mastodonTags(configured []string, queries []Query) ([]string, error) {
	var tags []string
	seen := map[string]bool{}
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	if len(configured) > 0 {
		for _, raw := range configured {
			t := mastodonTag(raw)
			if t == "" {
				return nil, fmt.Errorf("tag %q has no letters or digits", raw)
			}
			add(t)
		}
		return tags, nil
	}
	for _, q := range queries {
		for _, term := range q.Terms {
			add(mastodonTag(term))
		}
	}
	if len(tags) == 0 {
		return nil, errors.New("no tags: set tags, or give the topics terms to derive them from")
	}
	return tags, nil
}

// mastodonTag folds a term to a hashtag: lower case, keeping what Mastodon
// allows in one (letters, digits, combining marks, '_'), dropping spaces,
// hyphens and punctuation.
func mastodonTag(term string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(term)) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '_' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mastodonIDLess orders Mastodon ids: decimal snowflakes, longer is newer, equal
// lengths compare by digits. As plain strings "9" would sort after "10".
func mastodonIDLess(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// --- shared by the fediverse sources (mastodon, lemmy) ---

// fediInstances returns the configured instances as base URLs without a
// trailing slash; the URL field stands in for a single instance. A bare host
// gets https://.
func fediInstances(cfg config.Source) ([]string, error) {
	raw := cfg.Instances
	if len(raw) == 0 && cfg.URL != "" {
		raw = []string{cfg.URL}
	}
	if len(raw) == 0 {
		return nil, errors.New("no instances configured")
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range raw {
		s := strings.TrimSpace(r)
		if !strings.Contains(s, "://") {
			s = "https://" + s
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("instance %q is not an http(s) base URL", redactURL(r))
		}
		s = strings.TrimRight(u.String(), "/")
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

func fediLookback(cfg config.Source) time.Duration {
	if d := time.Duration(cfg.Lookback); d > 0 {
		return d
	}
	return fediDefaultLookback
}

func fediHost(base string) string {
	if u, err := url.Parse(base); err == nil {
		return u.Hostname()
	}
	return ""
}

// fediDecode unmarshals a JSON body that must start with open ('[' or '{').
// An HTML page served with 200, a cut body or a wrong shape is a parse
// error that says what arrived, so an operator can tell a maintenance page
// from an API change.
func fediDecode(resp *Response, open byte, v any) error {
	target := redactURL(resp.URL)
	body := strings.TrimSpace(string(resp.Body))
	if body == "" || body[0] != open {
		return &FetchError{Reason: ReasonParse, Err: fmt.Errorf("%s: not a JSON %s (Content-Type %q, body starts %q)",
			target, map[byte]string{'[': "array", '{': "object"}[open], resp.ContentType, fediSnippet(body))}
	}
	if err := json.Unmarshal(resp.Body, v); err != nil {
		return &FetchError{Reason: ReasonParse, Err: fmt.Errorf("%s: invalid JSON (%d bytes): %w", target, len(resp.Body), err)}
	}
	return nil
}

func fediSnippet(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// fediServerMessage is the "error" a Mastodon or Lemmy error body carries
// ({"error":"..."}), "" when there is none; bounded, it goes into errors.
func fediServerMessage(resp *Response) string {
	if resp == nil || resp.StatusCode < 400 {
		return ""
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(resp.Body, &e) != nil {
		return ""
	}
	return fediSnippet(strings.TrimSpace(e.Error))
}

// fediAnnotate adds the server's own words to an error status. Lemmy
// answers its rate limit with 400 {"error":"rate_limit_error"}: that is
// counted as rate_limited, not as a client error.
func fediAnnotate(err error, resp *Response) error {
	msg := fediServerMessage(resp)
	var fe *FetchError
	if msg == "" || !errors.As(err, &fe) {
		return err
	}
	c := *fe
	c.Err = fmt.Errorf("%w (server said %q)", fe.Err, msg)
	if msg == "rate_limit_error" {
		c.Reason = ReasonRateLimited
	}
	return &c
}

// fediRun is what one instance contributed to a fetch.
type fediRun struct {
	posts     []affinity.Post
	cursors   map[string]string // keys advanced by this run
	more      bool
	remaining float64   // lowest X-RateLimit-Remaining seen; -1 none
	nextCheck time.Time // when the instance wants to be asked again
	low       bool      // budget nearly spent: ask no more this fetch
	ok        int       // requests that succeeded
	failures  []fediFailure
	skipped   int
}

type fediFailure struct {
	instance, what, name string
	err                  error
}

func newFediRun() *fediRun { return &fediRun{cursors: map[string]string{}, remaining: -1} }

// observe reads the rate-limit headers any response carries, error responses
// included: X-RateLimit-Limit/Remaining/Reset (Reset an ISO time).
func (r *fediRun) observe(resp *Response, now time.Time) {
	if resp == nil {
		return
	}
	rem := RateLimitRemaining(resp.Header)
	if rem < 0 {
		return
	}
	if r.remaining < 0 || rem < r.remaining {
		r.remaining = rem
	}
	limit, err := strconv.ParseFloat(strings.TrimSpace(resp.Header.Get("X-RateLimit-Limit")), 64)
	if err != nil || limit <= 0 || rem >= fediLowBudget*limit {
		return
	}
	r.low = true
	if reset, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(resp.Header.Get("X-RateLimit-Reset"))); err == nil && reset.After(now) {
		r.nextCheck = fediLater(r.nextCheck, reset)
	}
}

func (r *fediRun) fail(inst, what, name string, err error, now time.Time) {
	var fe *FetchError
	if errors.As(err, &fe) && fe.RetryAfter > 0 {
		r.nextCheck = fediLater(r.nextCheck, now.Add(fe.RetryAfter))
	}
	r.failures = append(r.failures, fediFailure{instance: inst, what: what, name: name, err: err})
}

// fediInstanceDown reports whether a failure means the instance as a whole
// will not answer this fetch: asking it for the next tag or query would only
// add timeouts or spend a budget it already refused.
func fediInstanceDown(err error, resp *Response) bool {
	if resp == nil {
		return true // no HTTP answer at all: reset, refused, timed out
	}
	switch ReasonOf(err) {
	case ReasonTimeout, ReasonConnect, ReasonRateLimited, ReasonHTTP5xx:
		return true
	}
	// 401/403 apply to every tag of the instance alike.
	return resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden)
}

// fediFetch is the Fetch of every fediverse source. Instances are asked in
// parallel, so a hung one costs one timeout, not one per instance; the keys
// (tags, queries) of one instance are asked in turn, each from its cursor
// "INSTANCE|KEY", so we never burst against its rate limit. fetch reports
// whether the instance should not be asked again in this fetch. The runs are
// merged in instance order, so the posts come in a stable order.
func fediFetch[K any](where string, logger *slog.Logger, state affinity.SourceState, instances []string,
	keys []K, keyOf func(K) string, now time.Time, fetch func(run *fediRun, inst string, k K, cursor string) (stop bool)) (Result, error) {
	cursors := DecodeCursors(state.Cursor)
	runs := make([]*fediRun, len(instances))
	var wg sync.WaitGroup
	for i, inst := range instances {
		wg.Go(func() {
			run := newFediRun()
			for _, k := range keys {
				if fetch(run, inst, k, cursors[inst+"|"+keyOf(k)]) {
					break
				}
			}
			runs[i] = run
		})
	}
	wg.Wait()
	res, err := fediMerge(where, logger, state, cursors, runs, now)
	logger.Debug("fetched", "instances", len(instances), "keys", len(keys), "posts", len(res.Posts), "more", res.More)
	return res, err
}

// fediMerge joins the runs into one Result. It fails only when no request
// succeeded at all; otherwise the failures are logged at warn and the failed
// keys keep their old cursors, so the next fetch asks them again.
func fediMerge(where string, logger *slog.Logger, state affinity.SourceState, cursors Cursors,
	runs []*fediRun, now time.Time) (Result, error) {
	res := Result{State: state, RateLimitRemaining: -1}
	var (
		ok        int
		failures  []fediFailure
		nextCheck time.Time
		seen      = map[string]bool{}
	)
	for _, r := range runs {
		ok += r.ok
		failures = append(failures, r.failures...)
		if r.remaining >= 0 && (res.RateLimitRemaining < 0 || r.remaining < res.RateLimitRemaining) {
			res.RateLimitRemaining = r.remaining
		}
		nextCheck = fediLater(nextCheck, r.nextCheck)
		res.Skipped += r.skipped
		res.More = res.More || r.more
		for _, p := range r.posts {
			if !seen[p.ID] { // one post seen through two instances (or two tags) is one
				seen[p.ID] = true
				res.Posts = append(res.Posts, p)
			}
		}
		for k, v := range r.cursors {
			cursors[k] = v
		}
	}
	if ok == 0 && len(failures) > 0 {
		errs := make([]error, len(failures))
		for i, f := range failures {
			errs[i] = f.err
		}
		return Result{State: state, RateLimitRemaining: res.RateLimitRemaining}, fediAllFailed(where, errs)
	}
	for _, f := range failures {
		logger.Warn("instance failed", "instance", f.instance, f.what, f.name,
			"reason", ReasonOf(f.err), "err", f.err)
	}
	res.State.Cursor = cursors.Encode()
	if nextCheck.After(now) {
		// The scheduler waits until then; More would make it ask again at once.
		res.State.NextCheck = nextCheck
		res.More = false
	}
	return res, nil
}

// fediAllFailed is the one error of a fetch where every request failed: the
// first failure's reason (what it is counted under), the longest Retry-After,
// and every failure in the message.
func fediAllFailed(where string, errs []error) error {
	if len(errs) == 1 {
		return at(where, errs[0])
	}
	fe := &FetchError{Where: where, Reason: ReasonOf(errs[0]), Err: fediErrors(errs)}
	for _, err := range errs {
		var e *FetchError
		if errors.As(err, &e) {
			fe.RetryAfter = max(fe.RetryAfter, e.RetryAfter)
		}
	}
	return fe
}

// fediErrors joins errors on one line (errors.Join uses newlines, which
// break a logfmt line) and still unwraps to each of them.
type fediErrors []error

func (e fediErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		// Without each part's "collector: " prefix: the whole already has it.
		var fe *FetchError
		if errors.As(err, &fe) && fe.Where == "" && fe.Err != nil {
			parts[i] = fe.Reason + ": " + fe.Err.Error()
		} else {
			parts[i] = err.Error()
		}
	}
	return fmt.Sprintf("all %d requests failed: %s", len(e), strings.Join(parts, "; "))
}

func (e fediErrors) Unwrap() []error { return e }

func fediLater(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
