package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/affinityd/affinityd/config"
)

// Defaults used when the config leaves a field zero (the loader normally sets them).
const (
	DefaultTimeout        = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultMaxBodySize    = 10 << 20
	maxRedirects          = 10
	// maxErrorBody bounds what is read of a response with status >= 400:
	// its status says what happened, the body only adds a message.
	maxErrorBody = 64 << 10
	// maxHeaderBytes bounds a response's headers (the transport's default is 10 MB).
	maxHeaderBytes = 1 << 20
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
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		MaxResponseHeaderBytes: maxHeaderBytes,
		ForceAttemptHTTP2:      true,
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
		return nil, &FetchError{Reason: ReasonConnect, Err: fmt.Errorf("invalid URL %q: want an http or https URL with a host", redactURL(rawURL))}
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
	limit := c.maxBody
	if resp.StatusCode >= 400 {
		limit = min(limit, maxErrorBody) // the status says more than the size of an error page
	} else if resp.ContentLength > limit {
		// A declared length over the cap fails before reading; with
		// transparent gzip the length is unknown (-1) and readCapped catches it.
		return r, &FetchError{Reason: ReasonTooLarge, Err: fmt.Errorf("%s: Content-Length %d exceeds the %d byte limit", target, resp.ContentLength, limit)}
	}
	body, over, err := readCapped(resp.Body, limit, resp.ContentLength)
	if err != nil {
		return r, &FetchError{Reason: classify(err), Err: fmt.Errorf("%s: reading body: %w", target, err)}
	}
	if !resp.Uncompressed && isGzip(body) && !over && resp.StatusCode < 400 {
		// A .gz file served without Content-Encoding: inflate it under the
		// same cap, so a compressed bomb fails like a plain big body.
		body, over, err = readGzip(body, limit)
		if err != nil {
			return r, &FetchError{Reason: ReasonParse, Err: fmt.Errorf("%s: gzip body: %w", target, err)}
		}
	}
	if over && resp.StatusCode < 400 {
		return r, &FetchError{Reason: ReasonTooLarge, Err: fmt.Errorf("%s: body exceeds the %d byte limit", target, limit)}
	}
	if resp.StatusCode >= 400 {
		// Error pages end up in errors, logs and /api: a server echoing
		// our credentials back must not put them there.
		body = scrubSecrets(body, req)
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

// readCapped reads r up to limit bytes; over reports that more followed (the
// excess is not read). sizeHint, the declared length or -1, sizes the buffer
// once instead of growing it by doubling.
func readCapped(r io.Reader, limit, sizeHint int64) (body []byte, over bool, err error) {
	lr := io.LimitReader(r, limit+1)
	size := int64(512)
	if sizeHint >= 0 && sizeHint <= limit {
		size = sizeHint + 1 // room for the EOF read
	}
	b := make([]byte, 0, size)
	for {
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, err
		}
		if len(b) == cap(b) && int64(cap(b)) <= limit {
			// Double, up to the cap: append grows large slices by only
			// 1.25×, which costs 5× the body in copies on the way to the cap.
			nb := make([]byte, len(b), min(2*int64(cap(b)), limit+1))
			copy(nb, b)
			b = nb
		}
	}
	if int64(len(b)) > limit {
		return b[:limit], true, nil
	}
	return b, false, nil
}

// isGzip reports a gzip member header (RFC 1952: ID1 ID2 CM=deflate).
func isGzip(b []byte) bool { return len(b) >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8 }

func readGzip(b []byte, limit int64) ([]byte, bool, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, false, err
	}
	return readCapped(zr, limit, -1)
}

// scrubSecrets replaces in b the credentials req carried: the Authorization
// header's credentials, the URL's password and secret-looking query values.
func scrubSecrets(b []byte, req *http.Request) []byte {
	var secrets []string
	if _, cred, ok := strings.Cut(req.Header.Get("Authorization"), " "); ok {
		secrets = append(secrets, cred)
	}
	if user, pass, ok := req.BasicAuth(); ok {
		secrets = append(secrets, user+":"+pass, pass)
	}
	if pass, ok := req.URL.User.Password(); ok {
		// The transport sends URL userinfo as Basic auth.
		basic := base64.StdEncoding.EncodeToString([]byte(req.URL.User.Username() + ":" + pass))
		secrets = append(secrets, pass, basic)
	}
	for k, vs := range req.URL.Query() {
		if secretKey(k) {
			secrets = append(secrets, vs...)
		}
	}
	for _, s := range secrets {
		if len(s) >= 4 { // shorter would blank ordinary words
			b = bytes.ReplaceAll(b, []byte(s), []byte("REDACTED"))
		}
	}
	return b
}
