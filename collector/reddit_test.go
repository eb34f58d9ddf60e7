package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
	"github.com/prometheus/common/model"
)

const redditFixtures = "../../shared/fixtures/posts/reddit/json"

var redditNow = time.Date(2020, 8, 3, 12, 0, 0, 0, time.UTC)

const redditTestSecret = "s3cr3t-Value-42"

const emptyListing = `{"kind":"Listing","data":{"after":null,"before":null,"children":[]}}`

// redditAPI fakes Reddit: the token endpoint and the listings, with handlers
// per path; it records every request.
type redditAPI struct {
	t        *testing.T
	mu       sync.Mutex
	tokens   int                                                     // tokens issued
	accepted map[string]bool                                         // tokens the API takes
	routes   map[string]func(w http.ResponseWriter, r *http.Request) // by path
	paths    []string
	headers  http.Header // set on every listing response
}

func newRedditAPI(t *testing.T) (*redditAPI, *httptest.Server) {
	a := &redditAPI{t: t, accepted: map[string]bool{}, routes: map[string]func(http.ResponseWriter, *http.Request){}, headers: http.Header{}}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv
}

func (a *redditAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ua := r.Header.Get("User-Agent"); ua != "affinityd/1.2.3 (+https://github.com/affinityd/affinityd)" {
		a.t.Errorf("User-Agent %q", ua)
	}
	if r.URL.Path == "/api/v1/access_token" {
		id, secret, ok := r.BasicAuth()
		_ = r.ParseForm()
		if r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" {
			a.t.Errorf("token request %s %v", r.Method, r.PostForm)
		}
		if !ok || id != "app-id" || secret != redditTestSecret {
			// Echo what was sent, as some servers do: it must not reach our errors.
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"message": "Unauthorized", "error": 401, "got": %q}`, secret)
			return
		}
		a.tokens++
		tok := "tok" + strconv.Itoa(a.tokens)
		a.accepted[tok] = true
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token": %q, "token_type": "bearer", "expires_in": 86400, "scope": "*"}`, tok)
		return
	}
	a.paths = append(a.paths, r.URL.Path+"?"+r.URL.RawQuery)
	if !strings.HasSuffix(r.URL.Path, ".json") {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "bearer "); !ok || !a.accepted[tok] {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	q := r.URL.Query()
	if q.Get("limit") != "100" || q.Get("raw_json") != "1" {
		a.t.Errorf("listing request without limit=100&raw_json=1: %s", r.URL)
	}
	for k, v := range a.headers {
		w.Header()[k] = v
	}
	h, ok := a.routes[r.URL.Path]
	if !ok {
		a.t.Errorf("unexpected path %s", r.URL.Path)
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func (a *redditAPI) requested() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.paths)
}

// serveFixture answers the first page with a recorded listing, later pages
// (after=…) with an empty one.
func serveFixture(t *testing.T, name string) func(http.ResponseWriter, *http.Request) {
	body, err := os.ReadFile(filepath.Join(redditFixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		if r.URL.Query().Get("after") != "" {
			_, _ = w.Write([]byte(emptyListing))
			return
		}
		_, _ = w.Write(body)
	}
}

func newTestReddit(t *testing.T, srvURL string, cfg config.Source, now func() time.Time, queries ...Query) *redditSource {
	t.Helper()
	cfg.Name, cfg.Kind = "rd", "reddit"
	if cfg.Lookback == 0 {
		cfg.Lookback = model.Duration(10 * 365 * 24 * time.Hour)
	}
	if cfg.URL == "" {
		cfg.URL = srvURL
	}
	src, err := newReddit(cfg, Options{Client: apiTestClient(), Now: now, Queries: queries})
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*redditSource)
	s.tokenURL = srvURL + "/api/v1/access_token"
	s.anonAPI = srvURL
	return s
}

func oauthConfig(t *testing.T) config.Source {
	t.Setenv("AFFINITYD_TEST_REDDIT_SECRET", redditTestSecret)
	return config.Source{ClientID: "app-id", ClientSecret: config.Secret{Env: "AFFINITYD_TEST_REDDIT_SECRET"}, Subreddits: []string{"r/test"}}
}

func TestRedditFixtures(t *testing.T) {
	api, srv := newRedditAPI(t)
	api.routes["/r/test/new"] = serveFixture(t, "subreddit__posts.json")
	api.routes["/r/test/comments"] = serveFixture(t, "user__comments.json")
	search := map[string]func(http.ResponseWriter, *http.Request){
		"test":    serveFixture(t, "subreddit__search-posts.json"),
		`"a mix"`: serveFixture(t, "listings__posts-comments-subreddits.json"),
	}
	api.routes["/search"] = func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("sort") != "new" || q.Get("type") != "link" {
			t.Errorf("search %s", r.URL)
		}
		search[q.Get("q")](w, r)
	}
	src := newTestReddit(t, srv.URL, oauthConfig(t), fixedNow(redditNow),
		Query{Key: "topic:t", Terms: []string{"test"}}, Query{Key: "brand:mix", Terms: []string{"a mix"}})
	if src.Name() != "rd" {
		t.Errorf("Name() = %q", src.Name())
	}
	res, err := src.Fetch(context.Background(), affinity.SourceState{Source: "rd"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(id, author string, created float64, permalink, title, text string, score, replies, likes int64) affinity.Post {
		return affinity.Post{
			Source: "rd", ID: id, URL: "https://www.reddit.com" + permalink, Author: author,
			Published: time.Unix(int64(created), 0).UTC(), Collected: redditNow, Title: title, Text: text,
			Engagement: affinity.Engagement{Score: score, Replies: replies, Likes: likes}, Format: affinity.FormatCommunity,
		}
	}
	want := []affinity.Post{
		// r/test/new (a pinned 2019 post on top of a 2020 link post)
		post("t3_agi5zf", "kmiller0112", 1547618271, "/r/test/comments/agi5zf/test/", "test", "test", 253, 1634, 253),
		post("t3_hyhquk", "MuckleMcDuckle", 1595808310, "/r/test/comments/hyhquk/veggies/", "Veggies", "https://i.imgur.com/LrN2mPw.jpg", 4, 0, 4),
		// r/test/comments: a comment's num_comments is its thread's, not its replies
		post("t1_f0zsa37", "v_95", 1569101896, "/r/apple/comments/d7ejpn/im_giving_away_an_iphone_11_pro_to_a_commenter_at/f0zsa37/",
			"I'm giving away an iPhone 11 Pro to a commenter at random to celebrate Apollo for Reddit's new iOS 13 update and as a thank you to the community! Just leave a comment on this post and the winner will be selected randomly and announced tomorrow at 8 PM GMT. Details inside, and good luck!",
			"Thank you!", 1, 0, 1),
		// search "test"
		post("t3_hybow9", "chocolat_ice_cream", 1595787264, "/r/WatchPeopleDieInside/comments/hybow9/pregnancy_test/", "Pregnancy test",
			"https://v.redd.it/ra4qnt8bt8d51", 103829, 3748, 103829),
		post("t3_hmwhd7", "Jeremy_Martin", 1594135182, "/r/worldnews/comments/hmwhd7/brazilian_president_jair_bolsonaro_tests_positive/",
			"Brazilian president Jair Bolsonaro tests positive for coronavirus",
			"https://www.theguardian.com/world/2020/jul/07/jair-bolsonaro-coronavirus-positive-test-brazil-president", 149238, 7415, 149238),
		// search "a mix": a subreddit (t5) is passed over
		post("t3_i2gvg4", "v_95", 1596392588, "/r/test/comments/i2gvg4/this_is_a_title/", "This is a title", "This is some text", 1, 1, 1),
		post("t1_g05v931", "v_95", 1596417340, "/r/test/comments/i2gvg4/this_is_a_title/g05v931/", "", "Test comment", 1, 0, 1),
	}
	if len(res.Posts) != len(want) {
		t.Fatalf("%d posts, want %d: %+v", len(res.Posts), len(want), res.Posts)
	}
	for i := range want {
		if res.Posts[i] != want[i] {
			t.Errorf("post %d:\n got %+v\nwant %+v", i, res.Posts[i], want[i])
		}
	}
	wantCur := Cursors{
		"new:r/test":       "1595808310:t3_hyhquk",
		"comments:r/test":  "1569101896:t1_f0zsa37",
		"search:topic:t":   "1595787264:t3_hybow9",
		"search:brand:mix": "1596417340:t1_g05v931",
	}
	if got := DecodeCursors(res.State.Cursor); !mapsEqual(got, wantCur) {
		t.Errorf("cursors %v, want %v", got, wantCur)
	}
	if api.tokens != 1 {
		t.Errorf("%d tokens fetched, want 1 for the whole fetch", api.tokens)
	}
	// Every listing but the last had an "after": the next page was asked for, and was empty.
	if n := len(api.requested()); n != 7 {
		t.Errorf("%d listing requests, want 7: %v", n, api.requested())
	}
	if res.More || res.RateLimitRemaining != -1 {
		t.Errorf("More=%v RateLimitRemaining=%v", res.More, res.RateLimitRemaining)
	}
}

// TestRedditEdgeThings: edited as a number, nulls, a deleted author, "more"
// stubs, a thing without a name or without a time.
func TestRedditEdgeThings(t *testing.T) {
	body, err := os.ReadFile("testdata/reddit/edge-things.json")
	if err != nil {
		t.Fatal(err)
	}
	api, srv := newRedditAPI(t)
	api.routes["/r/test/new"] = func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }
	api.routes["/r/test/comments"] = func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(emptyListing)) }
	src := newTestReddit(t, srv.URL, oauthConfig(t), fixedNow(redditNow))
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	want := []affinity.Post{
		{Source: "rd", ID: "t1_edited", URL: "https://www.reddit.com/r/test/comments/abc/t/edited/", Author: "alice",
			Published: time.Unix(1596400000, 5e8).UTC(), Collected: redditNow, Title: "A thread", Text: "changed *later*",
			Engagement: affinity.Engagement{Score: 7, Likes: 7}, Format: affinity.FormatCommunity},
		{Source: "rd", ID: "t3_deleted", URL: "https://www.reddit.com/r/test/comments/deleted/gone/", Author: "",
			Published: time.Unix(1596390000, 0).UTC(), Collected: redditNow, Title: "Gone", Text: "[removed]",
			Format: affinity.FormatCommunity},
		{Source: "rd", ID: "t3_nameless", URL: "https://www.reddit.com/r/test/comments/nameless/link/", Author: "bob",
			Published: time.Unix(1596380000, 0).UTC(), Collected: redditNow, Title: "A link", Text: "see this\n\nhttps://example.com/a?b=1",
			Engagement: affinity.Engagement{Score: 2, Replies: 1, Likes: 3}, Format: affinity.FormatCommunity},
	}
	if !slices.Equal(res.Posts, want) {
		t.Errorf("posts:\n got %+v\nwant %+v", res.Posts, want)
	}
	if res.Skipped != 1 {
		t.Errorf("Skipped = %d, want 1 (the thing without created_utc)", res.Skipped)
	}
}

// redditListingServer serves a generated listing newest first, paged with
// after= and limit=, like /new does.
type redditListingServer struct {
	mu     sync.Mutex
	things []map[string]any // newest first
	n      int
	ever   []string // every name added, deleted ones too
}

func (l *redditListingServer) add(count int, from int64, perSecond int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var fresh []map[string]any
	for i := range count {
		l.n++
		id := strconv.FormatInt(int64(l.n), 36)
		fresh = append(fresh, map[string]any{"kind": "t3", "data": map[string]any{
			"name": "t3_" + id, "id": id, "author": "u" + id, "created_utc": float64(from + int64(i/perSecond)),
			"permalink": "/r/test/comments/" + id + "/x/", "title": "post " + id, "selftext": "", "is_self": true,
			"score": 1, "ups": 1, "num_comments": 0, "edited": false,
		}})
	}
	for _, t := range fresh {
		l.ever = append(l.ever, t["data"].(map[string]any)["name"].(string))
	}
	slices.Reverse(fresh)
	l.things = append(fresh, l.things...)
}

func (l *redditListingServer) remove(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.things = slices.DeleteFunc(l.things, func(t map[string]any) bool { return t["data"].(map[string]any)["name"] == name })
}

func (l *redditListingServer) names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, t := range l.things {
		out = append(out, t["data"].(map[string]any)["name"].(string))
	}
	return out
}

func (l *redditListingServer) serve(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	start := 0
	if after := r.URL.Query().Get("after"); after != "" {
		start = len(l.things) // a vanished anchor gives an empty page, as on Reddit
		for i, t := range l.things {
			if t["data"].(map[string]any)["name"] == after {
				start = i + 1
			}
		}
	}
	end := min(start+limit, len(l.things))
	page := l.things[start:end]
	var next any
	if end < len(l.things) && len(page) > 0 {
		next = page[len(page)-1]["data"].(map[string]any)["name"]
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Listing", "data": map[string]any{"after": next, "before": nil, "children": page}})
}

// TestRedditPagingAndRestart: a first run down to the look-back, then two
// runs of new things, each from a new source built from the saved state:
// every thing exactly once, also when the cursor's thing was deleted.
func TestRedditPagingAndRestart(t *testing.T) {
	api, srv := newRedditAPI(t)
	l := &redditListingServer{}
	api.routes["/r/test/new"] = l.serve
	api.routes["/r/test/comments"] = func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(emptyListing)) }
	cfg := oauthConfig(t)
	cfg.Lookback = model.Duration(24 * time.Hour)
	now := redditNow
	l.add(40, now.Add(-30*time.Hour).Unix(), 1) // older than the look-back
	old := l.names()
	l.add(230, now.Add(-20*time.Hour).Unix(), 3) // 3 a second: pages of 100 split seconds

	var got []string
	var state affinity.SourceState
	run := func() {
		t.Helper()
		src := newTestReddit(t, srv.URL, cfg, fixedNow(now))
		res, err := src.Fetch(context.Background(), state)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Posts {
			got = append(got, p.ID)
		}
		state = res.State
	}
	want := func() []string { // deleted things included: they were delivered before
		l.mu.Lock()
		defer l.mu.Unlock()
		return slices.DeleteFunc(slices.Clone(l.ever), func(n string) bool { return slices.Contains(old, n) })
	}

	run()
	checkExactlyOnce(t, got, want())
	// 230 at 3 a second: the newest second holds the last two.
	if c, want := DecodeCursors(state.Cursor)["new:r/test"], fmt.Sprintf("%d:%s,%s", now.Add(-20*time.Hour).Unix()+76, l.names()[0], l.names()[1]); c != want {
		t.Errorf("cursor %q, want %q", c, want)
	}

	// 150 new things, the first sharing the newest second of the last run.
	now = now.Add(time.Hour)
	l.add(150, now.Add(-20*time.Hour-time.Hour).Unix()+76, 2)
	run()
	checkExactlyOnce(t, got, want())

	// The cursor's thing is deleted before 120 more arrive: the walk stops by time.
	now = now.Add(time.Hour)
	l.remove(l.names()[0])
	l.add(120, now.Add(-10*time.Hour).Unix(), 1)
	run()
	checkExactlyOnce(t, got, want())
}

func TestRedditTokenRefresh(t *testing.T) {
	api, srv := newRedditAPI(t)
	api.routes["/r/test/new"] = serveFixture(t, "listings__posts.json")
	api.routes["/r/test/comments"] = func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(emptyListing)) }
	now := redditNow
	src := newTestReddit(t, srv.URL, oauthConfig(t), func() time.Time { return now })

	if _, err := src.Fetch(context.Background(), affinity.SourceState{}); err != nil || api.tokens != 1 {
		t.Fatalf("first fetch: err=%v tokens=%d", err, api.tokens)
	}
	// The token is revoked: a 401, one new token, the request again.
	api.mu.Lock()
	api.accepted = map[string]bool{}
	api.mu.Unlock()
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil || api.tokens != 2 || len(res.Posts) != 2 {
		t.Fatalf("after revocation: err=%v tokens=%d posts=%d", err, api.tokens, len(res.Posts))
	}
	// Still valid an hour later; renewed before it expires (86,400 s).
	now = now.Add(time.Hour)
	if _, err := src.Fetch(context.Background(), affinity.SourceState{}); err != nil || api.tokens != 2 {
		t.Fatalf("an hour on: err=%v tokens=%d", err, api.tokens)
	}
	now = redditNow.Add(24*time.Hour - 30*time.Second)
	if _, err := src.Fetch(context.Background(), affinity.SourceState{}); err != nil || api.tokens != 3 {
		t.Fatalf("near expiry: err=%v tokens=%d", err, api.tokens)
	}
}

// TestRedditSecretNeverShown: rejected credentials and a missing secret give
// clear errors without the secret, and stop the fetch at the first listing.
func TestRedditSecretNeverShown(t *testing.T) {
	api, srv := newRedditAPI(t)
	t.Setenv("AFFINITYD_TEST_REDDIT_SECRET", "wrong-"+redditTestSecret)
	cfg := config.Source{ClientID: "app-id", ClientSecret: config.Secret{Env: "AFFINITYD_TEST_REDDIT_SECRET"}, Subreddits: []string{"test"}}
	src := newTestReddit(t, srv.URL, cfg, fixedNow(redditNow), Query{Key: "q", Terms: []string{"x"}})
	_, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, redditTestSecret) || ReasonOf(err) != ReasonHTTP4xx ||
		msg != `collector: reddit "rd": http_4xx: listing "new:r/test": access token: reddit rejected client_id "app-id" and its client_secret (HTTP 401)` {
		t.Errorf("err = %q", msg)
	}
	if n := len(api.requested()); n != 0 {
		t.Errorf("%d listing requests after the token was refused", n)
	}

	cfg.ClientSecret = config.Secret{Env: "AFFINITYD_TEST_REDDIT_UNSET"}
	src = newTestReddit(t, srv.URL, cfg, fixedNow(redditNow))
	_, err = src.Fetch(context.Background(), affinity.SourceState{})
	if err == nil || !strings.Contains(err.Error(), "client_secret: environment variable AFFINITYD_TEST_REDDIT_UNSET is not set") {
		t.Errorf("unset secret: %v", err)
	}
}

func TestRedditAnonymous(t *testing.T) {
	for _, tc := range []struct {
		status int
		reason string
	}{{403, ReasonHTTP4xx}, {429, ReasonRateLimited}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			api, srv := newRedditAPI(t)
			api.routes["/r/test/new.json"] = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte("<html>blocked</html>"))
			}
			src := newTestReddit(t, srv.URL, config.Source{URL: "https://oauth.invalid", Subreddits: []string{"test", "golang"}}, fixedNow(redditNow))
			_, err := src.Fetch(context.Background(), affinity.SourceState{})
			want := fmt.Sprintf(`collector: reddit "rd": %s: listing "new:r/test": reddit refused anonymous access (HTTP %d): configure client_id and client_secret`, tc.reason, tc.status)
			if err == nil || err.Error() != want || ReasonOf(err) != tc.reason {
				t.Errorf("err = %v\nwant %s", err, want)
			}
			if got := api.requested(); len(got) != 1 || !strings.HasPrefix(got[0], "/r/test/new.json?") {
				t.Errorf("requests %v: want one, then stop", got)
			}
		})
	}
	t.Run("ok", func(t *testing.T) {
		api, srv := newRedditAPI(t)
		api.routes["/r/test/new.json"] = serveFixture(t, "listings__posts.json")
		api.routes["/r/test/comments.json"] = serveFixture(t, "post__post.json") // not a listing: a parse error, alone
		src := newTestReddit(t, srv.URL, config.Source{Subreddits: []string{"test"}}, fixedNow(redditNow))
		res, err := src.Fetch(context.Background(), affinity.SourceState{})
		if err != nil || len(res.Posts) != 2 {
			t.Fatalf("err=%v posts=%d", err, len(res.Posts))
		}
		if c := DecodeCursors(res.State.Cursor); len(c) != 1 || c["new:r/test"] != "1596392617:t3_i2gvs1" {
			t.Errorf("cursors %v", c)
		}
	})
}

func TestRedditRateLimitHeaders(t *testing.T) {
	api, srv := newRedditAPI(t)
	api.routes["/r/test/new"] = serveFixture(t, "listings__posts.json")
	api.routes["/r/test/comments"] = func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(emptyListing)) }
	api.routes["/search"] = api.routes["/r/test/comments"]
	api.headers.Set("X-Ratelimit-Used", "597")
	api.headers.Set("X-Ratelimit-Remaining", "3.0")
	api.headers.Set("X-Ratelimit-Reset", "120")
	src := newTestReddit(t, srv.URL, oauthConfig(t), fixedNow(redditNow), Query{Key: "q", Terms: []string{"x"}})
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if res.RateLimitRemaining != 3 || !res.State.NextCheck.Equal(redditNow.Add(120*time.Second)) || res.More {
		t.Errorf("remaining=%v NextCheck=%v More=%v", res.RateLimitRemaining, res.State.NextCheck, res.More)
	}
	// Only the first listing was read; the others keep waiting, no cursor.
	if got := api.requested(); len(got) != 1 || len(res.Posts) != 2 || len(DecodeCursors(res.State.Cursor)) != 1 {
		t.Errorf("requests %v, posts %d, cursor %s", got, len(res.Posts), res.State.Cursor)
	}

	api.headers.Set("X-Ratelimit-Remaining", "42.5")
	res, err = src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil || res.RateLimitRemaining != 42.5 || !res.State.NextCheck.IsZero() {
		t.Errorf("err=%v remaining=%v NextCheck=%v", err, res.RateLimitRemaining, res.State.NextCheck)
	}
}

func TestReddit429RetryAfter(t *testing.T) {
	api, srv := newRedditAPI(t)
	api.routes["/r/test/new"] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "90")
		w.WriteHeader(http.StatusTooManyRequests)
	}
	src := newTestReddit(t, srv.URL, oauthConfig(t), fixedNow(redditNow), Query{Key: "q", Terms: []string{"x"}})
	res, err := src.Fetch(context.Background(), affinity.SourceState{Cursor: `{"new:r/test":"1:t3_a"}`})
	var fe *FetchError
	if err == nil || !errors.As(err, &fe) || fe.Reason != ReasonRateLimited || fe.RetryAfter != 90*time.Second {
		t.Fatalf("err = %v", err)
	}
	if !strings.HasPrefix(err.Error(), `collector: reddit "rd": rate_limited: listing "new:r/test": GET `) {
		t.Errorf("err = %q", err)
	}
	if got := api.requested(); len(got) != 1 || !res.State.NextCheck.Equal(redditNow.Add(90*time.Second)) {
		t.Errorf("requests %v NextCheck %v: want one request, then wait", got, res.State.NextCheck)
	}
}

func TestRedditMalformed(t *testing.T) {
	full, err := os.ReadFile(filepath.Join(redditFixtures, "listings__posts.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ctype, body, detail string
	}{
		{"malformed", "application/json", `{"kind":"Listing","data":{"children":[}}`, "invalid character"},
		{"truncated", "application/json", string(full[:len(full)/2]), "unexpected end of JSON"},
		{"HTML with 200", "text/html; charset=utf-8", "<!doctype html><title>reddit.com: over capacity</title>", "HTML page"},
		{"not a listing", "application/json", `{"kind":"t3","data":{}}`, `not a listing (kind "t3")`},
		{"error object", "application/json", `{"message":"Forbidden","error":403}`, `not a listing (kind "")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api, srv := newRedditAPI(t)
			api.routes["/r/test/new"] = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				_, _ = w.Write([]byte(tc.body))
			}
			api.routes["/r/test/new.json"] = api.routes["/r/test/new"]
			api.routes["/r/test/comments.json"] = api.routes["/r/test/new"]
			src := newTestReddit(t, srv.URL, config.Source{Subreddits: []string{"test"}}, fixedNow(redditNow))
			_, err := src.Fetch(context.Background(), affinity.SourceState{})
			prefix := `collector: reddit "rd": parse: listing "new:r/test": `
			if err == nil || ReasonOf(err) != ReasonParse || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("err = %v, want %q… %q", err, prefix, tc.detail)
			}
		})
	}
}

// TestRedditPartialFailure: one listing failing keeps its cursor and costs
// the other listing nothing.
func TestRedditPartialFailure(t *testing.T) {
	api, srv := newRedditAPI(t)
	api.routes["/r/test/new"] = serveFixture(t, "listings__posts.json")
	api.routes["/r/test/comments"] = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }
	src := newTestReddit(t, srv.URL, oauthConfig(t), fixedNow(redditNow))
	state := affinity.SourceState{Cursor: Cursors{"comments:r/test": "1500000000:t1_x", "search:gone": "1:t3_y"}.Encode()}
	res, err := src.Fetch(context.Background(), state)
	if err != nil {
		t.Fatal(err)
	}
	want := Cursors{"comments:r/test": "1500000000:t1_x", "new:r/test": "1596392617:t3_i2gvs1"}
	if got := DecodeCursors(res.State.Cursor); len(res.Posts) != 2 || !mapsEqual(got, want) {
		t.Errorf("posts=%d cursors=%v, want %v", len(res.Posts), got, want)
	}
}

func TestNewRedditRejects(t *testing.T) {
	for _, cfg := range []config.Source{
		{Name: "x", ClientID: "id"},
		{Name: "x", ClientSecret: config.Secret{Env: "X"}},
		{Name: "x", URL: "ftp://example.com"},
	} {
		if _, err := newReddit(cfg, Options{Client: apiTestClient()}); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
