package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/affinityd/affinityd/config"
)

// Defaults used when the config leaves a field zero (the loader normally sets them).
const (
	DefaultTimeout        = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultMaxBodySize    = 10 << 20
	maxRedirects          = 10
)

// Client is the one HTTP client every source shares: timeouts, a size cap on
// the decoded body, conditional GET and our user agent in one place.
type Client struct {
	hc        *http.Client
	userAgent string
	maxBody   int64
}

// Validators are the cache validators of the last successful fetch.
type Validators struct {
	ETag, LastModified string
}

// NewClient builds the shared client from the collector config. version goes
// into the default User-Agent.
func NewClient(cfg config.Collector, version string) *Client {
	timeout := time.Duration(cfg.Timeout)
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	connect := time.Duration(cfg.ConnectTimeout)
	if connect <= 0 {
		connect = DefaultConnectTimeout
	}
	connect = min(connect, timeout)
	maxBody := int64(cfg.MaxBodySize)
	if maxBody <= 0 {
		maxBody = DefaultMaxBodySize
	}
	ua := cfg.UserAgent
	if ua == "" {
		if version == "" {
			version = "dev"
		}
		ua = "affinityd/" + version + " (+https://github.com/affinityd/affinityd)"
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   connect,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout: connect,
		// Client.Timeout bounds the whole exchange; this one only makes a
		// silent server fail with a message that says where it stalled.
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
		// DisableCompression stays false: the transport asks for gzip and
		// decodes it, so the size cap below counts decoded bytes.
	}
	return &Client{
		hc: &http.Client{
			Transport:     tr,
			Timeout:       timeout,
			CheckRedirect: checkRedirect,
		},
		userAgent: ua,
		maxBody:   maxBody,
	}
}

// checkRedirect follows at most maxRedirects hops and only to http(s): a
// feed must not send us to file:, ftp: or a loop.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: stopped after %d redirects", errRedirect, maxRedirects)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q not allowed", errRedirect, req.URL.Scheme)
	}
	return nil
}

// UserAgent is the User-Agent the client sends.
func (c *Client) UserAgent() string { return c.userAgent }

// MaxBodySize is the cap on a decoded response body, in bytes.
func (c *Client) MaxBodySize() int64 { return c.maxBody }

// Get fetches rawURL, sending If-None-Match / If-Modified-Since from v.
// See Do for what it returns.
func (c *Client) Get(ctx context.Context, rawURL string, v Validators) (*Response, error) {
	req, err := c.NewRequest(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	if v.ETag != "" {
		req.Header.Set("If-None-Match", v.ETag)
	}
	if v.LastModified != "" {
		req.Header.Set("If-Modified-Since", v.LastModified)
	}
	return c.Do(req)
}

// NewRequest builds a request with our User-Agent; sources that need extra
// headers (Accept, Authorization) set them and call Do.
func (c *Client) NewRequest(ctx context.Context, method, rawURL string, body io.Reader) (*http.Request, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &FetchError{Reason: ReasonConnect, Err: fmt.Errorf("invalid URL %q: want http(s)://host/...", redactURL(rawURL))}
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, &FetchError{Reason: ReasonConnect, Err: fmt.Errorf("%s %s: %w", method, redactURL(rawURL), unwrapURLError(err))}
	}
	req.Header.Set("User-Agent", c.userAgent)
	return req, nil
}

// Do sends req and reads the body through the size cap. It returns a
// *FetchError for transport errors, a cut body, a body over the cap and a
// status >= 400; in the last case the Response is returned too, so a source
// can look at its headers (rate limits, 401 from a closed API).
func (c *Client) Do(req *http.Request) (*Response, error) {
	target := req.Method + " " + redactURL(req.URL.String())
	resp, err := c.hc.Do(req)
	if err != nil {
		inner := unwrapURLError(err)
		return nil, &FetchError{Reason: classify(err), Err: fmt.Errorf("%s: %w", target, inner)}
	}
	defer resp.Body.Close()

	r := &Response{
		URL:         resp.Request.URL.String(),
		StatusCode:  resp.StatusCode,
		Header:      resp.Header,
		ContentType: resp.Header.Get("Content-Type"),
	}
	if resp.StatusCode == http.StatusNotModified {
		return r, nil
	}
	// A declared length over the cap fails before reading; with transparent
	// gzip the length is unknown (-1) and the limit reader below catches it.
	if resp.ContentLength > c.maxBody && resp.StatusCode < 400 {
		return r, &FetchError{Reason: ReasonTooLarge, Err: fmt.Errorf("%s: Content-Length %d exceeds the %d byte limit", target, resp.ContentLength, c.maxBody)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return r, &FetchError{Reason: classify(err), Err: fmt.Errorf("%s: reading body: %w", target, err)}
	}
	if int64(len(body)) > c.maxBody {
		if resp.StatusCode >= 400 {
			// The status says more than the size of an error page.
			body = body[:c.maxBody]
		} else {
			return r, &FetchError{Reason: ReasonTooLarge, Err: fmt.Errorf("%s: body exceeds the %d byte limit", target, c.maxBody)}
		}
	}
	r.Body = body
	if err := r.Err(); err != nil {
		fe := err.(*FetchError)
		fe.Err = fmt.Errorf("%s: %w", target, fe.Err)
		return r, fe
	}
	return r, nil
}

// unwrapURLError drops *url.Error, whose message repeats the full URL
// (userinfo and query included); callers add the redacted URL instead.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
