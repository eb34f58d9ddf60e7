package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
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

// mastodonFixture is a real mastodon.social public timeline (20 statuses);
// the tag timeline serves the same Status entities.
const mastodonFixture = "../../shared/fixtures/posts/mastodon/timeline/public_timeline_mastodon.social_2020-04-16.json"

// mastodonNow is a few minutes after the fixture's newest status.
var mastodonNow = time.Date(2020, 4, 16, 17, 10, 0, 0, time.UTC)

type mastoRawStatus struct {
	id  uint64 // parsed on its own here, so the server does not share mastodonIDLess with the code under test
	raw json.RawMessage
}

func loadMastodonFixture(t *testing.T) []mastoRawStatus {
	t.Helper()
	b, err := os.ReadFile(mastodonFixture)
	if err != nil {
		t.Fatal(err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		t.Fatal(err)
	}
	out := make([]mastoRawStatus, len(raws))
	for i, r := range raws {
		var s struct{ ID string }
		if err := json.Unmarshal(r, &s); err != nil {
			t.Fatal(err)
		}
		id, err := strconv.ParseUint(s.ID, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = mastoRawStatus{id: id, raw: r}
	}
	return out
}

// mastoServer plays a Mastodon instance's tag timeline over a changing set
// of statuses, with min_id, max_id and limit as Mastodon applies them.
type mastoServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []mastoRawStatus
	requests []*http.Request
	// before may answer a request itself (return true) or add headers.
	before func(w http.ResponseWriter, r *http.Request) bool
}

func newMastoServer(t *testing.T, statuses []mastoRawStatus) *mastoServer {
	t.Helper()
	m := &mastoServer{statuses: slices.Clone(statuses)}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

func (m *mastoServer) add(s ...mastoRawStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.statuses = append(m.statuses, s...)
}

func (m *mastoServer) reqs() []*http.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.requests)
}

func (m *mastoServer) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.requests = append(m.requests, r)
	before := m.before
	all := slices.Clone(m.statuses)
	m.mu.Unlock()
	if before != nil && before(w, r) {
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/api/v1/timelines/tag/") {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	limit := 20
	if l, err := strconv.Atoi(q.Get("limit")); err == nil {
		limit = min(l, 40)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id > all[j].id }) // newest first
	var page []mastoRawStatus
	switch {
	case q.Get("min_id") != "":
		// The statuses immediately after min_id, still served newest first.
		minID, _ := strconv.ParseUint(q.Get("min_id"), 10, 64)
		for i := len(all) - 1; i >= 0 && len(page) < limit; i-- {
			if all[i].id > minID {
				page = append(page, all[i])
			}
		}
		slices.Reverse(page)
	case q.Get("max_id") != "":
		maxID, _ := strconv.ParseUint(q.Get("max_id"), 10, 64)
		for _, s := range all {
			if s.id < maxID && len(page) < limit {
				page = append(page, s)
			}
		}
	default:
		page = all[:min(limit, len(all))]
	}
	raws := make([]json.RawMessage, len(page))
	for i, s := range page {
		raws[i] = s.raw
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(raws)
}

type mastoOpt func(*mastodonSource)

func newTestMastodon(t *testing.T, cfg config.Source, queries []Query, logger *slog.Logger, opts ...mastoOpt) *mastodonSource {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "social"
	}
	src, err := newMastodon(cfg, Options{Client: apiTestClient(), Logger: logger, Queries: queries,
		Now: func() time.Time { return mastodonNow }})
	if err != nil {
		t.Fatal(err)
	}
	m := src.(*mastodonSource)
	for _, o := range opts {
		o(m)
	}
	return m
}

func mastoPages(limit, maxPages int) mastoOpt {
	return func(m *mastodonSource) { m.limit, m.maxPages = limit, maxPages }
}

// fediLogBuffer collects log lines from concurrent goroutines.
type fediLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *fediLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *fediLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func fediTestLogger() (*slog.Logger, *fediLogBuffer) {
	b := &fediLogBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func fediPostIDs(posts []affinity.Post) []string {
	out := make([]string, len(posts))
	for i, p := range posts {
		out[i] = p.ID
	}
	return out
}

func TestMastodonFixture(t *testing.T) {
	srv := newMastoServer(t, loadMastodonFixture(t))
	src := newTestMastodon(t, config.Source{Instances: []string{srv.URL + "/"}, Tags: []string{"#News"}, Format: "network"}, nil, nil)
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}

	// Every status, in the order served: id (the ActivityPub uri), author,
	// language, publication time and engagement from the fixture.
	type row struct{ id, author, lang, published string }
	want := []row{
		{"https://friendica.chilemasto.casa/objects/e7f1d4da94e7709966bfc900101aebf181299505", "elmostrador@friendica.chilemasto.casa", "es", "2020-04-16T16:45:08Z"},
		{"https://mastodon.social/users/interneteh/statuses/104009345963987537", "interneteh@127.0.0.1", "en", "2020-04-16T17:04:30.664Z"},
		{"https://botsin.space/users/lesbianBot/statuses/104009341910012113", "lesbianBot@botsin.space", "fr", "2020-04-16T17:03:28Z"},
		{"https://mastodon.technology/users/ketmorco/statuses/104009345806182311", "ketmorco@mastodon.technology", "nl", "2020-04-16T17:04:28Z"},
		{"https://friendica.chilemasto.casa/objects/e7f1d4da5325a30e1fcf2516f51a811b1b32bd2d", "elmostrador@friendica.chilemasto.casa", "es", "2020-04-16T16:40:00Z"},
		{"https://kaptains.net/users/rio/statuses/104009345526101446", "rio@kaptains.net", "de", "2020-04-16T17:04:23Z"},
		{"https://mstdn.sasachi.tokyo/users/sasachi/statuses/104009345393845232", "sasachi@mstdn.sasachi.tokyo", "ja", "2020-04-16T17:04:21Z"},
		{"https://botsin.space/users/screenmunger/statuses/104009339627859846", "screenmunger@botsin.space", "en", "2020-04-16T17:02:53Z"},
		{"https://botsin.space/users/not_realdonaldtrump/statuses/104009341873257283", "not_realdonaldtrump@botsin.space", "en", "2020-04-16T17:03:28Z"},
		{"https://cybre.space/users/rick_777/statuses/104009344123431312", "rick_777@cybre.space", "en", "2020-04-16T17:04:02Z"},
		{"https://pawoo.net/users/KagamiNoMiyato/statuses/104009345469715462", "KagamiNoMiyato@pawoo.net", "zh", "2020-04-16T17:04:23Z"},
		{"https://pawoo.net/users/Heibonn_hiroro/statuses/104009345448989482", "Heibonn_hiroro@pawoo.net", "", "2020-04-16T17:04:22Z"},
		{"https://botsin.space/users/horacat/statuses/104009340318809464", "horacat@botsin.space", "ca", "2020-04-16T17:03:04Z"},
		{"https://mastodon.cloud/users/locuritis/statuses/104009345232015948", "locuritis@mastodon.cloud", "es", "2020-04-16T17:04:19Z"},
		{"https://botsin.space/users/TommyWestphall/statuses/104009336855909168", "TommyWestphall@botsin.space", "en", "2020-04-16T17:02:11Z"},
		{"https://botsin.space/users/tmnt/statuses/104009336658127424", "tmnt@botsin.space", "en", "2020-04-16T17:02:08Z"},
		{"https://pokemon.men/users/flutter/statuses/104008961178835337", "flutter@pokemon.men", "da", "2020-04-16T15:26:39Z"},
		{"https://friendica.chilemasto.casa/objects/e7f1d4dac929e3c7434372b389b93d9a52139447", "eregionalista@friendica.chilemasto.casa", "es", "2020-04-16T16:46:05Z"},
		{"https://wug.fun/users/theoria/statuses/104009344926088178", "theoria@wug.fun", "ja", "2020-04-16T17:04:14Z"},
		{"https://loma.ml/objects/373ebf56-155e-9890-0e13-0bd795210214", "mikel65@loma.ml", "de", "2020-04-16T17:04:14Z"},
	}
	if len(res.Posts) != len(want) {
		t.Fatalf("%d posts, want %d: %v", len(res.Posts), len(want), fediPostIDs(res.Posts))
	}
	for i, w := range want {
		p := res.Posts[i]
		got := row{p.ID, p.Author, p.Language, p.Published.Format(time.RFC3339Nano)}
		if got != w {
			t.Errorf("post %d = %+v, want %+v", i, got, w)
		}
		if p.Source != "social" || p.Format != affinity.FormatNetwork || !p.Collected.Equal(mastodonNow) {
			t.Errorf("post %d: source %q format %q collected %v", i, p.Source, p.Format, p.Collected)
		}
		if p.Engagement != (affinity.Engagement{}) { // every status of this snapshot is fresh: 0/0/0
			t.Errorf("post %d engagement %+v", i, p.Engagement)
		}
	}
	// Whole posts where the fixture has something to show: a plain one with
	// url != uri, a local account, and a content warning put in front of the text.
	full := map[int]affinity.Post{
		2: {Source: "social", ID: "https://botsin.space/users/lesbianBot/statuses/104009341910012113",
			URL: "https://botsin.space/@lesbianBot/104009341910012113", Author: "lesbianBot@botsin.space",
			Published: time.Date(2020, 4, 16, 17, 3, 28, 0, time.UTC), Collected: mastodonNow, Language: "fr",
			Text: "<p>icky lesbian</p>", Format: affinity.FormatNetwork},
		11: {Source: "social", ID: "https://pawoo.net/users/Heibonn_hiroro/statuses/104009345448989482",
			URL: "https://pawoo.net/@Heibonn_hiroro/104009345448989482", Author: "Heibonn_hiroro@pawoo.net",
			Published: time.Date(2020, 4, 16, 17, 4, 22, 0, time.UTC), Collected: mastodonNow,
			Text: "<p>百合</p>", Format: affinity.FormatNetwork},
	}
	for i, w := range full {
		if res.Posts[i] != w {
			t.Errorf("post %d =\n%+v\nwant\n%+v", i, res.Posts[i], w)
		}
	}
	if p := res.Posts[1]; p.URL != "https://mastodon.social/@interneteh/104009345963987537" {
		t.Errorf("local status URL %q", p.URL)
	}
	if txt := res.Posts[9].Text; !strings.HasPrefix(txt, "<p>Karen meme explained</p><p>Of course the meme had to be in the knowyourmeme site.</p>") {
		t.Errorf("spoiler text not in front: %.80q", txt)
	}

	host := srv.URL
	if got, want := res.State.Cursor, `{"`+host+`|news":"104009345973121628"}`; got != want {
		t.Errorf("cursor %s, want %s", got, want)
	}
	if res.More || res.RateLimitRemaining != -1 || res.Skipped != 0 || res.State.Source != "social" {
		t.Errorf("result %+v", res)
	}
	reqs := srv.reqs()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if got := reqs[0].URL.String(); got != "/api/v1/timelines/tag/news?limit=40" {
		t.Errorf("request %s", got)
	}
	if reqs[0].Header.Get("Authorization") != "" || reqs[0].Header.Get("Accept") != "application/json" {
		t.Errorf("headers %v", reqs[0].Header)
	}
}

// TestMastodonPaging follows min_id over several fetches and a restart: every
// status is delivered exactly once, none is skipped.
func TestMastodonPaging(t *testing.T) {
	all := loadMastodonFixture(t)
	byAge := slices.Clone(all)
	sort.Slice(byAge, func(i, j int) bool { return byAge[i].id < byAge[j].id })
	uri := map[uint64]string{}
	for _, s := range all {
		var st struct{ URI string }
		_ = json.Unmarshal(s.raw, &st)
		uri[s.id] = st.URI
	}
	idsOf := func(ss []mastoRawStatus) []string {
		var out []string
		for _, s := range ss {
			out = append(out, uri[s.id])
		}
		return out
	}
	a, b, c := byAge[:7], byAge[7:15], byAge[15:]

	srv := newMastoServer(t, a)
	cfg := config.Source{Instances: []string{srv.URL}, Tags: []string{"news"}, Lookback: model.Duration(24 * time.Hour)}
	src := newTestMastodon(t, cfg, nil, nil, mastoPages(5, 3))
	seen := map[string]int{}
	fetch := func(src Source, state affinity.SourceState, wantMore bool, want []mastoRawStatus) affinity.SourceState {
		t.Helper()
		res, err := src.Fetch(context.Background(), state)
		if err != nil {
			t.Fatal(err)
		}
		if res.More != wantMore {
			t.Errorf("More = %v, want %v", res.More, wantMore)
		}
		got := fediPostIDs(res.Posts)
		sort.Strings(got)
		w := idsOf(want)
		sort.Strings(w)
		if !slices.Equal(got, w) {
			t.Errorf("posts\n%v\nwant\n%v", got, w)
		}
		for _, id := range got {
			seen[id]++
		}
		return res.State
	}
	// First run: newest page, then back with max_id until a short page.
	st := fetch(src, affinity.SourceState{}, false, a)
	srv.add(b...)
	// Second run: forward from the cursor with min_id.
	st = fetch(src, st, false, b)
	srv.add(c...)
	// Restart: a new source with smaller pages, fed the saved state. Its page
	// bound stops it mid-way (More), the next fetch delivers the rest.
	src2 := newTestMastodon(t, cfg, nil, nil, mastoPages(3, 1))
	st = fetch(src2, st, true, c[:3])
	st = fetch(src2, st, false, c[3:])
	st = fetch(src2, st, false, nil)

	for _, s := range all {
		if n := seen[uri[s.id]]; n != 1 {
			t.Errorf("%s delivered %d times", uri[s.id], n)
		}
	}
	var q []string
	for _, r := range srv.reqs() {
		q = append(q, r.URL.RawQuery)
	}
	id := func(s mastoRawStatus) string { return strconv.FormatUint(s.id, 10) }
	wantQ := []string{
		"limit=5", "limit=5&max_id=" + id(a[2]), // first run: 5 then the 2 older
		"limit=5&min_id=" + id(a[6]), "limit=5&min_id=" + id(b[4]), // b: 5 then 3
		"limit=3&min_id=" + id(b[7]), // restart: 3 of c, bound reached
		"limit=3&min_id=" + id(c[2]), // the other 2
		"limit=3&min_id=" + id(c[4]), // nothing new: an empty page
	}
	if !slices.Equal(q, wantQ) {
		t.Errorf("requests\n%v\nwant\n%v", q, wantQ)
	}
	if want := `{"` + srv.URL + `|news":"` + id(c[4]) + `"}`; st.Cursor != want {
		t.Errorf("cursor %s, want %s", st.Cursor, want)
	}
}

func TestMastodonLookback(t *testing.T) {
	// The look-back ends at 16:45: the statuses of 15:26:39 and 16:40:00
	// are older; 16:45:08 and 16:46:05 (late arrivals, ids out of time
	// order) are kept.
	older := []string{
		"https://friendica.chilemasto.casa/objects/e7f1d4da5325a30e1fcf2516f51a811b1b32bd2d",
		"https://pokemon.men/users/flutter/statuses/104008961178835337",
	}
	for _, tc := range []struct {
		name            string
		limit, maxPages int
		requests        int
	}{
		{"one page", 40, 5, 1},
		{"walking back with max_id", 5, 5, 5}, // 4 full pages, then an empty one
		{"bounded backfill", 5, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newMastoServer(t, loadMastodonFixture(t))
			src := newTestMastodon(t, config.Source{Instances: []string{srv.URL}, Tags: []string{"news"},
				Lookback: model.Duration(25 * time.Minute)}, nil, nil, mastoPages(tc.limit, tc.maxPages))
			res, err := src.Fetch(context.Background(), affinity.SourceState{})
			if err != nil {
				t.Fatal(err)
			}
			want := 18
			if tc.maxPages*tc.limit < 20 {
				want = tc.maxPages*tc.limit - 1 // the 16:40 status is among the first 10
			}
			if len(res.Posts) != want {
				t.Errorf("%d posts, want %d", len(res.Posts), want)
			}
			for _, p := range res.Posts {
				if slices.Contains(older, p.ID) || p.Published.Before(mastodonNow.Add(-25*time.Minute)) {
					t.Errorf("post older than the look-back: %s %v", p.ID, p.Published)
				}
			}
			if n := len(srv.reqs()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			// The cursor is the newest id, whatever the look-back dropped.
			if !strings.Contains(res.State.Cursor, `"104009345973121628"`) {
				t.Errorf("cursor %s", res.State.Cursor)
			}
		})
	}
}

func TestMastodonToken(t *testing.T) {
	const secret = "s3cr3t-t0ken-value"
	t.Setenv("AFFINITYD_TEST_MASTODON_TOKEN", secret)
	good := newMastoServer(t, loadMastodonFixture(t))
	good.before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer "+secret {
			http.Error(w, `{"error":"The access token is invalid"}`, http.StatusUnauthorized)
			return true
		}
		return false
	}
	closed := newMastoServer(t, nil)
	closed.before = func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, `{"error":"The access token is invalid"}`, http.StatusUnauthorized)
		return true
	}
	logger, logs := fediTestLogger()
	src := newTestMastodon(t, config.Source{Instances: []string{good.URL, closed.URL}, Tags: []string{"news"},
		Token: config.Secret{Env: "AFFINITYD_TEST_MASTODON_TOKEN"}}, nil, logger)
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Posts) != 20 {
		t.Errorf("%d posts, want 20", len(res.Posts))
	}
	for _, r := range append(good.reqs(), closed.reqs()...) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+secret {
			t.Errorf("Authorization %q", got)
		}
	}
	if !strings.Contains(logs.String(), "rejected the configured token") {
		t.Errorf("no warning about the rejected token:\n%s", logs)
	}

	// Every instance rejecting: the error explains, and never shows the token.
	src = newTestMastodon(t, config.Source{Instances: []string{closed.URL}, Tags: []string{"news"},
		Token: config.Secret{Env: "AFFINITYD_TEST_MASTODON_TOKEN"}}, nil, logger)
	_, err = src.Fetch(context.Background(), affinity.SourceState{})
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
		t.Errorf("error %v / logs leak or miss: %s", err, logs)
	}

	// A token that cannot be read fails construction, naming the variable only.
	t.Setenv("AFFINITYD_TEST_MASTODON_TOKEN", "")
	_, err = newMastodon(config.Source{Name: "social", Instances: []string{good.URL}, Tags: []string{"x"},
		Token: config.Secret{Env: "AFFINITYD_TEST_MASTODON_TOKEN"}}, Options{Client: apiTestClient()})
	if err == nil || !strings.Contains(err.Error(), `collector: mastodon "social": token: environment variable AFFINITYD_TEST_MASTODON_TOKEN is not set`) {
		t.Errorf("error %v", err)
	}
	// From a file as well.
	file := t.TempDir() + "/token"
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src = newTestMastodon(t, config.Source{Instances: []string{good.URL}, Tags: []string{"news"},
		Token: config.Secret{File: file}}, nil, nil)
	if _, err := src.Fetch(context.Background(), affinity.SourceState{}); err != nil {
		t.Errorf("token from file: %v", err)
	}
}

func TestMastodonFailures(t *testing.T) {
	fixture, err := os.ReadFile(mastodonFixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		handle     http.HandlerFunc
		reason     string
		contains   []string
		retryAfter time.Duration
	}{
		{
			name: "401 without a token",
			handle: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"error":"This API requires an authenticated user"}`)
			},
			reason: ReasonHTTP4xx,
			contains: []string{`collector: mastodon "social": http_4xx: GET `, "status 401 Unauthorized",
				`server said "This API requires an authenticated user"`,
				"requires an access token for tag timelines (Mastodon 4.5+ may disable public timelines)"},
		},
		{
			name: "429 with Retry-After",
			handle: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "120")
				w.Header().Set("X-RateLimit-Limit", "300")
				w.Header().Set("X-RateLimit-Remaining", "0")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			reason: ReasonRateLimited, retryAfter: 2 * time.Minute,
			contains: []string{"status 429 Too Many Requests"},
		},
		{
			name:     "503",
			handle:   func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) },
			reason:   ReasonHTTP5xx,
			contains: []string{"status 503"},
		},
		{
			name: "malformed JSON",
			handle: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, `[{"id": "1", "uri": }]`)
			},
			reason:   ReasonParse,
			contains: []string{`collector: mastodon "social": parse: `, "/api/v1/timelines/tag/news?limit=40: invalid JSON"},
		},
		{
			name: "HTML page with 200",
			handle: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = io.WriteString(w, "<!DOCTYPE html>\n<html><body><h1>We'll be back soon</h1></body></html>")
			},
			reason:   ReasonParse,
			contains: []string{`not a JSON array (Content-Type "text/html; charset=utf-8", body starts "<!DOCTYPE html>\n<html><body><h1>We'll be…")`},
		},
		{
			name:     "body cut in half",
			handle:   func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(fixture[:len(fixture)/2]) },
			reason:   ReasonParse,
			contains: []string{"invalid JSON (35884 bytes): unexpected end of JSON input"},
		},
		{
			name: "connection dropped mid-body",
			handle: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(fixture)))
				_, _ = w.Write(fixture[:len(fixture)/2])
				panic(http.ErrAbortHandler) // close without finishing the declared length
			},
			reason:   ReasonRead,
			contains: []string{"reading body: unexpected EOF"},
		},
		{
			name:     "an object where the list belongs",
			handle:   func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"error":"Record not found"}`) },
			reason:   ReasonParse,
			contains: []string{`not a JSON array`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handle)
			defer srv.Close()
			src := newTestMastodon(t, config.Source{Instances: []string{srv.URL}, Tags: []string{"news"}}, nil, nil)
			state := affinity.SourceState{Cursor: ""}
			res, err := src.Fetch(context.Background(), state)
			fe := fetchErr(t, err)
			if fe.Reason != tc.reason || ReasonOf(err) != tc.reason {
				t.Errorf("reason %q, want %q (%v)", fe.Reason, tc.reason, err)
			}
			if fe.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter %v, want %v", fe.RetryAfter, tc.retryAfter)
			}
			for _, c := range tc.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("error %q\nlacks %q", err, c)
				}
			}
			if len(res.Posts) != 0 || res.State.Cursor != "" {
				t.Errorf("failed fetch gave %d posts, cursor %q", len(res.Posts), res.State.Cursor)
			}
		})
	}
}

// TestMastodonInstances: one instance down, one showing the same statuses as
// another; the down one's cursor is kept and its failure logged, the rest is
// delivered once.
func TestMastodonInstances(t *testing.T) {
	fixture := loadMastodonFixture(t)
	a := newMastoServer(t, fixture)
	b := newMastoServer(t, fixture)
	down := newMastoServer(t, nil)
	down.before = func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	}
	logger, logs := fediTestLogger()
	src := newTestMastodon(t, config.Source{Instances: []string{a.URL, down.URL, b.URL},
		Tags: []string{"news", "tech"}}, nil, logger)
	prev := Cursors{down.URL + "|news": "104000000000000000"}
	res, err := src.Fetch(context.Background(), affinity.SourceState{Cursor: prev.Encode()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Posts) != 20 {
		t.Errorf("%d posts, want the 20 distinct ones", len(res.Posts))
	}
	if res.Posts[1].Author != "interneteh@127.0.0.1" {
		t.Errorf("author %q", res.Posts[1].Author)
	}
	got := DecodeCursors(res.State.Cursor)
	want := Cursors{
		a.URL + "|news": "104009345973121628", a.URL + "|tech": "104009345973121628",
		b.URL + "|news": "104009345973121628", b.URL + "|tech": "104009345973121628",
		down.URL + "|news": "104000000000000000",
	}
	if got.Encode() != want.Encode() {
		t.Errorf("cursors\n%s\nwant\n%s", got.Encode(), want.Encode())
	}
	if n := len(down.reqs()); n != 1 {
		t.Errorf("down instance asked %d times, want 1 (no second tag after a 5xx)", n)
	}
	l := logs.String()
	if !strings.Contains(l, `level=WARN msg="instance failed" instance=`+down.URL+" tag=news reason=http_5xx") {
		t.Errorf("no warning for the failed instance:\n%s", l)
	}

	// Every instance down: one error naming each failure.
	src = newTestMastodon(t, config.Source{Instances: []string{down.URL, "http://127.0.0.1:1"}, Tags: []string{"news"}}, nil, nil)
	_, err = src.Fetch(context.Background(), affinity.SourceState{})
	fe := fetchErr(t, err)
	if fe.Reason != ReasonHTTP5xx || !strings.Contains(err.Error(), "all 2 requests failed: http_5xx: GET "+down.URL) ||
		!strings.Contains(err.Error(), "; connect: GET http://127.0.0.1:1/api/v1/timelines/tag/news") {
		t.Errorf("error %v", err)
	}
	var parts fediErrors
	if !errors.As(err, &parts) || len(parts) != 2 || ReasonOf(parts[1]) != ReasonConnect {
		t.Errorf("parts of %v", err)
	}
}

func TestMastodonRateLimitHeaders(t *testing.T) {
	reset := "2020-04-16T17:15:00.000Z"
	for _, tc := range []struct {
		name      string
		remaining []string // per request
		want      float64
		nextCheck time.Time
		requests  int
	}{
		{"plenty left", []string{"250", "249"}, 249, time.Time{}, 2},
		{"below 5 percent", []string{"14", "13"}, 14, time.Date(2020, 4, 16, 17, 15, 0, 0, time.UTC), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newMastoServer(t, loadMastodonFixture(t))
			n := 0
			srv.before = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("X-RateLimit-Limit", "300")
				w.Header().Set("X-RateLimit-Remaining", tc.remaining[min(n, len(tc.remaining)-1)])
				w.Header().Set("X-RateLimit-Reset", reset)
				n++
				return false
			}
			src := newTestMastodon(t, config.Source{Instances: []string{srv.URL}, Tags: []string{"news", "tech"}},
				nil, nil, mastoPages(40, 5))
			res, err := src.Fetch(context.Background(), affinity.SourceState{})
			if err != nil {
				t.Fatal(err)
			}
			if res.RateLimitRemaining != tc.want {
				t.Errorf("RateLimitRemaining %v, want %v", res.RateLimitRemaining, tc.want)
			}
			if !res.State.NextCheck.Equal(tc.nextCheck) || res.More {
				t.Errorf("NextCheck %v More %v, want %v", res.State.NextCheck, res.More, tc.nextCheck)
			}
			if got := len(srv.reqs()); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
		})
	}

	// One instance rate-limited, another fine: the posts come, the source
	// waits for the Retry-After before asking again.
	ok := newMastoServer(t, loadMastodonFixture(t))
	limited := newMastoServer(t, nil)
	limited.before = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "90")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}
	src := newTestMastodon(t, config.Source{Instances: []string{ok.URL, limited.URL}, Tags: []string{"news"}}, nil, nil)
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil || len(res.Posts) != 20 || !res.State.NextCheck.Equal(mastodonNow.Add(90*time.Second)) {
		t.Errorf("err %v, %d posts, NextCheck %v", err, len(res.Posts), res.State.NextCheck)
	}
}

func TestMastodonEmptyTimelineLoggedOnce(t *testing.T) {
	srv := newMastoServer(t, nil)
	logger, logs := fediTestLogger()
	src := newTestMastodon(t, config.Source{Instances: []string{srv.URL}, Tags: []string{"news"}}, nil, logger)
	for range 3 {
		res, err := src.Fetch(context.Background(), affinity.SourceState{})
		if err != nil || len(res.Posts) != 0 || res.State.Cursor != "" {
			t.Fatalf("err %v, %d posts, cursor %q", err, len(res.Posts), res.State.Cursor)
		}
	}
	if n := strings.Count(logs.String(), `level=INFO msg="mastodon tag timeline empty"`); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs)
	}
}

func TestMastodonReblog(t *testing.T) {
	body := `[{"id":"110000000000000002","uri":"https://a.example/users/x/statuses/2/activity","url":null,
		"created_at":"2020-04-16T17:00:00.000Z","language":null,"content":"","spoiler_text":"",
		"replies_count":0,"reblogs_count":0,"favourites_count":0,"account":{"acct":"booster"},
		"reblog":{"id":"109000000000000001","uri":"https://b.example/users/orig/statuses/1",
		"url":"https://b.example/@orig/1","created_at":"2020-04-16T16:59:00.000Z","language":"en",
		"content":"<p>hello &amp; welcome</p>","spoiler_text":"cw: <tests>","replies_count":3,
		"reblogs_count":5,"favourites_count":7,"account":{"acct":"orig@b.example"},"reblog":null}},
		{"id":"9","uri":"","account":{"acct":"nobody"}},
		{"uri":"https://c.example/no-id"}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) }))
	defer srv.Close()
	src := newTestMastodon(t, config.Source{Instances: []string{srv.URL}, Tags: []string{"news"}}, nil, nil)
	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	want := []affinity.Post{{Source: "social", ID: "https://b.example/users/orig/statuses/1", URL: "https://b.example/@orig/1",
		Author: "orig@b.example", Published: time.Date(2020, 4, 16, 16, 59, 0, 0, time.UTC), Collected: mastodonNow,
		Language: "en", Text: "<p>cw: &lt;tests&gt;</p><p>hello &amp; welcome</p>",
		Engagement: affinity.Engagement{Likes: 7, Reposts: 5, Replies: 3}, Format: affinity.FormatNetwork}}
	if !slices.Equal(res.Posts, want) {
		t.Errorf("posts\n%+v\nwant\n%+v", res.Posts, want)
	}
	if res.Skipped != 2 {
		t.Errorf("Skipped %d, want 2 (no uri, no id)", res.Skipped)
	}
	// The timeline's own id moves the cursor, compared as a number: "9" is older.
	if !strings.Contains(res.State.Cursor, `"110000000000000002"`) {
		t.Errorf("cursor %s", res.State.Cursor)
	}
}

func TestMastodonTags(t *testing.T) {
	queries := []Query{
		{Key: "topic:support", Terms: []string{"customer service", "Customer-Service", "help desk", "#Support!", "---", "Kundenservice", "カスタマー サービス"}},
		{Key: "brand:acme", Terms: []string{"ACME Corp.", "e_commerce"}},
	}
	srv := newMastoServer(t, nil)
	src := newTestMastodon(t, config.Source{Instances: []string{srv.URL}}, queries, nil)
	want := []string{"customerservice", "helpdesk", "support", "kundenservice", "カスタマーサービス", "acmecorp", "e_commerce"}
	if !slices.Equal(src.tags, want) {
		t.Errorf("tags %q, want %q", src.tags, want)
	}
	if _, err := src.Fetch(context.Background(), affinity.SourceState{}); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range srv.reqs() {
		paths = append(paths, r.URL.EscapedPath())
	}
	if len(paths) != len(want) || paths[4] != "/api/v1/timelines/tag/"+url.PathEscape("カスタマーサービス") {
		t.Errorf("paths %q", paths)
	}

	configured := newTestMastodon(t, config.Source{Instances: []string{"mastodon.social"}, Tags: []string{"#News", "news", "Tech"}}, queries, nil)
	if !slices.Equal(configured.tags, []string{"news", "tech"}) || configured.instances[0] != "https://mastodon.social" {
		t.Errorf("tags %q instances %q", configured.tags, configured.instances)
	}

	for _, tc := range []struct {
		cfg     config.Source
		queries []Query
		want    string
	}{
		{config.Source{Name: "m", Instances: []string{"https://x.example"}}, nil, `collector: mastodon "m": no tags: set tags, or give the topics terms to derive them from`},
		{config.Source{Name: "m", Instances: []string{"https://x.example"}, Tags: []string{"#!"}}, nil, `collector: mastodon "m": tag "#!" has no letters or digits`},
		{config.Source{Name: "m", Tags: []string{"a"}}, nil, `collector: mastodon "m": no instances configured`},
		{config.Source{Name: "m", Instances: []string{"ftp://x.example"}, Tags: []string{"a"}}, nil, `collector: mastodon "m": instance "ftp://x.example" is not an http(s) base URL`},
	} {
		if _, err := newMastodon(tc.cfg, Options{Client: apiTestClient(), Queries: tc.queries}); err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %s", err, tc.want)
		}
	}
}

func TestMastodonIDLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"9", "10", true}, // as strings "9" > "10"
		{"10", "9", false},
		{"104009345973121628", "104009345963987537", false},
		{"104009345963987537", "104009345973121628", true},
		{"99999999999999999", "100000000000000000", true},
		{"5", "5", false},
		{"007", "8", true},
	} {
		if got := mastodonIDLess(tc.a, tc.b); got != tc.want {
			t.Errorf("mastodonIDLess(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// TestMastodonBadStatusCursorAdvances: a status that does not decode is
// skipped, and min_id still moves past it; were it not, every later fetch
// would ask for the same page and stop on the same status for ever.
func TestMastodonBadStatusCursorAdvances(t *testing.T) {
	var mu sync.Mutex
	var minIDs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		minIDs = append(minIDs, r.URL.Query().Get("min_id"))
		mu.Unlock()
		if r.URL.Query().Get("min_id") != "100" {
			_, _ = io.WriteString(w, "[]")
			return
		}
		// Newest first: the newest status has a wrong-typed count.
		_, _ = io.WriteString(w, `[{"id":"103","uri":"https://m.example/s/103","favourites_count":{"n":1}},
			{"id":"102","uri":"https://m.example/s/102","created_at":"2020-04-16T17:00:00Z","favourites_count":7}]`)
	}))
	defer srv.Close()
	src := newTestMastodon(t, config.Source{Instances: []string{srv.URL}, Tags: []string{"news"}}, nil, nil)
	key := srv.URL + "|news"
	res, err := src.Fetch(context.Background(), affinity.SourceState{Cursor: Cursors{key: "100"}.Encode()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Posts) != 1 || res.Posts[0].ID != "https://m.example/s/102" || res.Posts[0].Engagement.Likes != 7 || res.Skipped != 1 {
		t.Fatalf("posts %+v, skipped %d; want status 102 only, 1 skipped", res.Posts, res.Skipped)
	}
	if got := DecodeCursors(res.State.Cursor)[key]; got != "103" {
		t.Fatalf("cursor %q, want 103 (past the bad status)", got)
	}
	res, err = src.Fetch(context.Background(), res.State)
	if err != nil || len(res.Posts) != 0 || res.Skipped != 0 {
		t.Fatalf("second fetch: %d posts, %d skipped, %v; want nothing new", len(res.Posts), res.Skipped, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(minIDs, []string{"100", "103"}) {
		t.Errorf("min_id asked %v, want [100 103]", minIDs)
	}
}
