package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
	"github.com/prometheus/common/model"
)

const hnFixtures = "../../shared/fixtures/posts/hn/algolia"

// hnNow is just after the newest fixture hit (2014-06-20T03:39:55Z).
var hnNow = time.Date(2014, 6, 20, 4, 0, 0, 0, time.UTC)

// apiTestClient has a body cap (1 MiB) large enough for the biggest recorded
// API response (testClient's is 64 KB).
func apiTestClient() *Client {
	return NewClient(config.Collector{
		Timeout:        model.Duration(5 * time.Second),
		ConnectTimeout: model.Duration(5 * time.Second),
		MaxBodySize:    1 << 20,
	}, "1.2.3")
}

func newTestHN(t *testing.T, url string, now func() time.Time, lookback time.Duration, queries ...Query) *hnSource {
	t.Helper()
	src, err := newHackerNews(config.Source{Name: "hn", Kind: "hackernews", URL: url, Lookback: model.Duration(lookback)},
		Options{Client: apiTestClient(), Now: now, Queries: queries})
	if err != nil {
		t.Fatal(err)
	}
	return src.(*hnSource)
}

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

// TestHackerNewsFixtures replays recorded Algolia responses, one per query,
// and checks every field of the posts they become.
func TestHackerNewsFixtures(t *testing.T) {
	files := map[string]string{ // rendered query -> fixture
		"comment":  "01_search_by_date_hitsPerPage_1_tags_comment.json",
		"poll":     "03_search_by_date_hitsPerPage_1_tags_poll.json",
		"apple":    "21_search_by_date_hitsPerPage_1_tags_story_2Cpoll_query_apple.json",
		`"ask hn"`: "25_search_by_date_hitsPerPage_1_tags_ask_hn_page_2_query_apple.json",
		"pg":       "10_search_hitsPerPage_1_tags_comment_2Cauthor_pg.json",
	}
	lookback := 365 * 24 * time.Hour
	lo := strconv.FormatInt(hnNow.Add(-lookback).Unix(), 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/api/v1/search_by_date" || q.Get("tags") != "(story,comment)" || q.Get("hitsPerPage") != "100" ||
			q.Get("page") != "0" || q.Get("numericFilters") != "created_at_i>"+lo {
			t.Errorf("unexpected request %s", r.URL)
		}
		name, ok := files[q.Get("query")]
		if !ok {
			t.Errorf("unexpected query %q", q.Get("query"))
			http.NotFound(w, r)
			return
		}
		body, err := os.ReadFile(filepath.Join(hnFixtures, name))
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	src := newTestHN(t, srv.URL, fixedNow(hnNow), lookback,
		Query{Key: "topic:c", Terms: []string{"comment"}},
		Query{Key: "topic:p", Terms: []string{"poll"}},
		Query{Key: "brand:apple", Terms: []string{"apple"}},
		Query{Key: "topic:ask", Terms: []string{"ask hn"}},
		Query{Key: "topic:pg", Terms: []string{"pg"}},
	)
	if src.Name() != "hn" {
		t.Errorf("Name() = %q", src.Name())
	}
	res, err := src.Fetch(context.Background(), affinity.SourceState{Source: "hn"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(id, author string, unix int64, title, text string, points, comments int64) affinity.Post {
		return affinity.Post{
			Source: "hn", ID: id, URL: "https://news.ycombinator.com/item?id=" + id, Author: author,
			Published: time.Unix(unix, 0).UTC(), Collected: hnNow, Title: title, Text: text,
			Engagement: affinity.Engagement{Score: points, Replies: comments}, Format: affinity.FormatCommunity,
		}
	}
	want := []affinity.Post{
		post("7919431", "gohrt", 1403235595, "Fibonacci Flim-Flam",
			`A perennial HN favorite<p><a href="https://hn.algolia.com/?q=Fibonacci+Flim-Flam#!/all/forever/0/Fibonacci%20Flim-Flam" rel="nofollow">https:&#x2F;&#x2F;hn.algolia.com&#x2F;?q=Fibonacci+Flim-Flam#!&#x2F;all&#x2F;forever&#x2F;...</a><p>What&#x27;s fascinating about this topic is that the reposts come at intervals that approximates the Fibonacci sequence.`,
			1, 0),
		post("7918694", "tempestn", 1403217949, `Poll: Do you experience "The Hum"?`,
			`According to this article, between 2 and 10% of the population experiences &quot;The Hum&quot;, a low-frequency droning sound of indefinite source that is difficult or impossible to block out: https:&#x2F;&#x2F;news.ycombinator.com&#x2F;item?id=7917771.<p>Do you experience this hum?`,
			3, 1),
		// A link story: the article's URL goes into the text, URL stays the HN item.
		post("7919424", "bradleyjg", 1403235346, "Judge says concerned about Apple, Google hiring settlement",
			"http://in.reuters.com/article/2014/06/19/apple-google-settlement-idINL2N0P01ZI20140619", 1, 0),
		post("7915384", "techidse", 1403171610, "Ask HN: How can I get Swag from Startups?",
			`\tHello HN,\nI&#x27;m a college student from India. Is there a way to get swag from start ups or other companies to wear College. I&#x27;m in not the best financial conditions. So, I would appreciate if anyone helps me. I will tweet my picture with the swag when received :) Thanks`,
			1, 3),
		// title "" on a comment: the story's title stands in.
		post("6651926", "pg", 1383283092, "Patent war goes nuclear: Microsoft, Apple-owned Rockstar sues Google",
			"It&#x27;s a little early to say for sure, but I predict this will do more to hurt Apple&#x27;s reputation in the tech community than anything they&#x27;ve done before.  And that is not a good community to alienate. I would not be surprised if they look back on this move one day and feel that they ended up net worse off as a result.<p>Apple used to be careful not to alienate hackers. And Microsoft has been gradually digging itself out of a hole in that respect for several years.  Now in my mind they are both the enemy.",
			293, 0),
	}
	if len(res.Posts) != len(want) {
		t.Fatalf("%d posts, want %d: %+v", len(res.Posts), len(want), res.Posts)
	}
	for i := range want {
		if got := res.Posts[i]; got != want[i] {
			t.Errorf("post %d:\n got %+v\nwant %+v", i, res.Posts[i], want[i])
		}
	}
	cur := DecodeCursors(res.State.Cursor)
	wantCur := Cursors{"topic:c": "1403235595", "topic:p": "1403217949", "brand:apple": "1403235346",
		"topic:ask": "1403171610", "topic:pg": "1383283092"}
	if !mapsEqual(cur, wantCur) {
		t.Errorf("cursors %v, want %v", cur, wantCur)
	}
	if res.More || res.RateLimitRemaining != hnRequestsPerHour-5 || !res.State.NextCheck.IsZero() {
		t.Errorf("More=%v RateLimitRemaining=%v NextCheck=%v", res.More, res.RateLimitRemaining, res.State.NextCheck)
	}
}

func mapsEqual(a, b Cursors) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// fakeAlgolia serves search_by_date over an in-memory set of hits the way
// Algolia does: newest first, numericFilters honoured, at most 1,000 hits
// reachable by paging.
type fakeAlgolia struct {
	mu       sync.Mutex
	hits     []map[string]any // sorted newest first
	requests []string         // numericFilters of each request
	fail     map[string]int   // query -> status to answer with
}

func (f *fakeAlgolia) add(n int, from int64, perSecond int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range n {
		id := len(f.hits) + 1
		t := from + int64(i/perSecond)
		f.hits = append(f.hits, map[string]any{
			"objectID": strconv.Itoa(id), "created_at_i": t, "created_at": time.Unix(t, 0).UTC().Format(time.RFC3339),
			"author": "user" + strconv.Itoa(id%7), "points": id % 13, "num_comments": id % 5,
			"title": "story " + strconv.Itoa(id), "url": nil, "story_text": "text", "comment_text": nil,
		})
	}
	sort.SliceStable(f.hits, func(i, j int) bool {
		ti, tj := f.hits[i]["created_at_i"].(int64), f.hits[j]["created_at_i"].(int64)
		if ti != tj {
			return ti > tj
		}
		a, _ := strconv.Atoi(f.hits[i]["objectID"].(string))
		b, _ := strconv.Atoi(f.hits[j]["objectID"].(string))
		return a > b
	})
}

func (f *fakeAlgolia) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	f.requests = append(f.requests, q.Get("numericFilters"))
	if code := f.fail[q.Get("query")]; code != 0 {
		w.WriteHeader(code)
		return
	}
	var match []map[string]any
hits:
	for _, h := range f.hits {
		t := h["created_at_i"].(int64)
		for _, cond := range strings.Split(q.Get("numericFilters"), ",") {
			var op string
			for _, o := range []string{"<=", ">=", "<", ">"} {
				if strings.HasPrefix(strings.TrimPrefix(cond, "created_at_i"), o) {
					op = o
					break
				}
			}
			v, err := strconv.ParseInt(strings.TrimPrefix(cond, "created_at_i"+op), 10, 64)
			if op == "" || err != nil {
				http.Error(w, "bad filter "+cond, http.StatusBadRequest)
				return
			}
			if ok := map[string]bool{"<=": t <= v, ">=": t >= v, "<": t < v, ">": t > v}[op]; !ok {
				continue hits
			}
		}
		match = append(match, h)
	}
	hpp, _ := strconv.Atoi(q.Get("hitsPerPage"))
	page, _ := strconv.Atoi(q.Get("page"))
	reachable := min(len(match), 1000)
	nbPages := min((len(match)+hpp-1)/hpp, 1000/hpp)
	lo, hi := min(page*hpp, reachable), min((page+1)*hpp, reachable)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"hits": match[lo:hi], "nbHits": len(match), "page": page, "nbPages": nbPages, "hitsPerPage": hpp,
	})
}

func (f *fakeAlgolia) allIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, h := range f.hits {
		out = append(out, h["objectID"].(string))
	}
	slices.Sort(out)
	return out
}

// drainHN fetches until More is false, each time from a new source built
// from the saved state (a restart between every fetch), and returns every id.
func drainHN(t *testing.T, url string, now func() time.Time, maxRequests int, state *affinity.SourceState, q Query) []string {
	t.Helper()
	var got []string
	for i := 0; ; i++ {
		if i > 500 {
			t.Fatal("no end to More")
		}
		src := newTestHN(t, url, now, 24*time.Hour, q)
		src.maxRequests = maxRequests
		res, err := src.Fetch(context.Background(), *state)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Posts {
			got = append(got, p.ID)
		}
		*state = res.State
		if !res.More {
			return got
		}
	}
}

func checkExactlyOnce(t *testing.T, got, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
		if seen[id] == 2 {
			t.Errorf("id %s delivered twice", id)
		}
	}
	var missing []string
	for _, id := range want {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 || len(seen) != len(want) {
		t.Errorf("%d distinct ids, want %d; %d missing, e.g. %v", len(seen), len(want), len(missing), missing[:min(5, len(missing))])
	}
}

// TestHackerNewsPagingAndRestart: a backlog fetched in bounded batches with
// a restart after each, then new posts, without a gap or a duplicate —
// also where a page boundary falls inside one second.
func TestHackerNewsPagingAndRestart(t *testing.T) {
	for _, maxRequests := range []int{1, 2, 3, 20} {
		t.Run(fmt.Sprint(maxRequests), func(t *testing.T) {
			f := &fakeAlgolia{}
			now := hnNow
			start := now.Add(-23 * time.Hour).Unix()
			f.add(250, start, 3) // 3 a second: pages of 100 split seconds
			// Older than the look-back: never delivered.
			f.mu.Lock()
			f.hits = append(f.hits, map[string]any{"objectID": "old", "created_at_i": now.Add(-25 * time.Hour).Unix()})
			f.mu.Unlock()
			srv := httptest.NewServer(f)
			defer srv.Close()
			q := Query{Key: "topic:x", Terms: []string{"x"}}

			var state affinity.SourceState
			got := drainHN(t, srv.URL, fixedNow(now), maxRequests, &state, q)
			want := slices.DeleteFunc(f.allIDs(), func(id string) bool { return id == "old" })
			checkExactlyOnce(t, got, want)
			if c := DecodeCursors(state.Cursor)["topic:x"]; c != strconv.FormatInt(start+83, 10) {
				t.Errorf("idle cursor %q, want the newest created_at_i %d", c, start+83)
			}

			// New posts, some in the same second as the newest seen one's successor.
			f.add(130, start+84, 2)
			now = now.Add(time.Hour)
			got = append(got, drainHN(t, srv.URL, fixedNow(now), maxRequests, &state, q)...)
			checkExactlyOnce(t, got, slices.DeleteFunc(f.allIDs(), func(id string) bool { return id == "old" }))
		})
	}
}

// TestHackerNewsSplitsAtAlgoliaCap: more than 1,000 matches are reached by
// narrowing the time window, in batches, across restarts.
func TestHackerNewsSplitsAtAlgoliaCap(t *testing.T) {
	for _, maxRequests := range []int{7, 10, 20} {
		t.Run(fmt.Sprint(maxRequests), func(t *testing.T) {
			f := &fakeAlgolia{}
			f.add(2600, hnNow.Add(-20*time.Hour).Unix(), 4)
			srv := httptest.NewServer(f)
			defer srv.Close()
			var state affinity.SourceState
			got := drainHN(t, srv.URL, fixedNow(hnNow), maxRequests, &state, Query{Key: "topic:x", Terms: []string{"x"}})
			checkExactlyOnce(t, got, f.allIDs())
			narrowed := false
			for _, r := range f.requests {
				narrowed = narrowed || strings.Contains(r, "created_at_i<=")
			}
			if !narrowed {
				t.Error("no request narrowed the window")
			}
		})
	}
}

// TestHackerNewsOneFetchBound: one fetch stops at its request bound, says
// More, and saves a time window (not a page) as the cursor.
func TestHackerNewsOneFetchBound(t *testing.T) {
	f := &fakeAlgolia{}
	f.add(2600, hnNow.Add(-20*time.Hour).Unix(), 4)
	srv := httptest.NewServer(f)
	defer srv.Close()
	src := newTestHN(t, srv.URL, fixedNow(hnNow), 24*time.Hour, Query{Key: "topic:x", Terms: []string{"x"}})
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	// 20 pages of 100, less the few hits at the narrowed window's upper
	// second that the first window delivered already.
	if !res.More || len(res.Posts) < 1996 || len(res.Posts) > 1999 || len(f.requests) != hnMaxRequestsPerQuery {
		t.Fatalf("More=%v posts=%d requests=%d", res.More, len(res.Posts), len(f.requests))
	}
	c, ok := parseHNCursor(DecodeCursors(res.State.Cursor)["topic:x"])
	oldest := res.Posts[len(res.Posts)-1].Published.Unix()
	if !ok || !c.walking() || c.hi != oldest || c.top != hnNow.Add(-20*time.Hour).Unix()+649 || len(c.seen) == 0 {
		t.Errorf("cursor %+v (ok=%v), want a window up to %d", c, ok, oldest)
	}
}

func TestHackerNewsHourlyBudget(t *testing.T) {
	f := &fakeAlgolia{}
	f.add(450, hnNow.Add(-2*time.Hour).Unix(), 1)
	srv := httptest.NewServer(f)
	defer srv.Close()
	now := hnNow.Add(10 * time.Minute)
	src := newTestHN(t, srv.URL, func() time.Time { return now }, 24*time.Hour,
		Query{Key: "a", Terms: []string{"a"}}, Query{Key: "b", Terms: []string{"b"}})
	src.perHour = 3

	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	hourEnd := hnNow.Add(time.Hour)
	if len(res.Posts) != 300 || res.More || !res.State.NextCheck.Equal(hourEnd) || res.RateLimitRemaining != 0 || len(f.requests) != 3 {
		t.Fatalf("posts=%d More=%v NextCheck=%v remaining=%v requests=%d", len(res.Posts), res.More, res.State.NextCheck, res.RateLimitRemaining, len(f.requests))
	}
	if _, ok := DecodeCursors(res.State.Cursor)["b"]; ok {
		t.Error("query b got a cursor without being asked")
	}
	// Same hour: not a single request.
	res2, err := src.Fetch(context.Background(), res.State)
	if err != nil || len(res2.Posts) != 0 || len(f.requests) != 3 || res2.State.Cursor != res.State.Cursor {
		t.Fatalf("same hour: err=%v posts=%d requests=%d", err, len(res2.Posts), len(f.requests))
	}
	// Next hour: the rest of a (151 hits with the one at its window's edge: 2
	// requests), then b (5 requests).
	now = hourEnd.Add(time.Second)
	src.perHour = 100
	res3, err := src.Fetch(context.Background(), res.State)
	if err != nil {
		t.Fatal(err)
	}
	if len(res3.Posts) != 150+450 || res3.More || res3.RateLimitRemaining != 100-2-5 {
		t.Errorf("next hour: posts=%d More=%v remaining=%v", len(res3.Posts), res3.More, res3.RateLimitRemaining)
	}
}

func TestHackerNewsFailures(t *testing.T) {
	valid := `{"hits":[],"nbHits":0,"page":0,"nbPages":0,"hitsPerPage":100}`
	cases := []struct {
		name        string
		status      int
		ctype, body string
		header      map[string]string
		reason      string
		detail      string
	}{
		{"malformed JSON", 200, "application/json", `{"hits":[{"objectID":"1",}]}`, nil, ReasonParse, "invalid character"},
		{"truncated", 200, "application/json", valid[:len(valid)/2], nil, ReasonParse, "unexpected end of JSON"},
		{"HTML with 200", 200, "text/html", "<!DOCTYPE html><html><body>Cloudflare</body></html>", nil, ReasonParse, "HTML page"},
		{"no hits", 200, "application/json", `{"message":"Invalid query"}`, nil, ReasonParse, "no hits array"},
		{"empty", 200, "application/json", "", nil, ReasonParse, "empty body"},
		{"5xx", 502, "text/html", "<html>bad gateway</html>", nil, ReasonHTTP5xx, "502"},
		{"429", 429, "application/json", `{"message":"slow down"}`, map[string]string{"Retry-After": "120"}, ReasonRateLimited, "429"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			src := newTestHN(t, srv.URL, fixedNow(hnNow), time.Hour, Query{Key: "topic:x", Terms: []string{"x"}})
			state := affinity.SourceState{Source: "hn", Cursor: `{"topic:x":"1403230000"}`}
			_, err := src.Fetch(context.Background(), state)
			if err == nil {
				t.Fatal("no error")
			}
			prefix := `collector: hackernews "hn": ` + tc.reason + `: query "topic:x": `
			if ReasonOf(err) != tc.reason || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("err = %q (reason %s), want prefix %q and %q", err, ReasonOf(err), prefix, tc.detail)
			}
		})
	}
}

// TestHackerNewsPartialFailure: one query failing keeps its cursor and costs
// the other query nothing.
func TestHackerNewsPartialFailure(t *testing.T) {
	f := &fakeAlgolia{fail: map[string]int{"bad": 500}}
	f.add(5, hnNow.Add(-time.Hour).Unix(), 1)
	srv := httptest.NewServer(f)
	defer srv.Close()
	src := newTestHN(t, srv.URL, fixedNow(hnNow), 24*time.Hour,
		Query{Key: "topic:bad", Terms: []string{"bad"}}, Query{Key: "topic:good", Terms: []string{"good"}})
	state := affinity.SourceState{Cursor: Cursors{"topic:bad": "1403200000", "topic:gone": "1"}.Encode()}
	res, err := src.Fetch(context.Background(), state)
	if err != nil {
		t.Fatal(err)
	}
	cur := DecodeCursors(res.State.Cursor)
	if len(res.Posts) != 5 || cur["topic:bad"] != "1403200000" || cur["topic:good"] == "" || len(cur) != 2 {
		t.Errorf("posts=%d cursors=%v", len(res.Posts), cur)
	}
}

func TestHackerNewsCursorRoundTrip(t *testing.T) {
	for _, s := range []string{"1403200000", "1:5:9:", "1:5:9:a,b"} {
		c, ok := parseHNCursor(s)
		if !ok || c.String() != s {
			t.Errorf("%q -> %+v %v -> %q", s, c, ok, c.String())
		}
	}
	for _, s := range []string{"", "x", "1:2", "5:6:3:", "-1", "1:a:3:"} {
		if _, ok := parseHNCursor(s); ok {
			t.Errorf("%q accepted", s)
		}
	}
}

// badItemKind is one JSON API source as the bad-item tests drive it: how a
// page wraps its items, one item (id and its like/score count as raw JSON),
// a page whose envelope is wrong, and where the count lands in a Post.
type badItemKind struct {
	kind     string
	page     func(items ...string) string
	item     func(id, count string) string
	envelope string // valid JSON, wrong shape
	count    func(affinity.Engagement) int64
	signed   bool // the count is a score, which may be negative
	source   func(t *testing.T, url string) (Source, affinity.SourceState)
}

var badItemNow = time.Date(2026, 11, 12, 10, 0, 0, 0, time.UTC)

func badItemOpts() Options {
	return Options{Client: apiTestClient(), Now: func() time.Time { return badItemNow },
		Queries: []Query{{Key: "topic:t", Terms: []string{"hello"}}}}
}

func badItemKinds() []badItemKind {
	at := badItemNow.Add(-time.Hour)
	lookback := model.Duration(7 * 24 * time.Hour)
	return []badItemKind{
		{
			kind: "mastodon",
			page: func(items ...string) string { return "[" + strings.Join(items, ",") + "]" },
			item: func(id, n string) string {
				return fmt.Sprintf(`{"id":%q,"uri":"https://m.example/users/a/statuses/%s","created_at":%q,"content":"<p>hello</p>","account":{"acct":"a"},"favourites_count":%s}`,
					id, id, at.Format(time.RFC3339), n)
			},
			envelope: `{"statuses":[]}`,
			count:    func(e affinity.Engagement) int64 { return e.Likes },
			source: func(t *testing.T, url string) (Source, affinity.SourceState) {
				src, err := newMastodon(config.Source{Name: "m", Kind: "mastodon", Instances: []string{url}, Tags: []string{"hello"}}, badItemOpts())
				if err != nil {
					t.Fatal(err)
				}
				return src, affinity.SourceState{Cursor: Cursors{url + "|hello": "100"}.Encode()}
			},
		},
		{
			kind: "lemmy",
			page: func(items ...string) string { return `{"type_":"Posts","posts":[` + strings.Join(items, ",") + "]}" },
			item: func(id, n string) string {
				apID := ""
				if id != "" {
					apID = "https://l.example/post/" + id
				}
				return fmt.Sprintf(`{"post":{"name":"hello","ap_id":%q,"published":%q},"creator":{"name":"a","actor_id":"https://l.example/u/a"},"counts":{"upvotes":%s}}`,
					apID, at.Format(time.RFC3339), n)
			},
			envelope: `{"posts":{"post":{}}}`,
			count:    func(e affinity.Engagement) int64 { return e.Likes },
			source: func(t *testing.T, url string) (Source, affinity.SourceState) {
				src, err := newLemmy(config.Source{Name: "l", Kind: "lemmy", Instances: []string{url}, Lookback: lookback}, badItemOpts())
				if err != nil {
					t.Fatal(err)
				}
				return src, affinity.SourceState{}
			},
		},
		{
			kind: "hackernews",
			page: func(items ...string) string {
				return fmt.Sprintf(`{"hits":[%s],"nbHits":%d,"nbPages":1,"page":0}`, strings.Join(items, ","), len(items))
			},
			item: func(id, n string) string {
				return fmt.Sprintf(`{"objectID":%q,"created_at_i":%d,"title":"hello","author":"a","points":%s}`, id, at.Unix(), n)
			},
			envelope: `{"hits":[],"nbHits":"many"}`,
			count:    func(e affinity.Engagement) int64 { return e.Score },
			signed:   true,
			source: func(t *testing.T, url string) (Source, affinity.SourceState) {
				src, err := newHackerNews(config.Source{Name: "hn", Kind: "hackernews", URL: url, Lookback: lookback}, badItemOpts())
				if err != nil {
					t.Fatal(err)
				}
				return src, affinity.SourceState{}
			},
		},
		{
			kind: "reddit",
			page: func(items ...string) string {
				return `{"kind":"Listing","data":{"after":null,"children":[` + strings.Join(items, ",") + "]}}"
			},
			item: func(id, n string) string {
				return fmt.Sprintf(`{"kind":"t3","data":{"id":%q,"created_utc":%d,"title":"hello","selftext":"","is_self":true,"permalink":"/r/t/comments/%s/","score":%s}}`,
					id, at.Unix(), id, n)
			},
			envelope: `{"kind":"Listing","data":{"children":{}}}`,
			count:    func(e affinity.Engagement) int64 { return e.Score },
			signed:   true,
			source: func(t *testing.T, url string) (Source, affinity.SourceState) {
				t.Setenv("AFFINITYD_TEST_BAD_ITEM_SECRET", "secret")
				src, err := newReddit(config.Source{Name: "rd", Kind: "reddit", URL: url, Subreddits: []string{"t"}, Lookback: lookback,
					ClientID: "id", ClientSecret: config.Secret{Env: "AFFINITYD_TEST_BAD_ITEM_SECRET"}}, badItemOpts())
				if err != nil {
					t.Fatal(err)
				}
				rs := src.(*redditSource)
				rs.tokenURL = url + "/api/v1/access_token"
				rs.subs = nil // only the search listing: one page, as for the other kinds
				return rs, affinity.SourceState{}
			},
		},
		{
			kind: "bluesky",
			page: func(items ...string) string { return `{"posts":[` + strings.Join(items, ",") + "]}" },
			item: func(id, n string) string {
				return fmt.Sprintf(`{"uri":"at://did:plc:a/app.bsky.feed.post/%s","author":{"did":"did:plc:a","handle":"a.example"},"record":{"$type":"app.bsky.feed.post","text":"hello","createdAt":%q},"indexedAt":%q,"likeCount":%s}`,
					id, at.Format(time.RFC3339), at.Format(time.RFC3339), n)
			},
			envelope: `{"posts":{}}`,
			count:    func(e affinity.Engagement) int64 { return e.Likes },
			source: func(t *testing.T, url string) (Source, affinity.SourceState) {
				t.Setenv("AFFINITYD_TEST_BAD_ITEM_PASSWORD", "app-pass")
				src, err := newBluesky(config.Source{Name: "bsky", Kind: "bluesky", URL: url, Lookback: lookback,
					Identifier: "a.example", AppPassword: config.Secret{Env: "AFFINITYD_TEST_BAD_ITEM_PASSWORD"}}, badItemOpts())
				if err != nil {
					t.Fatal(err)
				}
				return src, affinity.SourceState{}
			},
		},
	}
}

// badItemServer answers sign-ins and tokens, and body to everything else.
func badItemServer(t *testing.T, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/xrpc/com.atproto.server.createSession":
			_, _ = w.Write([]byte(`{"did":"did:plc:me","handle":"a.example","accessJwt":"a","refreshJwt":"r"}`))
		case "/api/v1/access_token":
			_, _ = w.Write([]byte(`{"access_token":"tok","token_type":"bearer","expires_in":3600}`))
		default:
			_, _ = w.Write([]byte(body))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestOneBadItemSkipped: one malformed item costs that item, counted in
// Result.Skipped, never its page; a body that is not JSON, or whose envelope
// has the wrong shape, still fails the fetch as parse.
func TestOneBadItemSkipped(t *testing.T) {
	for _, k := range badItemKinds() {
		for _, tc := range []struct {
			name    string
			body    string
			posts   int
			skipped int
			counts  []int64 // per post, in page order; nil: not checked
			reason  string  // "" for success
		}{
			{name: "wrong-typed field in one item", body: k.page(k.item("101", "2"), k.item("102", `"many"`), k.item("103", "4")),
				posts: 2, skipped: 1, counts: []int64{2, 4}},
			{name: "item without id", body: k.page(k.item("101", "2"), k.item("", "3")), posts: 1, skipped: 1},
			{name: "huge, negative and fractional counts", body: k.page(k.item("101", "1e400"), k.item("102", "-5"),
				k.item("103", "3.7"), k.item("104", "99999999999999999999"), k.item("105", "null")),
				posts: 5, counts: []int64{math.MaxInt64, map[bool]int64{true: -5, false: 0}[k.signed], 3, math.MaxInt64, 0}},
			{name: "not JSON", body: "<html><body>upstream down</body></html>", reason: ReasonParse},
			{name: "cut in half", body: k.page(k.item("101", "2"))[:30], reason: ReasonParse},
			{name: "wrong envelope", body: k.envelope, reason: ReasonParse},
		} {
			t.Run(k.kind+"/"+tc.name, func(t *testing.T) {
				srv := badItemServer(t, tc.body)
				src, state := k.source(t, srv.URL)
				res, err := src.Fetch(context.Background(), state)
				if tc.reason != "" {
					if fe := fetchErr(t, err); fe.Reason != tc.reason {
						t.Fatalf("reason %s (%v), want %s", fe.Reason, err, tc.reason)
					}
					return
				}
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if len(res.Posts) != tc.posts || res.Skipped != tc.skipped {
					t.Fatalf("%d posts, %d skipped; want %d posts, %d skipped", len(res.Posts), res.Skipped, tc.posts, tc.skipped)
				}
				if tc.counts != nil {
					var got []int64
					for _, p := range res.Posts {
						got = append(got, k.count(p.Engagement))
					}
					if !slices.Equal(got, tc.counts) {
						t.Errorf("counts %v, want %v", got, tc.counts)
					}
				}
			})
		}
	}
}

func TestAPICount(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"12", 12, false}, {"-3", -3, false}, {"3.9", 3, false}, {"-3.9", -3, false}, {"1e3", 1000, false},
		{"null", 0, false}, {"9223372036854775807", math.MaxInt64, false}, {"9223372036854775808", math.MaxInt64, false},
		{"1e400", math.MaxInt64, false}, {"-1e400", math.MinInt64, false}, {"-99999999999999999999", math.MinInt64, false},
		{`"12"`, 0, true}, {"true", 0, true}, {"{}", 0, true}, {"[1]", 0, true},
	} {
		var v struct {
			N apiCount `json:"n"`
		}
		err := json.Unmarshal([]byte(`{"n":`+tc.in+`}`), &v)
		if (err != nil) != tc.wantErr || (err == nil && v.N.n() != tc.want) {
			t.Errorf("%s: got %d, %v; want %d, error %v", tc.in, v.N, err, tc.want, tc.wantErr)
		}
	}
}

// TestHackerNewsFutureHitSkipped: a hit dated far in the future would move
// the cursor where no later hit could pass it; it is skipped instead.
func TestHackerNewsFutureHitSkipped(t *testing.T) {
	body := fmt.Sprintf(`{"hits":[{"objectID":"1","created_at_i":%d,"title":"a"},{"objectID":"2","created_at_i":%d,"title":"b"}],"nbHits":2,"nbPages":1}`,
		int64(math.MaxInt64), badItemNow.Add(-time.Hour).Unix())
	srv := badItemServer(t, body)
	src := newTestHN(t, srv.URL, fixedNow(badItemNow), 24*time.Hour, Query{Key: "topic:t", Terms: []string{"a"}})
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Posts) != 1 || res.Posts[0].ID != "2" || res.Skipped != 1 {
		t.Fatalf("posts %v, skipped %d; want hit 2, 1 skipped", res.Posts, res.Skipped)
	}
	if c := DecodeCursors(res.State.Cursor)["topic:t"]; c != strconv.FormatInt(badItemNow.Add(-time.Hour).Unix(), 10) {
		t.Errorf("cursor %q, want the good hit's time", c)
	}
}
