package collector

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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

// There is no shared Lemmy fixture: testdata/lemmy holds responses written
// for these tests in the v3 API's shape (see testdata/lemmy/README.md).
const (
	lemmySearchFile    = "testdata/lemmy/search.json"
	lemmySearch018File = "testdata/lemmy/search-0.18.json"
)

var lemmyNow = time.Date(2026, 11, 12, 10, 0, 0, 0, time.UTC)

var lemmyQueries = []Query{{Key: "topic:support", Terms: []string{"customer service", "support"}}}

// loadLemmyViews returns the recorded PostViews, newest first.
func loadLemmyViews(t *testing.T, path string) []json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sr struct{ Posts []json.RawMessage }
	if err := json.Unmarshal(b, &sr); err != nil {
		t.Fatal(err)
	}
	return sr.Posts
}

// lemmyServer plays /api/v3/search over a changing list of posts (newest
// first), cut into pages by the limit and page parameters.
type lemmyServer struct {
	*httptest.Server
	mu       sync.Mutex
	views    []json.RawMessage
	requests []*http.Request
	before   func(w http.ResponseWriter, r *http.Request) bool
}

func newLemmyServer(t *testing.T, views []json.RawMessage) *lemmyServer {
	t.Helper()
	l := &lemmyServer{views: slices.Clone(views)}
	l.Server = httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(l.Close)
	return l
}

func (l *lemmyServer) prepend(v ...json.RawMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.views = append(slices.Clone(v), l.views...)
}

func (l *lemmyServer) reqs() []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.requests)
}

func (l *lemmyServer) serve(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.requests = append(l.requests, r)
	views := slices.Clone(l.views)
	before := l.before
	l.mu.Unlock()
	if before != nil && before(w, r) {
		return
	}
	if r.URL.Path != "/api/v3/search" {
		http.NotFound(w, r)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if limit <= 0 {
		limit = 10
	}
	page = max(page, 1)
	from := min((page-1)*limit, len(views))
	to := min(from+limit, len(views))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type_": "Posts", "comments": []any{}, "posts": views[from:to], "communities": []any{}, "users": []any{},
	})
}

func newTestLemmy(t *testing.T, cfg config.Source, limit, maxPages int) *lemmySource {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "fedi"
	}
	src, err := newLemmy(cfg, Options{Client: apiTestClient(), Queries: lemmyQueries,
		Now: func() time.Time { return lemmyNow }})
	if err != nil {
		t.Fatal(err)
	}
	l := src.(*lemmySource)
	if limit > 0 {
		l.limit, l.maxPages = limit, maxPages
	}
	return l
}

func TestLemmySearch(t *testing.T) {
	srv := newLemmyServer(t, loadLemmyViews(t, lemmySearchFile))
	src := newTestLemmy(t, config.Source{Instances: []string{srv.URL}, Format: "community"}, 0, 0)
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	post := func(id, author, published, lang, title, text string, score, comments, up int64) affinity.Post {
		return affinity.Post{Source: "fedi", ID: id, URL: id, Author: author, Published: ts(published),
			Collected: lemmyNow, Language: lang, Title: title, Text: text,
			Engagement: affinity.Engagement{Score: score, Replies: comments, Likes: up}, Format: affinity.FormatCommunity}
	}
	want := []affinity.Post{
		post("https://lemmy.world/post/22917411", "driftwood@lemmy.world", "2026-11-12T09:41:27.604387Z", "en",
			"Airline replaces phone customer service with a chatbot, refunds now take 6 weeks",
			"https://www.example-news.com/2026/11/12/airline-chatbot-customer-service-refunds", 412, 97, 431),
		post("https://lemmy.ml/post/13916805", "pmarsh@lemmy.ml", "2026-11-12T08:02:13.118002Z", "en",
			"What's the worst customer service experience you've had with an ISP?",
			"Mine: three hours on hold, two disconnects, and the \"solution\" was *restart your router*.\n\n"+
				"Bonus points if it involved a **retention offer** you didn't ask for.", 88, 143, 95),
		post("https://programming.dev/post/13915902", "kiri@programming.dev", "2026-11-11T21:15:40.000931Z", "",
			"Self-hosted helpdesk recommendations? Zammad vs. FreeScout",
			"We're a 6-person shop replacing Zendesk. Needs:\n\n- email + web form\n- knowledge base\n- SSO (OIDC)\n\n"+
				"Anyone running either in production?", 57, 31, 58),
		post("https://feddit.org/post/13914377", "bahnfahrer@feddit.org", "2026-11-11T14:22:05.77Z", "de",
			"Kundenservice der Bahn: Erstattung nach 4 Monaten immer noch offen",
			"Hat jemand Erfahrung mit der Schlichtungsstelle? Das Fahrgastrechte-Formular wurde zweimal \"verloren\".", 23, 12, 25),
		post("https://lemmy.ml/post/13911090", "oblique@lemmy.ml", "2026-11-10T17:58:59.123456Z", "en",
			"Google quietly ends phone support for Workspace Individual",
			"https://support.example.com/workspace/answer/1047?hl=en", -3, 8, 5),
		post("https://lemmy.world/post/22909874", "autopost@lemmy.world", "2026-11-09T06:00:00.002Z", "en",
			"[Bot] Weekly customer support thread", "Ask your support questions here. Please be civil.", 4, 2, 4),
	}
	if len(res.Posts) != len(want) {
		t.Fatalf("%d posts, want %d", len(res.Posts), len(want))
	}
	for i := range want {
		if res.Posts[i] != want[i] {
			t.Errorf("post %d =\n%+v\nwant\n%+v", i, res.Posts[i], want[i])
		}
	}
	if want := `{"` + srv.URL + `|topic:support":"2026-11-12T09:41:27.604387Z"}`; res.State.Cursor != want {
		t.Errorf("cursor %s, want %s", res.State.Cursor, want)
	}
	reqs := srv.reqs()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	q := reqs[0].URL.Query()
	if q.Get("q") != `"customer service" OR support` || q.Get("type_") != "Posts" || q.Get("sort") != "New" ||
		q.Get("limit") != "50" || q.Get("page") != "1" || reqs[0].Header.Get("Authorization") != "" {
		t.Errorf("request %s", reqs[0].URL)
	}
}

func TestLemmyLookback(t *testing.T) {
	// Two days back ends at 2026-11-10T10:00: the bot thread of 11-09 is older.
	srv := newLemmyServer(t, loadLemmyViews(t, lemmySearchFile))
	src := newTestLemmy(t, config.Source{Instances: []string{srv.URL}, Lookback: model.Duration(48 * time.Hour)}, 2, 10)
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Posts) != 5 || res.More {
		t.Errorf("%d posts (want 5), More %v", len(res.Posts), res.More)
	}
	// Pages of 2: the third ends with a post older than the look-back, so it is the last.
	if n := len(srv.reqs()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

// TestLemmyPaging reads across fetches, a restart and a backlog deeper than
// one fetch, with a post arriving mid-backlog: nothing is missed.
func TestLemmyPaging(t *testing.T) {
	views := loadLemmyViews(t, lemmySearchFile)
	idOf := func(v json.RawMessage) string {
		var pv lemmyPostView
		_ = json.Unmarshal(v, &pv)
		return pv.Post.APID
	}
	srv := newLemmyServer(t, views[3:]) // the three oldest
	cfg := config.Source{Instances: []string{srv.URL}}
	delivered := map[string]int{}
	fetch := func(src Source, st affinity.SourceState, wantMore bool, want ...string) affinity.SourceState {
		t.Helper()
		res, err := src.Fetch(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		if got := fediPostIDs(res.Posts); !slices.Equal(got, want) || res.More != wantMore {
			t.Errorf("posts %v More %v\nwant %v More %v", got, res.More, want, wantMore)
		}
		for _, id := range fediPostIDs(res.Posts) {
			delivered[id]++
		}
		return res.State
	}
	src := newTestLemmy(t, cfg, 2, 2)
	st := fetch(src, affinity.SourceState{}, false, idOf(views[3]), idOf(views[4]), idOf(views[5]))
	if want := `{"` + srv.URL + `|topic:support":"2026-11-11T14:22:05.77Z"}`; st.Cursor != want {
		t.Errorf("cursor %s", st.Cursor)
	}
	srv.prepend(views[:3]...)

	// Restart with one page per fetch: the backlog takes two fetches.
	src = newTestLemmy(t, cfg, 2, 1)
	st = fetch(src, st, true, idOf(views[0]), idOf(views[1]))
	if want := `{"` + srv.URL + `|topic:support":"2026-11-11T14:22:05.77Z page=2 newest=2026-11-12T09:41:27.604387Z"}`; st.Cursor != want {
		t.Errorf("mid-backlog cursor %s", st.Cursor)
	}
	// A post arrives meanwhile and pushes everything down one place: page 2
	// now repeats views[1] but still reaches views[2].
	fresh := strings.Replace(string(views[0]), "22917411", "22917999", -1)
	fresh = strings.Replace(fresh, "2026-11-12T09:41:27.604387Z", "2026-11-12T09:55:00Z", -1)
	srv.prepend(json.RawMessage(fresh))
	st = fetch(src, st, true, idOf(views[1]), idOf(views[2]))
	st = fetch(src, st, false) // page 3: views[3] is the old cursor: done
	if want := `{"` + srv.URL + `|topic:support":"2026-11-12T09:41:27.604387Z"}`; st.Cursor != want {
		t.Errorf("cursor after the backlog %s", st.Cursor)
	}
	st = fetch(src, st, false, "https://lemmy.world/post/22917999")
	st = fetch(src, st, false)
	if !strings.Contains(st.Cursor, "2026-11-12T09:55:00Z") {
		t.Errorf("cursor %s", st.Cursor)
	}
	for _, v := range views {
		if delivered[idOf(v)] == 0 {
			t.Errorf("%s never delivered", idOf(v))
		}
	}
}

func TestLemmyZonelessTime(t *testing.T) {
	srv := newLemmyServer(t, loadLemmyViews(t, lemmySearch018File))
	src := newTestLemmy(t, config.Source{Instances: []string{srv.URL}, Lookback: model.Duration(10 * 365 * 24 * time.Hour)}, 0, 0)
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Posts) != 1 {
		t.Fatalf("%d posts", len(res.Posts))
	}
	p := res.Posts[0]
	if !p.Published.Equal(time.Date(2023, 9, 14, 7, 30, 12, 345678000, time.UTC)) || p.Author != "fp_support@lemmy.sdf.org" ||
		p.Language != "en" || p.Engagement != (affinity.Engagement{Score: 45, Replies: 17, Likes: 46}) {
		t.Errorf("post %+v", p)
	}
	if !strings.Contains(res.State.Cursor, `"2023-09-14T07:30:12.345678Z"`) {
		t.Errorf("cursor %s", res.State.Cursor)
	}
}

func TestLemmyFailures(t *testing.T) {
	body, err := os.ReadFile(lemmySearchFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		handle   http.HandlerFunc
		reason   string
		contains string
	}{
		{"rate limit as Lemmy says it", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"rate_limit_error"}`)
		}, ReasonRateLimited, `status 400 Bad Request (server said "rate_limit_error")`},
		{"429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
		}, ReasonRateLimited, "status 429"},
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }, ReasonHTTP5xx, "status 500"},
		{"HTML with 200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head></html>")
		}, ReasonParse, `not a JSON object (Content-Type "text/html", body starts "<html><head><title>502 Bad Gateway</titl…")`},
		{"cut in half", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body[:len(body)/2]) }, ReasonParse,
			"invalid JSON (" + strconv.Itoa(len(body)/2) + " bytes): unexpected end of JSON input"},
		// One wrong-typed item is skipped (TestOneBadItemSkipped); a wrong
		// envelope still fails the page.
		{"posts not a list", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"posts":{"post":{"published":12}}}`)
		},
			ReasonParse, "invalid JSON"},
		{"no posts field", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"type_":"Posts","comments":[]}`)
		},
			ReasonParse, `no "posts" in the search response`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handle)
			defer srv.Close()
			src := newTestLemmy(t, config.Source{Instances: []string{srv.URL}}, 0, 0)
			_, err := src.Fetch(context.Background(), affinity.SourceState{})
			fe := fetchErr(t, err)
			if fe.Reason != tc.reason || !strings.Contains(err.Error(), tc.contains) ||
				!strings.HasPrefix(err.Error(), `collector: lemmy "fedi": `+tc.reason+": ") {
				t.Errorf("error %q (reason %s), want %s containing %q", err, fe.Reason, tc.reason, tc.contains)
			}
		})
	}
}

func TestLemmyInstances(t *testing.T) {
	views := loadLemmyViews(t, lemmySearchFile)
	a := newLemmyServer(t, views)
	b := newLemmyServer(t, views[:2]) // federated copies: same ap_id
	down := newLemmyServer(t, nil)
	down.before = func(w http.ResponseWriter, r *http.Request) bool {
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		_ = conn.Close() // reset without an answer
		return true
	}
	logger, logs := fediTestLogger()
	src, err := newLemmy(config.Source{Name: "fedi", Instances: []string{a.URL, down.URL, b.URL}},
		Options{Client: apiTestClient(), Logger: logger, Queries: append(lemmyQueries, Query{Key: "brand:acme", Terms: []string{"Acme"}}),
			Now: func() time.Time { return lemmyNow }})
	if err != nil {
		t.Fatal(err)
	}
	prev := Cursors{down.URL + "|topic:support": "2026-11-01T00:00:00Z"}
	res, err := src.Fetch(context.Background(), affinity.SourceState{Cursor: prev.Encode()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Posts) != 6 {
		t.Errorf("%d posts, want 6 distinct", len(res.Posts))
	}
	c := DecodeCursors(res.State.Cursor)
	if c[down.URL+"|topic:support"] != "2026-11-01T00:00:00Z" || c[down.URL+"|brand:acme"] != "" ||
		c[a.URL+"|brand:acme"] != "2026-11-12T09:41:27.604387Z" || len(c) != 5 {
		t.Errorf("cursors %s", res.State.Cursor)
	}
	if len(down.reqs()) != 1 {
		t.Errorf("down instance asked %d times", len(down.reqs()))
	}
	if !strings.Contains(logs.String(), `msg="instance failed" instance=`+down.URL+" query=topic:support reason=read") {
		t.Errorf("logs:\n%s", logs)
	}
}

func TestNewLemmyRejects(t *testing.T) {
	for _, tc := range []struct {
		cfg     config.Source
		queries []Query
		want    string
	}{
		{config.Source{Name: "l", Instances: []string{"https://lemmy.world"}}, []Query{{Key: "topic:x", Terms: []string{" ", `""`}}},
			`collector: lemmy "l": no queries: give the topics or brands terms to search for`},
		{config.Source{Name: "l"}, lemmyQueries, `collector: lemmy "l": no instances configured`},
		{config.Source{Name: "l", Instances: []string{"https://user:pw@lemmy.world"}}, lemmyQueries,
			`collector: lemmy "l": instance "https://lemmy.world" is not an http(s) base URL`},
	} {
		if _, err := newLemmy(tc.cfg, Options{Client: apiTestClient(), Queries: tc.queries}); err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %s", err, tc.want)
		}
	}
	if _, err := newLemmy(config.Source{Name: "l", URL: "https://lemmy.world"}, Options{Queries: lemmyQueries}); err == nil {
		t.Error("no client accepted")
	}
}

func TestLemmyHelpers(t *testing.T) {
	for id, want := range map[int]string{0: "", 1: "aa", 32: "de", 37: "en", 39: "es", 74: "ja", 183: "zu", 184: "", -1: ""} {
		if got := lemmyLanguage(id); got != want {
			t.Errorf("lemmyLanguage(%d) = %q, want %q", id, got, want)
		}
	}
	for _, tc := range [][3]string{
		{"alice", "https://lemmy.world/u/alice", "alice@lemmy.world"},
		{"", "https://feddit.org/u/bob", "bob@feddit.org"},
		{"carol", "", "carol"},
	} {
		if got := lemmyAuthor(tc[0], tc[1]); got != tc[2] {
			t.Errorf("lemmyAuthor(%q, %q) = %q", tc[0], tc[1], got)
		}
	}
	for _, s := range []string{"", "garbage", "2026-11-12T09:00:00Z page=x newest=2026-11-12T09:00:00Z", "2026-11-12T09:00:00Z page=2"} {
		if _, ok := parseLemmyCursor(s); ok {
			t.Errorf("cursor %q accepted", s)
		}
	}
	c := lemmyCursor{since: lemmyNow, page: 3, newest: lemmyNow.Add(time.Hour)}
	if got, ok := parseLemmyCursor(c.String()); !ok || got != c {
		t.Errorf("round trip %q gave %+v", c.String(), got)
	}
}
