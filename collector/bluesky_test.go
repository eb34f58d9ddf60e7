package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
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

const bskyFixtures = "../../shared/fixtures/posts/bluesky/records"

// bskyRecord is a real post record from the fixtures with where it lives.
type bskyFixtureRecord struct {
	DID, Handle, RKey string
	Record            json.RawMessage
}

func (r bskyFixtureRecord) uri() string {
	return "at://" + r.DID + "/app.bsky.feed.post/" + r.RKey
}

// bskyCaptured reads a capture_*.json file (an account's real posts).
func bskyCaptured(t testing.TB, name string) []bskyFixtureRecord {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(bskyFixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AccountMeta struct {
			Identity struct{ DID, Handle string }
		} `json:"accountMeta"`
		PostRecords []struct {
			URI   string          `json:"uri"`
			Value json.RawMessage `json:"value"`
		} `json:"postRecords"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []bskyFixtureRecord
	for _, p := range doc.PostRecords {
		did, rkey, ok := blueskyParseURI(p.URI)
		if !ok {
			t.Fatalf("fixture uri %q", p.URI)
		}
		out = append(out, bskyFixtureRecord{DID: did, Handle: doc.AccountMeta.Identity.Handle, RKey: rkey, Record: p.Value})
	}
	return out
}

// bskyTransformed reads transform-post-fixtures.json (edge cases: emoji,
// tags, facets out of range, empty text, image embeds).
func bskyTransformed(t *testing.T) []bskyFixtureRecord {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(bskyFixtures, "transform-post-fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc []struct {
		DID        string          `json:"did"`
		Handle     string          `json:"handle"`
		RKey       string          `json:"rkey"`
		PostRecord json.RawMessage `json:"PostRecord"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []bskyFixtureRecord
	for i, d := range doc {
		// Two fixtures share an rkey; give each its own post.
		out = append(out, bskyFixtureRecord{DID: d.DID, Handle: d.Handle, RKey: fmt.Sprintf("%s%d", d.RKey, i), Record: d.PostRecord})
	}
	return out
}

// bskyView wraps a record into an app.bsky.feed.defs#postView.
type bskyView struct {
	rec                                    bskyFixtureRecord
	indexed                                time.Time
	likes, reposts, quotes, replies        int64
	handleOverride                         string
	omitIndexedAt, brokenURI, brokenRecord bool
}

func (v bskyView) MarshalJSON() ([]byte, error) {
	handle := v.rec.Handle
	if v.handleOverride != "" {
		handle = v.handleOverride
	}
	m := map[string]any{
		"uri":         v.rec.uri(),
		"cid":         "bafyreih22okgdungwln2lwqt2kd4dd2ynzx3fyy3yefh5koocpizlngqfq",
		"author":      map[string]any{"did": v.rec.DID, "handle": handle, "displayName": "Someone"},
		"record":      v.rec.Record,
		"likeCount":   v.likes,
		"repostCount": v.reposts,
		"quoteCount":  v.quotes,
		"replyCount":  v.replies,
		"indexedAt":   v.indexed.UTC().Format(time.RFC3339Nano),
		"labels":      []any{},
	}
	if v.omitIndexedAt {
		delete(m, "indexedAt")
	}
	if v.brokenURI {
		m["uri"] = "at://" + v.rec.DID + "/app.bsky.feed.like/" + v.rec.RKey
	}
	if v.brokenRecord {
		m["record"] = "not a record"
	}
	return json.Marshal(m)
}

// bskyServer is a fake PDS/AppView: sessions and searchPosts over an index
// of post views, with sorting, since/until, paging and faults as the
// lexicon describes them.
type bskyServer struct {
	t        *testing.T
	mu       sync.Mutex
	password string
	index    []bskyView // any order; served newest first
	filter   bool       // match q's terms against the record text

	creates, refreshes, searches int
	tokenN                       int
	access, refresh              map[string]bool
	expiredAccess                map[string]bool // answer 400 ExpiredToken
	queries                      []url.Values
	authHeaders                  []string
	fault                        func(w http.ResponseWriter, r *http.Request) bool
}

func newBskyServer(t *testing.T, index []bskyView) (*bskyServer, *httptest.Server) {
	f := &bskyServer{t: t, password: "app-pass-1234-abcd", index: index,
		access: map[string]bool{}, refresh: map[string]bool{}, expiredAccess: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func xrpcError(w http.ResponseWriter, code int, name, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": name, "message": msg})
}

func (f *bskyServer) issue(w http.ResponseWriter) {
	f.tokenN++
	a, r := fmt.Sprintf("access-%d", f.tokenN), fmt.Sprintf("refresh-%d", f.tokenN)
	f.access[a], f.refresh[r] = true, true
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"accessJwt": a, "refreshJwt": r, "did": "did:plc:listener", "handle": "listener.example.com", "active": true,
	})
}

func (f *bskyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authHeaders = append(f.authHeaders, r.Header.Get("Authorization"))
	if f.fault != nil && f.fault(w, r) {
		return
	}
	switch r.URL.Path {
	case "/xrpc/com.atproto.server.createSession":
		f.creates++
		var in struct{ Identifier, Password string }
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&in) != nil {
			xrpcError(w, 400, "InvalidRequest", "bad body")
			return
		}
		if in.Identifier != "listener.example.com" || in.Password != f.password {
			xrpcError(w, 401, "AuthenticationRequired", "Invalid identifier or password")
			return
		}
		f.issue(w)
	case "/xrpc/com.atproto.server.refreshSession":
		f.refreshes++
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if r.Method != http.MethodPost || !f.refresh[tok] {
			xrpcError(w, 400, "ExpiredToken", "Token has been revoked")
			return
		}
		delete(f.refresh, tok)
		f.issue(w)
	case "/xrpc/app.bsky.feed.searchPosts":
		f.searches++
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case f.expiredAccess[tok]:
			xrpcError(w, 400, "ExpiredToken", "Token has expired")
			return
		case !f.access[tok]:
			xrpcError(w, 401, "AuthenticationRequired", "Authentication Required")
			return
		}
		f.queries = append(f.queries, r.URL.Query())
		f.search(w, r.URL.Query())
	default:
		http.NotFound(w, r)
	}
}

func (f *bskyServer) search(w http.ResponseWriter, q url.Values) {
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 100 {
		xrpcError(w, 400, "InvalidRequest", "limit")
		return
	}
	since, _ := time.Parse(time.RFC3339Nano, q.Get("since"))
	until, _ := time.Parse(time.RFC3339Nano, q.Get("until"))
	var hits []bskyView
	for _, v := range f.index {
		if v.indexed.Before(since) || (!until.IsZero() && !v.indexed.Before(until)) {
			continue
		}
		if f.filter && !bskyMatchesQuery(v, q.Get("q")) {
			continue
		}
		hits = append(hits, v)
	}
	slices.SortStableFunc(hits, func(a, b bskyView) int { return b.indexed.Compare(a.indexed) })
	off, _ := strconv.Atoi(q.Get("cursor"))
	end := min(off+limit, len(hits))
	out := map[string]any{"posts": hits[min(off, len(hits)):end], "hitsTotal": len(hits)}
	if end < len(hits) {
		out["cursor"] = strconv.Itoa(end)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("RateLimit-Limit", "3000")
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(3000-f.searches))
	_ = json.NewEncoder(w).Encode(out)
}

// bskyMatchesQuery is the server's search: any OR-ed term in the text.
func bskyMatchesQuery(v bskyView, q string) bool {
	var rec struct{ Text string }
	_ = json.Unmarshal(v.rec.Record, &rec)
	for _, term := range strings.Split(q, " OR ") {
		if strings.Contains(strings.ToLower(rec.Text), strings.ToLower(strings.Trim(term, `"`))) {
			return true
		}
	}
	return false
}

func bskyConfig(url string) config.Source {
	return config.Source{
		Name:        "bsky",
		Kind:        "bluesky",
		URL:         url,
		Format:      "network",
		Identifier:  "listener.example.com",
		AppPassword: config.Secret{Env: "AFFINITYD_TEST_BSKY_PASSWORD"},
		Lookback:    model.Duration(24 * time.Hour),
	}
}

func newTestBluesky(t *testing.T, cfg config.Source, logger *slog.Logger, queries ...Query) *blueskySource {
	t.Helper()
	if len(queries) == 0 {
		queries = []Query{{Key: "topic:all", Terms: []string{"bluesky"}}}
	}
	// 100 post views exceed testClient's cap; the real default is 10 MiB.
	client := NewClient(config.Collector{Timeout: model.Duration(5 * time.Second), MaxBodySize: 4 << 20}, "test")
	src, err := newBluesky(cfg, Options{Client: client, Logger: logger,
		Now: func() time.Time { return testNow }, Queries: queries})
	if err != nil {
		t.Fatal(err)
	}
	bs, ok := src.(*blueskySource)
	if !ok {
		t.Fatalf("newBluesky with credentials gave %T", src)
	}
	return bs
}

func bskyPostsByRKey(posts []affinity.Post) map[string]affinity.Post {
	m := map[string]affinity.Post{}
	for _, p := range posts {
		m[p.ID[strings.LastIndex(p.ID, "/")+1:]] = p
	}
	return m
}

func TestBlueskyFetchMapsPosts(t *testing.T) {
	t.Setenv("AFFINITYD_TEST_BSKY_PASSWORD", "app-pass-1234-abcd")
	var index []bskyView
	recs := append(bskyCaptured(t, "capture_atprotocom.json"), bskyTransformed(t)...)
	for i, r := range recs {
		index = append(index, bskyView{rec: r, indexed: testNow.Add(-time.Duration(i+1) * time.Minute),
			likes: int64(10 * i), reposts: int64(i), quotes: 2, replies: int64(i % 3)})
	}
	_, srv := newBskyServer(t, index)
	src := newTestBluesky(t, bskyConfig(srv.URL), nil)

	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Posts) != len(recs) {
		t.Fatalf("got %d posts, want %d", len(res.Posts), len(recs))
	}
	if res.RateLimitRemaining != 2999 {
		t.Errorf("RateLimitRemaining = %v, want 2999", res.RateLimitRemaining)
	}
	got := bskyPostsByRKey(res.Posts)

	// A link facet after a multi-byte dash, shortened by the client: the
	// full URI replaces it; the card's title is added, its URI already shows.
	want := affinity.Post{
		Source:    "bsky",
		ID:        "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3kfqkmk5kpv2o",
		URL:       "https://bsky.app/profile/atproto.com/post/3kfqkmk5kpv2o",
		Author:    "atproto.com",
		Published: time.Date(2023, 12, 4, 19, 30, 3, 24e6, time.UTC),
		Collected: testNow,
		Language:  "en",
		Text: "Bridgy Fed is an open-source project — check out the code here: https://github.com/snarfed/bridgy-fed\n\n" +
			"Stay updated with the project by following @snarfed.org!\n\n" +
			"GitHub - snarfed/bridgy-fed: 🕸 Bridges the IndieWeb to Mastodon and the fediverse via ActivityPub...",
		Engagement: affinity.Engagement{Likes: 20, Reposts: 2 + 2, Replies: 2},
		Format:     affinity.FormatNetwork,
	}
	if p := got["3kfqkmk5kpv2o"]; p != want {
		t.Errorf("post 3kfqkmk5kpv2o:\n got %+v\nwant %+v", p, want)
	}

	texts := map[string]string{
		// Two links after an emoji (4 bytes), both shortened; a quote embed adds nothing.
		"3kblbjgnevy25": "congrats to @graysky.app, a third-party open-source bluesky client! 🔥\n\n" +
			"check out the source code here: https://github.com/mozzius/graysky\n\n" +
			"because the AT Protocol is open, third-party developers can create entirely separate frontends " +
			"for the network. find more clients here: https://atproto.com/community/projects#clients",
		// No facets: the card's title and URI are appended.
		"3kbj5lqxjs42w": "",
		// A link card on a short post.
		"3k4duaz5vfs2b0": "post which embeds an external URL as a card\n\nBluesky Social\nhttps://www.bsky.app:443/index.html",
		// A link facet beyond the text's end is appended, not applied; #some
		// shows already, the record's own tag does not.
		"3k4duaz5vfs2b1": "longer example with #some #hashtags, emoji ☠ 🙂 🎅🏿, flags 🇸🇨\n\n" +
			"https://en.wikipedia.org/wiki/CBOR?utm_campaign=123\n#thing",
		"3k4duaz5vfs2b2": "",
		"3k4duaz5vfs2b3": "学校から帰って熱いお風呂に入ったら力一杯がんばる",
	}
	for rkey, text := range texts {
		p, ok := got[rkey]
		if !ok {
			t.Errorf("post %s missing", rkey)
			continue
		}
		if rkey == "3kbj5lqxjs42w" {
			if !strings.HasPrefix(p.Text, "2023 Protocol Roadmap") || !strings.HasSuffix(p.Text, "\n\n2023 Protocol Roadmap | AT Protocol\nhttps://atproto.com/blog/2023-protocol-roadmap") {
				t.Errorf("post %s text %q lacks its link card", rkey, p.Text)
			}
			continue
		}
		if p.Text != text {
			t.Errorf("post %s text\n got %q\nwant %q", rkey, p.Text, text)
		}
	}
	if l := got["3k4duaz5vfs2b1"].Language; l != "th" {
		t.Errorf("language of a post tagged [th en-US] = %q, want th", l)
	}
	if l := got["3k4duaz5vfs2b3"].Language; l != "" {
		t.Errorf("language of a post without langs = %q, want empty", l)
	}
	if p := got["3k4duaz5vfs2b0"]; p.Published != time.Date(2023, 8, 7, 5, 46, 14, 423045000, time.UTC) || p.Author != "handle.example.com" {
		t.Errorf("transform post 0: published %v author %q", p.Published, p.Author)
	}

	// The cursor is the newest indexedAt, per query.
	c := DecodeCursors(res.State.Cursor)
	if want := testNow.Add(-time.Minute).Format(time.RFC3339Nano); c["topic:all"] != want {
		t.Errorf("cursor = %q, want %q", c["topic:all"], want)
	}
}

func TestBlueskyTextFacets(t *testing.T) {
	link := func(start, end int, uri string) blueskyFacet {
		var f blueskyFacet
		f.Index.ByteStart, f.Index.ByteEnd = start, end
		f.Features = append(f.Features, struct {
			Type string `json:"$type"`
			URI  string `json:"uri"`
			Tag  string `json:"tag"`
		}{Type: blueskyFacetLink, URI: uri})
		return f
	}
	tag := func(start, end int, name string) blueskyFacet {
		f := link(start, end, "")
		f.Features[0].Type, f.Features[0].Tag = blueskyFacetTag, name
		return f
	}
	tests := []struct {
		name   string
		text   string
		facets []blueskyFacet
		tags   []string
		want   string
	}{
		{"ascii link", "see example.com/a... now", []blueskyFacet{link(4, 20, "https://example.com/abc")}, nil,
			"see https://example.com/abc now"},
		{"link after emoji counts bytes", "🙂 go: example.com/x", []blueskyFacet{link(9, 22, "https://example.com/x")}, nil,
			"🙂 go: https://example.com/x"},
		{"range splits a rune", "é example.com", []blueskyFacet{link(1, 14, "https://example.com/")}, nil,
			"é example.com\n\nhttps://example.com/"},
		{"range not the link", "hello world", []blueskyFacet{link(0, 5, "https://example.com/")}, nil,
			"hello world\n\nhttps://example.com/"},
		{"range beyond the end", "short", []blueskyFacet{link(3, 99, "https://example.com/")}, nil,
			"short\n\nhttps://example.com/"},
		{"negative range", "short", []blueskyFacet{link(-1, 2, "https://example.com/")}, nil,
			"short\n\nhttps://example.com/"},
		{"overlapping links keep the first", "a example.com b", []blueskyFacet{link(2, 13, "https://example.com"), link(4, 13, "https://ample.com")}, nil,
			"a https://example.com b"},
		{"tag shown", "I like #Go", []blueskyFacet{tag(7, 10, "go")}, nil, "I like #Go"},
		{"tag prefix is not the tag", "I like #golang", []blueskyFacet{tag(7, 14, "go")}, nil, "I like #golang\n\n#go"},
		{"record tags deduplicated", "text", nil, []string{"one", "#One", "two"}, "text\n\n#one #two"},
		{"empty text", "", nil, []string{"only"}, "#only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := blueskyText(blueskyRecord{Text: tt.text, Facets: tt.facets, Tags: tt.tags}, nil)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBlueskyHasWord(t *testing.T) {
	tests := []struct {
		text, term string
		want       bool
	}{
		{"I afford a Ford", "ford", true},
		{"I can afford it", "ford", false},
		{"Bridgy Fed is a bridge", "bridgy fed", true},
		{"BridgyFed", "bridgy fed", false},
		{"loving #bluesky today", "bluesky", true},
		{"loving #bluesky today", "#bluesky", true},
		{"C++ rocks", "c++", true},
		{"feeds", "feed", false},
		{"Straße", "straße", true},
		{"snake_case", "case", false},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := blueskyHasWord(tt.text, tt.term); got != tt.want {
			t.Errorf("blueskyHasWord(%q, %q) = %v, want %v", tt.text, tt.term, got, tt.want)
		}
	}
}

func TestBlueskySessionRenewal(t *testing.T) {
	t.Setenv("AFFINITYD_TEST_BSKY_PASSWORD", "app-pass-1234-abcd")
	recs := bskyCaptured(t, "capture_atprotocom.json")
	index := []bskyView{{rec: recs[0], indexed: testNow.Add(-time.Hour)}}
	f, srv := newBskyServer(t, index)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src := newTestBluesky(t, bskyConfig(srv.URL), logger)
	ctx := context.Background()

	if _, err := src.Fetch(ctx, affinity.SourceState{}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(ctx, affinity.SourceState{}); err != nil {
		t.Fatal(err)
	}
	if f.creates != 1 {
		t.Errorf("two fetches signed in %d times, want once (the session is kept)", f.creates)
	}

	// The access token expires: refresh, retry, no new sign-in.
	f.mu.Lock()
	f.expiredAccess["access-1"] = true
	f.mu.Unlock()
	res, err := src.Fetch(ctx, affinity.SourceState{})
	if err != nil {
		t.Fatalf("fetch after ExpiredToken: %v", err)
	}
	if len(res.Posts) != 1 || f.creates != 1 || f.refreshes != 1 {
		t.Errorf("after ExpiredToken: posts %d creates %d refreshes %d, want 1/1/1", len(res.Posts), f.creates, f.refreshes)
	}

	// Access and refresh tokens are both revoked: refresh fails, sign in again.
	f.mu.Lock()
	f.access, f.refresh = map[string]bool{}, map[string]bool{}
	f.mu.Unlock()
	if _, err := src.Fetch(ctx, affinity.SourceState{}); err != nil {
		t.Fatalf("fetch after revocation: %v", err)
	}
	if f.creates != 2 || f.refreshes != 2 {
		t.Errorf("after revocation: creates %d refreshes %d, want 2/2", f.creates, f.refreshes)
	}

	// The service keeps refusing: renewal is tried once per fetch, then it fails.
	f.mu.Lock()
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/xrpc/app.bsky.feed.searchPosts" {
			xrpcError(w, 401, "AuthenticationRequired", "Authentication Required")
			return true
		}
		return false
	}
	before := f.creates + f.refreshes
	f.mu.Unlock()
	_, err = src.Fetch(ctx, affinity.SourceState{})
	if fe := fetchErr(t, err); fe.Reason != ReasonHTTP4xx {
		t.Errorf("reason %q, want http_4xx", fe.Reason)
	}
	if n := f.creates + f.refreshes - before; n != 1 {
		t.Errorf("a refusing service got %d renewals in one fetch, want 1", n)
	}

	for _, secret := range []string{f.password, "access-1", "refresh-1", "access-2", "refresh-2"} {
		if strings.Contains(logs.String(), secret) || strings.Contains(err.Error(), secret) {
			t.Errorf("logs or error show %q", secret)
		}
	}
	for _, h := range f.authHeaders {
		if strings.Contains(h, f.password) {
			t.Errorf("the password went into a header: %q", h)
		}
	}
}

func TestBlueskyWrongPassword(t *testing.T) {
	const pw = "wrong-pass-9999-zzzz"
	t.Setenv("AFFINITYD_TEST_BSKY_PASSWORD", pw)
	f, srv := newBskyServer(t, nil)
	// A careless server that echoes what it got must not leak it either.
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/xrpc/com.atproto.server.createSession" {
			f.creates++
			xrpcError(w, 401, "AuthenticationRequired", "Invalid identifier or password "+pw)
			return true
		}
		return false
	}
	src := newTestBluesky(t, bskyConfig(srv.URL), nil)
	res, err := src.Fetch(context.Background(), affinity.SourceState{Cursor: `{"topic:all":"2026-11-12T09:00:00Z"}`})
	fe := fetchErr(t, err)
	if fe.Reason != ReasonHTTP4xx {
		t.Errorf("reason %q, want http_4xx", fe.Reason)
	}
	msg := err.Error()
	for _, want := range []string{`collector: bluesky "bsky": http_4xx:`, `signing in as "listener.example.com"`,
		"status 401", "AuthenticationRequired", "check identifier and app_password"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, pw) {
		t.Errorf("error shows the password: %q", msg)
	}
	if res.State.Cursor != `{"topic:all":"2026-11-12T09:00:00Z"}` || len(res.Posts) != 0 {
		t.Errorf("failed fetch changed state %+v or gave posts", res.State)
	}

	t.Run("secret not set", func(t *testing.T) {
		cfg := bskyConfig(srv.URL)
		cfg.AppPassword = config.Secret{Env: "AFFINITYD_TEST_BSKY_UNSET"}
		_, err := newTestBluesky(t, cfg, nil).Fetch(context.Background(), affinity.SourceState{})
		if fe := fetchErr(t, err); !strings.Contains(err.Error(), "AFFINITYD_TEST_BSKY_UNSET is not set") || fe.Reason != ReasonConnect {
			t.Errorf("error %q (reason %s)", err, fe.Reason)
		}
	})
}

func TestBlueskyPagingAcrossFetches(t *testing.T) {
	t.Setenv("AFFINITYD_TEST_BSKY_PASSWORD", "app-pass-1234-abcd")
	base := bskyCaptured(t, "capture_hackerdarkweb.json")[0]
	// 250 posts over the last 250 minutes, the same record under new rkeys.
	var index []bskyView
	for i := range 250 {
		r := base
		r.RKey = fmt.Sprintf("3kpage%04d", i)
		index = append(index, bskyView{rec: r, indexed: testNow.Add(-time.Duration(250-i) * time.Minute)})
	}
	f, srv := newBskyServer(t, index)
	src := newTestBluesky(t, bskyConfig(srv.URL), nil)
	src.maxPages = 2
	ctx := context.Background()
	seen := map[string]int{}
	collect := func(res Result) {
		for _, p := range res.Posts {
			seen[p.ID]++
		}
	}

	// First fetch: the 200 newest, the page bound reached.
	res, err := src.Fetch(ctx, affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	collect(res)
	if len(res.Posts) != 200 || !res.More {
		t.Fatalf("first fetch: %d posts, More %v; want 200, true", len(res.Posts), res.More)
	}
	cur := DecodeCursors(res.State.Cursor)["topic:all"]
	if n := strings.Count(cur, ","); n != 2 {
		t.Errorf("a backlog cursor %q should read SINCE,UNTIL,NEWEST", cur)
	}
	if q := f.queries[0]; q.Get("sort") != "latest" || q.Get("limit") != "100" || q.Get("q") != "bluesky" ||
		q.Get("since") != testNow.Add(-24*time.Hour).Format(time.RFC3339Nano) {
		t.Errorf("first request %v", q)
	}
	if f.queries[1].Get("cursor") != "100" {
		t.Errorf("second page asked with cursor %q, want the server's 100", f.queries[1].Get("cursor"))
	}

	// Second fetch: the older 50 below the ones read, then the cursor is the newest.
	res, err = src.Fetch(ctx, res.State)
	if err != nil {
		t.Fatal(err)
	}
	collect(res)
	if len(res.Posts) != 50 || res.More {
		t.Fatalf("second fetch: %d posts, More %v; want 50, false", len(res.Posts), res.More)
	}
	newest := testNow.Add(-time.Minute).Format(time.RFC3339Nano)
	if got := DecodeCursors(res.State.Cursor)["topic:all"]; got != newest {
		t.Errorf("cursor after the backlog = %q, want %q", got, newest)
	}

	// New posts arrive; the daemon restarts (new source, new session) on the saved state.
	f.mu.Lock()
	for i := range 10 {
		r := base
		r.RKey = fmt.Sprintf("3knew%04d", i)
		f.index = append(f.index, bskyView{rec: r, indexed: testNow.Add(time.Duration(i) * time.Second)})
	}
	f.mu.Unlock()
	restarted := newTestBluesky(t, bskyConfig(srv.URL), nil)
	res, err = restarted.Fetch(ctx, res.State)
	if err != nil {
		t.Fatal(err)
	}
	collect(res)
	if len(res.Posts) != 10 {
		t.Errorf("after restart: %d posts, want the 10 new", len(res.Posts))
	}
	if len(seen) != 260 {
		t.Errorf("%d distinct posts over three fetches, want 260 (no gap)", len(seen))
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("post %s delivered %d times", id, n)
		}
	}
}

func TestBlueskyRateLimited(t *testing.T) {
	t.Setenv("AFFINITYD_TEST_BSKY_PASSWORD", "app-pass-1234-abcd")
	recs := bskyCaptured(t, "capture_atprotocom.json")
	var index []bskyView
	for i, r := range recs {
		index = append(index, bskyView{rec: r, indexed: testNow.Add(-time.Duration(i+1) * time.Minute)})
	}
	queries := []Query{
		{Key: "topic:bridgy", Terms: []string{"Bridgy Fed"}},
		{Key: "topic:roadmap", Terms: []string{"roadmap"}},
	}
	limited := func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/xrpc/app.bsky.feed.searchPosts" && strings.Contains(r.URL.Query().Get("q"), "roadmap") {
			w.Header().Set("Retry-After", "120")
			w.Header().Set("RateLimit-Remaining", "0")
			xrpcError(w, 429, "RateLimitExceeded", "Rate Limit Exceeded")
			return true
		}
		return false
	}

	t.Run("every query limited", func(t *testing.T) {
		f, srv := newBskyServer(t, index)
		f.fault = limited
		src := newTestBluesky(t, bskyConfig(srv.URL), nil, queries[1])
		res, err := src.Fetch(context.Background(), affinity.SourceState{})
		fe := fetchErr(t, err)
		if fe.Reason != ReasonRateLimited || fe.RetryAfter != 120*time.Second {
			t.Errorf("reason %q retry after %v, want rate_limited 2m", fe.Reason, fe.RetryAfter)
		}
		if res.RateLimitRemaining != 0 {
			t.Errorf("RateLimitRemaining = %v, want 0", res.RateLimitRemaining)
		}
	})

	t.Run("second query limited", func(t *testing.T) {
		f, srv := newBskyServer(t, index)
		f.filter = true
		f.fault = limited
		src := newTestBluesky(t, bskyConfig(srv.URL), nil, queries...)
		res, err := src.Fetch(context.Background(), affinity.SourceState{})
		if err != nil {
			t.Fatalf("a partly limited fetch should deliver what it got: %v", err)
		}
		if len(res.Posts) != 3 {
			t.Errorf("%d posts, want the 3 naming Bridgy Fed", len(res.Posts))
		}
		c := DecodeCursors(res.State.Cursor)
		if _, ok := c["topic:roadmap"]; ok || c["topic:bridgy"] == "" {
			t.Errorf("cursors %v: the limited query must keep its old one", c)
		}
		if !res.State.NextCheck.Equal(testNow.Add(120*time.Second)) || res.More {
			t.Errorf("NextCheck %v More %v, want now+2m, false", res.State.NextCheck, res.More)
		}
	})
}

func TestBlueskyBadBodies(t *testing.T) {
	t.Setenv("AFFINITYD_TEST_BSKY_PASSWORD", "app-pass-1234-abcd")
	rec := bskyCaptured(t, "capture_atprotocom.json")[0]
	good, _ := json.Marshal(map[string]any{"posts": []bskyView{{rec: rec, indexed: testNow.Add(-time.Minute)}}})
	tests := []struct {
		name, contentType, body string
		status                  int
		reason, says            string
	}{
		{"html with 200", "text/html", "<!DOCTYPE html><html><body>Down for maintenance</body></html>", 200, ReasonParse, "an HTML page"},
		{"truncated", "application/json", string(good[:len(good)/2]), 200, ReasonParse, "invalid JSON"},
		{"not json", "text/plain", "upstream connect error", 200, ReasonParse, "not a JSON object"},
		{"no posts", "application/json", `{"cursor":"x"}`, 200, ReasonParse, "no posts array"},
		{"wrong shape", "application/json", `{"posts":{"uri":1}}`, 200, ReasonParse, "invalid JSON"},
		{"server error", "text/html", "<html>502</html>", 502, ReasonHTTP5xx, "status 502"},
		{"bad query", "application/json", `{"error":"BadQueryString","message":"unbalanced quotes"}`, 400, ReasonHTTP4xx, "BadQueryString: unbalanced quotes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newBskyServer(t, nil)
			f.fault = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/xrpc/app.bsky.feed.searchPosts" {
					return false
				}
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
				return true
			}
			src := newTestBluesky(t, bskyConfig(srv.URL), nil)
			_, err := src.Fetch(context.Background(), affinity.SourceState{})
			fe := fetchErr(t, err)
			if fe.Reason != tt.reason || !strings.Contains(err.Error(), tt.says) ||
				!strings.HasPrefix(err.Error(), `collector: bluesky "bsky": `+tt.reason) {
				t.Errorf("error %q (reason %s), want reason %s saying %q", err, fe.Reason, tt.reason, tt.says)
			}
		})
	}
}

func TestBlueskySkipsBrokenPosts(t *testing.T) {
	t.Setenv("AFFINITYD_TEST_BSKY_PASSWORD", "app-pass-1234-abcd")
	recs := bskyCaptured(t, "capture_atprotocom.json")
	index := []bskyView{
		{rec: recs[0], indexed: testNow.Add(-1 * time.Minute)},
		{rec: recs[1], indexed: testNow.Add(-2 * time.Minute), brokenURI: true},
		{rec: recs[2], indexed: testNow.Add(-3 * time.Minute), brokenRecord: true},
		{rec: recs[3], indexed: testNow.Add(-4 * time.Minute), handleOverride: "handle.invalid"},
	}
	_, srv := newBskyServer(t, index)
	src := newTestBluesky(t, bskyConfig(srv.URL), nil)
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Posts) != 2 || res.Skipped != 2 {
		t.Fatalf("%d posts %d skipped, want 2 and 2", len(res.Posts), res.Skipped)
	}
	p := bskyPostsByRKey(res.Posts)[recs[3].RKey]
	if p.Author != recs[3].DID || p.URL != "https://bsky.app/profile/"+recs[3].DID+"/post/"+recs[3].RKey {
		t.Errorf("an invalid handle should give way to the DID: %q %q", p.Author, p.URL)
	}
}

func TestNewBlueskyRejects(t *testing.T) {
	opts := Options{Client: testClient(time.Second)}
	tests := []struct {
		name string
		cfg  config.Source
		want string
	}{
		{"identifier only", config.Source{Name: "b", Identifier: "me.bsky.social"}, "app_password is not"},
		{"password only", config.Source{Name: "b", AppPassword: config.Secret{Env: "X"}}, "identifier is not"},
		{"bad url", config.Source{Name: "b", Identifier: "me", AppPassword: config.Secret{Env: "X"}, URL: "ftp://x"}, "not an http(s) URL"},
		{"bad jetstream", config.Source{Name: "b", Jetstream: "https://jetstream.example/subscribe"}, "not a ws(s):// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newBluesky(tt.cfg, opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), `collector: bluesky "b": `) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	src, err := newBluesky(config.Source{Name: "b"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	js, ok := src.(*jetstreamSource)
	if !ok || js.endpoint.String() != jetstreamDefaultURL || js.lookback != time.Hour {
		t.Errorf("without credentials: %T %+v, want Jetstream on the default URL", src, src)
	}
	if bs := newTestBluesky(t, bskyConfig(""), nil); bs.base != blueskyDefaultURL {
		t.Errorf("default base %q", bs.base)
	}
}
