package collector

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

const (
	// lemmyLimit is the largest page /api/v3/search serves.
	lemmyLimit = 50
	// lemmyMaxPages bounds the requests per instance and query in one Fetch;
	// Lemmy's default search rate limit is a few dozen requests a minute per IP.
	lemmyMaxPages = 4
)

// lemmySource searches Lemmy instances for every query, newest first.
//
// State.Cursor holds Cursors keyed "INSTANCE|QUERY_KEY". A value is the
// newest `published` seen there (RFC 3339, UTC), or, while a backlog larger
// than one fetch is being read, "SINCE page=N newest=T": keep reading at page
// N down to SINCE, then continue from T. Search pages by number, newest
// first, so the newest time alone would skip what lies between the last
// page read and the old cursor.
type lemmySource struct {
	name      string
	instances []string
	queries   []lemmyQuery
	lookback  time.Duration
	format    affinity.Format
	client    *Client
	logger    *slog.Logger
	now       func() time.Time
	limit     int // page size; smaller in tests
	maxPages  int
}

type lemmyQuery struct {
	key, search string
}

func newLemmy(cfg config.Source, opts Options) (Source, error) {
	where := fmt.Sprintf("lemmy %q", cfg.Name)
	if opts.Client == nil {
		return nil, fmt.Errorf("collector: %s: no HTTP client", where)
	}
	instances, err := fediInstances(cfg)
	if err != nil {
		return nil, fmt.Errorf("collector: %s: %w", where, err)
	}
	var queries []lemmyQuery
	for _, q := range opts.Queries {
		if s := q.Search(); s != "" {
			queries = append(queries, lemmyQuery{key: q.Key, search: s})
		}
	}
	if len(queries) == 0 {
		return nil, fmt.Errorf("collector: %s: no queries: give the topics or brands terms to search for", where)
	}
	return &lemmySource{
		name:      cfg.Name,
		instances: instances,
		queries:   queries,
		lookback:  fediLookback(cfg),
		format:    formatOr(cfg.Format, affinity.FormatCommunity),
		client:    opts.Client,
		logger:    loggerOr(opts.Logger),
		now:       nowOr(opts.Now),
		limit:     lemmyLimit,
		maxPages:  lemmyMaxPages,
	}, nil
}

func (s *lemmySource) Name() string { return s.name }

func (s *lemmySource) where() string { return fmt.Sprintf("lemmy %q", s.name) }

// Fetch searches every instance for every query (see fediFetch).
func (s *lemmySource) Fetch(ctx context.Context, state affinity.SourceState) (Result, error) {
	state.Source = s.name
	now := s.now()
	return fediFetch(s.where(), s.logger, state, s.instances, s.queries, func(q lemmyQuery) string { return q.key }, now,
		func(run *fediRun, inst string, q lemmyQuery, cursor string) bool {
			return s.fetchQuery(ctx, run, inst, q, cursor, now)
		})
}

// fetchQuery reads one query's pages, newest first, down to the cursor (or
// the look-back on a first run). It reports whether the instance should not
// be asked again in this fetch.
func (s *lemmySource) fetchQuery(ctx context.Context, run *fediRun, inst string, q lemmyQuery, cursor string, now time.Time) (stop bool) {
	key := inst + "|" + q.key
	cur, ok := parseLemmyCursor(cursor)
	if !ok {
		cur = lemmyCursor{since: now.Add(-s.lookback)}
	}
	newest, start := cur.since, 1
	if cur.page > 1 {
		newest, start = cur.newest, cur.page
	}
	for page := start; page < start+s.maxPages; page++ {
		v := url.Values{
			"q":     {q.search},
			"type_": {"Posts"},
			"sort":  {"New"},
			"limit": {strconv.Itoa(s.limit)},
			"page":  {strconv.Itoa(page)},
		}
		var sr lemmySearchResponse
		resp, err := s.get(ctx, inst+"/api/v3/search?"+v.Encode(), &sr)
		run.observe(resp, now)
		if err == nil && sr.Posts == nil {
			err = &FetchError{Reason: ReasonParse, Err: fmt.Errorf("%s: no \"posts\" in the search response", redactURL(resp.URL))}
		}
		if err != nil {
			err = fediAnnotate(err, resp)
			run.fail(inst, "query", q.key, err, now)
			return fediInstanceDown(err, resp)
		}
		run.ok++
		reached := false // a post at or before the cursor: older pages hold nothing new
		var skips pageSkips
		for i, raw := range *sr.Posts {
			pv, bad := lemmyDecode(raw)
			published, ok := lemmyTime(pv.Post.Published)
			if !ok || !apiTimeOK(published, now) {
				skips.add(cmp.Or(bad, "post without a readable published time"))
				continue
			}
			if !published.After(cur.since) {
				// Only the last entry decides: should an instance list a
				// pinned old post first, the newer ones after it still count.
				reached = reached || i == len(*sr.Posts)-1
				continue
			}
			if bad != "" {
				// Its time still moves the cursor: the next fetch starts after it.
				skips.add(bad)
				newest = fediLater(newest, published)
				continue
			}
			if pv.Post.Deleted || pv.Post.Removed {
				continue // gone from the instance: no longer presence
			}
			p, ok := s.post(pv, published, now)
			if !ok {
				skips.add("post without ap_id")
				continue
			}
			newest = fediLater(newest, published)
			run.posts = append(run.posts, p)
		}
		run.skipped += skips.n
		skips.warn(s.logger, "instance", inst, "query", q.key, "page", page)
		if reached || len(*sr.Posts) < s.limit {
			run.cursors[key] = formatLemmyTime(newest)
			return run.low
		}
		// Mid-backlog: resume at the next page. New posts arriving meanwhile
		// push older ones to later pages, so resuming repeats some (the
		// batch and the store drop them) but never skips one.
		run.cursors[key] = lemmyCursor{since: cur.since, page: page + 1, newest: newest}.String()
		if run.low {
			return true
		}
	}
	run.more = true
	return false
}

func (s *lemmySource) get(ctx context.Context, u string, v any) (*Response, error) {
	req, err := s.client.NewRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return resp, err
	}
	return resp, fediDecode(resp, '{', v)
}

// lemmySearchResponse is the part of a v3 SearchResponse we read
// (lemmy-js-client SearchResponse: type_, comments, posts, communities, users).
type lemmySearchResponse struct {
	Posts *[]json.RawMessage `json:"posts"` // a pointer tells a missing field from an empty list; each decoded alone
}

// lemmyDecode decodes one PostView of a page. One that does not decode comes
// back with bad set and only its published time, if that much could be read.
func lemmyDecode(raw json.RawMessage) (pv lemmyPostView, bad string) {
	if err := json.Unmarshal(raw, &pv); err != nil {
		var k struct {
			Post struct {
				Published string `json:"published"`
			} `json:"post"`
		}
		_ = json.Unmarshal(raw, &k)
		pv = lemmyPostView{}
		pv.Post.Published = k.Post.Published
		return pv, err.Error()
	}
	return pv, ""
}

// lemmyPostView is the part of a PostView we read.
type lemmyPostView struct {
	Post struct {
		Name       string `json:"name"`
		Body       string `json:"body"`
		URL        string `json:"url"`
		APID       string `json:"ap_id"`
		Published  string `json:"published"`
		LanguageID int    `json:"language_id"`
		Deleted    bool   `json:"deleted"`
		Removed    bool   `json:"removed"`
	} `json:"post"`
	Creator struct {
		Name    string `json:"name"`
		ActorID string `json:"actor_id"`
	} `json:"creator"`
	Counts struct {
		Score    apiCount `json:"score"`
		Comments apiCount `json:"comments"`
		Upvotes  apiCount `json:"upvotes"`
	} `json:"counts"`
}

func (s *lemmySource) post(pv lemmyPostView, published, now time.Time) (affinity.Post, bool) {
	if pv.Post.APID == "" {
		return affinity.Post{}, false
	}
	text := pv.Post.Body
	if link := strings.TrimSpace(pv.Post.URL); link != "" {
		// A link post's subject is often only in its URL; analysis matches
		// terms in it like in the text.
		if text != "" {
			text += "\n\n"
		}
		text += link
	}
	return affinity.Post{
		Source:    s.name,
		ID:        pv.Post.APID, // federated id: the same post seen on two instances is one
		URL:       pv.Post.APID,
		Author:    lemmyAuthor(pv.Creator.Name, pv.Creator.ActorID),
		Published: published,
		Collected: now,
		Language:  lemmyLanguage(pv.Post.LanguageID),
		Title:     pv.Post.Name,
		Text:      text,
		Engagement: affinity.Engagement{
			Score:   pv.Counts.Score.n(),
			Replies: pv.Counts.Comments.nonNeg(),
			Likes:   pv.Counts.Upvotes.nonNeg(),
		},
		Format: s.format,
	}, true
}

// lemmyAuthor is name@host of the creator's home instance
// (actor_id https://lemmy.world/u/alice gives alice@lemmy.world).
func lemmyAuthor(name, actorID string) string {
	u, err := url.Parse(actorID)
	if err != nil || u.Hostname() == "" {
		return name
	}
	if name == "" {
		name = strings.TrimPrefix(u.Path[strings.LastIndex(u.Path, "/")+1:], "@")
	}
	return name + "@" + u.Hostname()
}

// lemmyTime reads `published`: RFC 3339 since Lemmy 0.19, without a zone
// before (the server's UTC).
func lemmyTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func formatLemmyTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

type lemmyCursor struct {
	since  time.Time
	page   int       // > 1: mid-backlog, resume at this page
	newest time.Time // mid-backlog: the newest post already delivered
}

func (c lemmyCursor) String() string {
	return fmt.Sprintf("%s page=%d newest=%s", formatLemmyTime(c.since), c.page, formatLemmyTime(c.newest))
}

// parseLemmyCursor reads a cursor; false for none or one it cannot read
// (which restarts from the look-back rather than failing the source).
func parseLemmyCursor(s string) (lemmyCursor, bool) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return lemmyCursor{}, false
	}
	var c lemmyCursor
	var err error
	if c.since, err = time.Parse(time.RFC3339Nano, f[0]); err != nil {
		return lemmyCursor{}, false
	}
	if len(f) == 1 {
		return c, true
	}
	if len(f) != 3 {
		return lemmyCursor{}, false
	}
	page, ok1 := strings.CutPrefix(f[1], "page=")
	newest, ok2 := strings.CutPrefix(f[2], "newest=")
	if c.page, err = strconv.Atoi(page); !ok1 || !ok2 || err != nil || c.page < 2 {
		return lemmyCursor{}, false
	}
	if c.newest, err = time.Parse(time.RFC3339Nano, newest); err != nil {
		return lemmyCursor{}, false
	}
	return c, true
}

// lemmyLanguages are ISO 639-1 codes by Lemmy language_id: the ids its
// 2022-07-07 migration seeds (0 is "und", undetermined, then these from 1),
// the same on every instance.
var lemmyLanguages = strings.Fields(`
aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy
da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht
hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky
la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny
oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss
st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo
za zh zu`)

// lemmyLanguage maps a language_id to its code; 0 (undetermined) and ids we
// do not know give "".
func lemmyLanguage(id int) string {
	if id < 1 || id > len(lemmyLanguages) {
		return ""
	}
	return lemmyLanguages[id-1]
}
