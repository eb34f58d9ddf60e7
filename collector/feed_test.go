package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

var testNow = time.Date(2026, 11, 12, 10, 0, 0, 0, time.UTC)

func newTestFeed(t *testing.T, url string, client *Client) Source {
	t.Helper()
	src, err := Kinds["feed"](config.Source{Name: "news", Kind: "feed", URL: url, Format: "audience"},
		Options{Client: client, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// serveFile serves path with validators and answers 304 when they match.
func serveFile(t *testing.T, path, contentType string) (*httptest.Server, *int) {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const etag = `W/"abc"`
	const lastMod = "Tue, 12 Mar 2024 05:30:27 GMT"
	hits := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*hits++
		if ua := r.Header.Get("User-Agent"); ua != "affinityd/1.2.3 (+https://github.com/affinityd/affinityd)" {
			t.Errorf("User-Agent %q", ua)
		}
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lastMod)
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

func TestFeedFetchAndNotModified(t *testing.T) {
	path := filepath.Join(fixtures, "wellformed", "miniflux-realworld", "small_atom.xml")
	srv, hits := serveFile(t, path, "application/atom+xml; charset=utf-8")
	src := newTestFeed(t, srv.URL+"/commits/main.atom", testClient(5*time.Second))
	if src.Name() != "news" {
		t.Errorf("Name() = %q", src.Name())
	}
	state := affinity.SourceState{Source: "news", Cursor: "kept"}

	res, err := src.Fetch(context.Background(), state)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if want := countItems(t, raw); len(res.Posts) != want {
		t.Fatalf("%d posts, want %d", len(res.Posts), want)
	}
	commit := func(sha string) string { return "tag:github.com,2008:Grit::Commit/" + sha }
	want := []affinity.Post{
		{
			Source: "news", ID: commit("6d97f8b4582414b6ce69467656824690057d4793"),
			URL:    "https://github.com/miniflux/v2/commit/6d97f8b4582414b6ce69467656824690057d4793",
			Author: "fguillot", Published: time.Date(2024, 3, 12, 5, 30, 27, 0, time.UTC),
			Collected: testNow, Language: "en-US", Title: "Parse podcast categories",
			Format: affinity.FormatAudience,
		},
		{
			Source: "news", ID: commit("f8e50947f2885047155a8070dddab133a5c685c2"),
			URL:    "https://github.com/miniflux/v2/commit/f8e50947f2885047155a8070dddab133a5c685c2",
			Author: "fguillot", Published: time.Date(2024, 3, 12, 5, 9, 31, 0, time.UTC),
			Collected: testNow, Language: "en-US", Title: "Move iTunes and GooglePlay XML definitions to their own packages",
			Format: affinity.FormatAudience,
		},
	}
	for i, w := range want {
		got := res.Posts[i]
		if !strings.Contains(got.Text, "white-space:pre-wrap") {
			t.Errorf("post %d text %q: want the entry's HTML content", i, got.Text)
		}
		got.Text = ""
		if got != w {
			t.Errorf("post %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
	if res.RateLimitRemaining != -1 || res.NotModified || res.More {
		t.Errorf("result flags: %+v", res)
	}
	wantState := affinity.SourceState{Source: "news", Cursor: "kept", ETag: `W/"abc"`, LastModified: "Tue, 12 Mar 2024 05:30:27 GMT"}
	if res.State != wantState {
		t.Errorf("state %+v, want %+v", res.State, wantState)
	}

	again, err := src.Fetch(context.Background(), res.State)
	if err != nil {
		t.Fatal(err)
	}
	if !again.NotModified || len(again.Posts) != 0 || again.State != res.State {
		t.Errorf("second fetch: %+v, want NotModified with the same state", again)
	}
	if *hits != 2 {
		t.Errorf("%d requests, want 2", *hits)
	}
}

func TestFeedItemFallbacks(t *testing.T) {
	srv, _ := serveFile(t, "testdata/fallbacks.rss", "application/rss+xml")
	res, err := newTestFeed(t, srv.URL+"/feeds/fallbacks.rss", testClient(5*time.Second)).Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("Weder GUID noch Link\x00Wed, 11 Nov 2026 09:30:00 GMT\x00Dritter"))
	want := []struct {
		id, url, author, title, text string
		published                    time.Time
	}{
		{"post-1", "https://blog.example.org/news/1", "Lena Müller", "Mit GUID", "<p>Lang <b>und</b> fett</p>",
			time.Date(2026, 11, 10, 7, 0, 0, 0, time.UTC)},
		{"https://blog.example.org/news/2", "https://blog.example.org/news/2", "redaktion@example.org", "Nur Link", "Zweiter & letzter",
			time.Time{}},
		{"h:" + hex.EncodeToString(h[:]), "", "", "Weder GUID noch Link", "Dritter",
			time.Date(2026, 11, 11, 9, 30, 0, 0, time.UTC)},
		// The fourth item repeats post-1 and is dropped.
	}
	if len(res.Posts) != len(want) {
		t.Fatalf("%d posts, want %d: %+v", len(res.Posts), len(want), res.Posts)
	}
	for i, w := range want {
		p := res.Posts[i]
		if p.ID != w.id || p.URL != w.url || p.Author != w.author || p.Title != w.title ||
			p.Text != w.text || !p.Published.Equal(w.published) || p.Language != "de" || p.Source != "news" {
			t.Errorf("post %d: %+v\nwant %+v", i, p, w)
		}
	}
	// An unparseable date leaves Published zero; Post.Time falls back to collection.
	if got := res.Posts[1].Time(); !got.Equal(testNow) {
		t.Errorf("Time() of an undated post = %v, want the collection time", got)
	}
}

func TestFeedFailures(t *testing.T) {
	gzipped := func(n int) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		_, _ = w.Write(bytes.Repeat([]byte(" "), n))
		_ = w.Close()
		return b.Bytes()
	}
	date := time.Date(2026, 11, 10, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		reason  string
		retry   time.Duration
		msg     string
	}{
		{"429 seconds", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(429)
		}, ReasonRateLimited, time.Hour, `collector: feed "news": rate_limited: GET http://`},
		{"429 HTTP-date", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Date", date.Format(http.TimeFormat))
			w.Header().Set("Retry-After", date.Add(5*time.Minute).Format(http.TimeFormat))
			w.WriteHeader(429)
		}, ReasonRateLimited, 5 * time.Minute, "status 429 Too Many Requests"},
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
			ReasonHTTP5xx, 0, `collector: feed "news": http_5xx: `},
		{"404", http.NotFound, ReasonHTTP4xx, 0, "status 404 Not Found"},
		{"HTML page with 200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte("<!doctype html>\n<html lang=en><head><title>Sign in</title></head><body>Please log in</body></html>"))
		}, ReasonParse, 0, `collector: feed "news": parse: got an HTML page, not a feed`},
		{"body cut in half", func(w http.ResponseWriter, r *http.Request) {
			conn, buf, _ := w.(http.Hijacker).Hijack()
			defer conn.Close()
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 400\r\n\r\n<rss><channel><item><title>a</title></item>")
			_ = buf.Flush()
		}, ReasonRead, 0, "unexpected EOF"},
		{"over the cap", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(append([]byte("<rss><channel>"), bytes.Repeat([]byte(" "), testCap)...))
		}, ReasonTooLarge, 0, "limit"},
		{"gzip inflating over the cap", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gzipped(50 * testCap))
		}, ReasonTooLarge, 0, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			state := affinity.SourceState{ETag: "old", Cursor: "c"}
			res, err := newTestFeed(t, srv.URL+"/feed", testClient(5*time.Second)).Fetch(context.Background(), state)
			fe := fetchErr(t, err)
			if fe.Reason != tt.reason || fe.RetryAfter != tt.retry {
				t.Errorf("reason %q retry %v, want %q %v (%v)", fe.Reason, fe.RetryAfter, tt.reason, tt.retry, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if len(res.Posts) != 0 || res.State.ETag != "old" {
				t.Errorf("a failed fetch changed the result: %+v", res)
			}
		})
	}
}

func TestFeedTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := newTestFeed(t, silentServer(t), testClient(timeout)).Fetch(context.Background(), affinity.SourceState{})
	if ReasonOf(err) != ReasonTimeout {
		t.Fatalf("reason %q, want timeout (%v)", ReasonOf(err), err)
	}
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Errorf("took %v with a %v timeout", d, timeout)
	}
}

func TestNewFeedRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.Source
		opts Options
	}{
		{"no URL", config.Source{Name: "x"}, Options{Client: testClient(time.Second)}},
		{"file URL", config.Source{Name: "x", URL: "file:///etc/passwd"}, Options{Client: testClient(time.Second)}},
		{"no client", config.Source{Name: "x", URL: "https://example.org/feed"}, Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newFeed(tt.cfg, tt.opts); err == nil || !strings.HasPrefix(err.Error(), `collector: feed "x": `) {
				t.Errorf("error %v, want a collector: feed error", err)
			}
		})
	}
}
