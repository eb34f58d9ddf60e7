package collector

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Response is one HTTP response, already read through the size cap.
type Response struct {
	URL         string // final URL, after redirects
	StatusCode  int
	Header      http.Header
	Body        []byte // decoded (gzip undone); empty for 304
	ContentType string // the Content-Type header as sent, charset included
}

// ETag is the validator to send as If-None-Match next time.
func (r *Response) ETag() string { return r.Header.Get("ETag") }

// LastModified is the validator to send as If-Modified-Since next time.
func (r *Response) LastModified() string { return r.Header.Get("Last-Modified") }

// IsModified is false when the server answered 304 Not Modified.
func (r *Response) IsModified() bool { return r.StatusCode != http.StatusNotModified }

// RetryAfter is the delay the Retry-After header asks for, given in seconds
// or as an HTTP-date; 0 when absent or unparseable. A date is measured
// against the response's own Date header when it has one, so a skewed local
// clock does not stretch or shrink the delay.
func (r *Response) RetryAfter() time.Duration {
	v := strings.TrimSpace(r.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		// Cap absurd values instead of overflowing time.Duration.
		return time.Duration(min(n, int64(365*24*3600))) * time.Second
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	now := time.Now()
	if d, err := http.ParseTime(r.Header.Get("Date")); err == nil {
		now = d
	}
	return max(at.Sub(now), 0)
}

// Err is the *FetchError a status >= 400 stands for, nil below 400:
// 429 and 503-with-Retry-After are rate_limited (with the delay), other
// 4xx http_4xx, other 5xx http_5xx.
func (r *Response) Err() error {
	code := r.StatusCode
	if code < 400 {
		return nil
	}
	status := fmt.Errorf("status %d %s", code, http.StatusText(code))
	retry := r.RetryAfter()
	switch {
	case code == http.StatusTooManyRequests,
		code == http.StatusServiceUnavailable && r.Header.Get("Retry-After") != "":
		return &FetchError{Reason: ReasonRateLimited, Err: status, RetryAfter: retry}
	case code < 500:
		return &FetchError{Reason: ReasonHTTP4xx, Err: status}
	default:
		return &FetchError{Reason: ReasonHTTP5xx, Err: status}
	}
}
