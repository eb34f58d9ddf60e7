package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/affinityd/affinityd/config"
	"github.com/prometheus/common/model"
)

const testCap = 64 << 10

func testClient(timeout time.Duration) *Client {
	return NewClient(config.Collector{
		Timeout:        model.Duration(timeout),
		ConnectTimeout: model.Duration(timeout),
		MaxBodySize:    testCap,
	}, "1.2.3")
}

func fetchErr(t *testing.T, err error) *FetchError {
	t.Helper()
	var fe *FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FetchError", err, err)
	}
	if !strings.HasPrefix(err.Error(), "collector: ") {
		t.Errorf("error %q lacks the collector: prefix", err)
	}
	return fe
}

func TestClientUserAgent(t *testing.T) {
	tests := []struct {
		name, configured, want string
	}{
		{"default", "", "affinityd/1.2.3 (+https://github.com/affinityd/affinityd)"},
		{"configured", "acme-listener/1 (ops@example.com)", "acme-listener/1 (ops@example.com)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Get("User-Agent")
			}))
			defer srv.Close()
			c := NewClient(config.Collector{UserAgent: tt.configured}, "1.2.3")
			if _, err := c.Get(context.Background(), srv.URL, Validators{}); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("User-Agent %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClientConditionalGet(t *testing.T) {
	const etag, lastMod = `"v1"`, "Tue, 10 Nov 2026 08:00:00 GMT"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == etag && r.Header.Get("If-Modified-Since") == lastMod {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lastMod)
		_, _ = io.WriteString(w, "hello")
	}))
	defer srv.Close()
	c := testClient(5 * time.Second)

	r, err := c.Get(context.Background(), srv.URL, Validators{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsModified() || string(r.Body) != "hello" || r.ETag() != etag || r.LastModified() != lastMod {
		t.Fatalf("first response: modified=%v body=%q etag=%q lm=%q", r.IsModified(), r.Body, r.ETag(), r.LastModified())
	}
	r, err = c.Get(context.Background(), srv.URL, Validators{ETag: r.ETag(), LastModified: r.LastModified()})
	if err != nil {
		t.Fatal(err)
	}
	if r.IsModified() || r.StatusCode != http.StatusNotModified {
		t.Fatalf("second response: status %d, want 304", r.StatusCode)
	}
}

func TestClientStatus(t *testing.T) {
	date := time.Date(2026, 11, 10, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		code       int
		retryAfter string
		reason     string
		retry      time.Duration
	}{
		{"404", 404, "", ReasonHTTP4xx, 0},
		{"401", 401, "", ReasonHTTP4xx, 0},
		{"500", 500, "", ReasonHTTP5xx, 0},
		{"503 without Retry-After", 503, "", ReasonHTTP5xx, 0},
		{"503 with Retry-After", 503, "30", ReasonRateLimited, 30 * time.Second},
		{"429 seconds", 429, "120", ReasonRateLimited, 2 * time.Minute},
		{"429 HTTP-date", 429, date.Add(90 * time.Second).Format(http.TimeFormat), ReasonRateLimited, 90 * time.Second},
		{"429 date in the past", 429, date.Add(-time.Hour).Format(http.TimeFormat), ReasonRateLimited, 0},
		{"429 without Retry-After", 429, "", ReasonRateLimited, 0},
		{"429 garbage Retry-After", 429, "soon", ReasonRateLimited, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Date", date.Format(http.TimeFormat))
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.code)
				_, _ = io.WriteString(w, "nope")
			}))
			defer srv.Close()
			r, err := testClient(5*time.Second).Get(context.Background(), srv.URL, Validators{})
			fe := fetchErr(t, err)
			if fe.Reason != tt.reason || fe.RetryAfter != tt.retry {
				t.Errorf("reason %q retry %v, want %q %v", fe.Reason, fe.RetryAfter, tt.reason, tt.retry)
			}
			if r == nil || r.StatusCode != tt.code {
				t.Errorf("response %+v, want status %d alongside the error", r, tt.code)
			}
			if want := fmt.Sprintf("status %d", tt.code); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		})
	}
}

func TestClientBodySize(t *testing.T) {
	gz := func(n int) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		_, _ = w.Write(make([]byte, n))
		_ = w.Close()
		return b.Bytes()
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantLen int
		reason  string
	}{
		{"exactly the cap", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(make([]byte, testCap))
		}, testCap, ""},
		{"one byte over, with Content-Length", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(make([]byte, testCap+1))
		}, 0, ReasonTooLarge},
		{"over, chunked", func(w http.ResponseWriter, r *http.Request) {
			for range 4 {
				_, _ = w.Write(make([]byte, testCap/2))
				w.(http.Flusher).Flush()
			}
		}, 0, ReasonTooLarge},
		{"gzip decoded transparently", func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				t.Error("transport did not ask for gzip")
			}
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz(1000))
		}, 1000, ""},
		{"gzip bomb inflating past the cap", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz(100 * testCap)) // ~6 KB on the wire
		}, 0, ReasonTooLarge},
		{"undeclared .gz body inflated", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/gzip")
			_, _ = w.Write(gz(1000))
		}, 1000, ""},
		{"undeclared .gz bomb inflating past the cap", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/gzip")
			_, _ = w.Write(gz(100 * testCap))
		}, 0, ReasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			r, err := testClient(5*time.Second).Get(context.Background(), srv.URL, Validators{})
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Body) != tt.wantLen {
					t.Errorf("body %d bytes, want %d", len(r.Body), tt.wantLen)
				}
				return
			}
			if fe := fetchErr(t, err); fe.Reason != tt.reason {
				t.Errorf("reason %q, want %q (%v)", fe.Reason, tt.reason, err)
			}
		})
	}
}

// An error page is read only as far as maxErrorBody: its status is the news.
func TestClientErrorBodyCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(make([]byte, 4*maxErrorBody))
	}))
	defer srv.Close()
	c := NewClient(config.Collector{MaxBodySize: 10 * maxErrorBody}, "1")
	r, err := c.Get(context.Background(), srv.URL, Validators{})
	if fe := fetchErr(t, err); fe.Reason != ReasonHTTP5xx {
		t.Fatalf("reason %q, want http_5xx", fe.Reason)
	}
	if len(r.Body) != maxErrorBody {
		t.Errorf("read %d bytes of the error page, want %d", len(r.Body), maxErrorBody)
	}
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				<-done
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); close(done) })
	return "http://" + ln.Addr().String() + "/feed"
}

// hijackServer answers with handle's raw bytes on the connection, then closes it.
func hijackServer(t *testing.T, handle func(w io.Writer)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		handle(buf)
		_ = buf.Flush()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientFailures(t *testing.T) {
	const timeout = 500 * time.Millisecond
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return "http://" + addr + "/"
	}
	loop := func(t *testing.T) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/loop"
	}
	toFile := func(t *testing.T) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	halfBody := func(t *testing.T) string {
		return hijackServer(t, func(w io.Writer) {
			_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 1000\r\n\r\n")
			_, _ = w.Write(bytes.Repeat([]byte("x"), 500))
		}).URL
	}
	halfChunked := func(t *testing.T) string {
		return hijackServer(t, func(w io.Writer) {
			_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n<rss><channel>")
		}).URL
	}
	slowBody := func(t *testing.T) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "<rss>")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name   string
		url    func(t *testing.T) string
		reason string
		msg    string // part of the error message
	}{
		{"server never answers", silentServer, ReasonTimeout, "timeout"},
		{"body stalls mid-way", slowBody, ReasonTimeout, ""},
		{"connection refused", refused, ReasonConnect, "refused"},
		{"redirect loop", loop, ReasonConnect, "stopped after 10 redirects"},
		{"redirect to file:", toFile, ReasonConnect, `scheme "file" not allowed`},
		{"body cut in half", halfBody, ReasonRead, "unexpected EOF"},
		{"chunked body cut", halfChunked, ReasonRead, "unexpected EOF"},
		{"not a URL", func(*testing.T) string { return "ftp://example.org/feed" }, ReasonConnect, "invalid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := tt.url(t)
			start := time.Now()
			_, err := testClient(timeout).Get(context.Background(), u, Validators{})
			if d := time.Since(start); d > timeout+2*time.Second {
				t.Errorf("took %v with a %v timeout", d, timeout)
			}
			fe := fetchErr(t, err)
			if fe.Reason != tt.reason || ReasonOf(err) != tt.reason {
				t.Errorf("reason %q, want %q (%v)", fe.Reason, tt.reason, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestClientContextCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := testClient(time.Minute).Get(ctx, silentServer(t), Validators{})
	if ReasonOf(err) != ReasonTimeout {
		t.Fatalf("reason %q, want timeout (%v)", ReasonOf(err), err)
	}
}

func TestErrorsRedactSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://alice:hunter2@", 1) + "/feed?q=acme&access_token=s3cr3t&api_key=k3y"
	_, err := testClient(5*time.Second).Get(context.Background(), u, Validators{})
	msg := err.Error()
	for _, secret := range []string{"alice", "hunter2", "s3cr3t", "k3y"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q leaks %q", msg, secret)
		}
	}
	if !strings.Contains(msg, "q=acme") || !strings.Contains(msg, "/feed") {
		t.Errorf("error %q should still name the URL", msg)
	}
}

// A server that echoes our credentials in its error page does not get them
// into the body sources quote in errors.
func TestClientScrubsEchoedSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"bad credentials %s for %s"}`, r.Header.Get("Authorization"), r.URL.RequestURI())
	}))
	defer srv.Close()
	c := testClient(5 * time.Second)
	for _, tt := range []struct {
		name, url, auth string
		secrets         []string
	}{
		{"bearer token", srv.URL + "/api", "Bearer tok-4f9c1e", []string{"tok-4f9c1e"}},
		{"basic auth from the URL", strings.Replace(srv.URL, "http://", "http://alice:hunter2@", 1), "", []string{"hunter2", "YWxpY2U6aHVudGVyMg=="}},
		{"token in the query", srv.URL + "/feed?access_token=qs-9981&q=acme", "", []string{"qs-9981"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := c.NewRequest(context.Background(), http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			r, err := c.Do(req)
			if err == nil || r == nil {
				t.Fatalf("want a 401 error with its response, got %v", err)
			}
			for _, secret := range tt.secrets {
				if strings.Contains(string(r.Body), secret) || strings.Contains(err.Error(), secret) {
					t.Errorf("secret %q in body %q or error %q", secret, r.Body, err)
				}
			}
			if !strings.Contains(string(r.Body), "bad credentials") {
				t.Errorf("body %q lost the server's message", r.Body)
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"fetch error", &FetchError{Reason: ReasonTooLarge}, ReasonTooLarge},
		{"wrapped fetch error", fmt.Errorf("outer: %w", &FetchError{Reason: ReasonParse}), ReasonParse},
		{"deadline", context.DeadlineExceeded, ReasonTimeout},
		{"dns", &net.DNSError{Err: "no such host", Name: "nowhere.invalid"}, ReasonConnect},
		{"dial", &net.OpError{Op: "dial", Err: errors.New("boom")}, ReasonConnect},
		{"unexpected EOF", io.ErrUnexpectedEOF, ReasonRead},
		{"unknown", errors.New("something else"), ReasonRead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReasonOf(tt.err); got != tt.want {
				t.Errorf("ReasonOf = %q, want %q", got, tt.want)
			}
		})
	}
	seen := map[string]bool{}
	for _, r := range Reasons {
		if seen[r] {
			t.Errorf("reason %q listed twice", r)
		}
		seen[r] = true
	}
	if len(Reasons) != 8 {
		t.Errorf("Reasons = %v", Reasons)
	}
}

func TestResponseRetryAfter(t *testing.T) {
	date := time.Date(2026, 11, 10, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name, value, date string
		want              time.Duration
	}{
		{"absent", "", "", 0},
		{"seconds", "120", "", 2 * time.Minute},
		{"seconds with spaces", " 7 ", "", 7 * time.Second},
		{"zero", "0", "", 0},
		{"negative", "-5", "", 0},
		{"http-date against Date", date.Add(time.Hour).Format(http.TimeFormat), date.Format(http.TimeFormat), time.Hour},
		{"http-date in the past", date.Format(http.TimeFormat), date.Add(time.Hour).Format(http.TimeFormat), 0},
		{"garbage", "tomorrow", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.value != "" {
				h.Set("Retry-After", tt.value)
			}
			if tt.date != "" {
				h.Set("Date", tt.date)
			}
			r := &Response{StatusCode: 429, Header: h}
			if got := r.RetryAfter(); got != tt.want {
				t.Errorf("RetryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}
