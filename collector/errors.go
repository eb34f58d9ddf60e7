package collector

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Failure reasons: the fixed label values of
// affinity_source_fetch_failures_total{reason}. Every error a Source returns
// maps to exactly one of them through ReasonOf.
const (
	// ReasonTimeout: the request or its connect, TLS handshake, response
	// headers or body took longer than allowed (also a cancelled context).
	ReasonTimeout = "timeout"
	// ReasonConnect: no HTTP exchange could be completed: DNS failure,
	// connection refused or reset while dialing, TLS or certificate error,
	// bad URL, too many redirects or a redirect to a scheme other than http(s).
	ReasonConnect = "connect"
	// ReasonHTTP4xx: the server answered 4xx (except 429).
	ReasonHTTP4xx = "http_4xx"
	// ReasonHTTP5xx: the server answered 5xx (except 503 with Retry-After).
	ReasonHTTP5xx = "http_5xx"
	// ReasonRateLimited: 429, or 503 with a Retry-After header.
	ReasonRateLimited = "rate_limited"
	// ReasonTooLarge: the (decoded) body exceeds the configured max_body_size.
	ReasonTooLarge = "too_large"
	// ReasonParse: the body arrived but is not a feed or record we understand.
	ReasonParse = "parse"
	// ReasonRead: the body was cut mid-way or another I/O error happened;
	// also the default for errors this package does not recognise.
	ReasonRead = "read"
)

// Reasons lists every failure reason in a fixed order, so metrics can export
// each one from the start.
var Reasons = []string{
	ReasonTimeout, ReasonConnect, ReasonHTTP4xx, ReasonHTTP5xx,
	ReasonRateLimited, ReasonTooLarge, ReasonParse, ReasonRead,
}

// FetchError is a failed fetch with the reason it is counted under.
type FetchError struct {
	Reason string
	Err    error
	// RetryAfter is the delay the server asked for (429/503); 0 when it gave none.
	RetryAfter time.Duration
	// Where names what failed, e.g. `feed "news"`; empty for bare client errors.
	Where string
}

// Error reads "collector: WHERE: REASON: detail".
func (e *FetchError) Error() string {
	var b strings.Builder
	b.WriteString("collector: ")
	if e.Where != "" {
		b.WriteString(e.Where)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *FetchError) Unwrap() error { return e.Err }

// at returns a copy of err labelled with where, so a source can name itself
// without losing the reason the client found. Other errors are classified.
func at(where string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FetchError
	if errors.As(err, &fe) {
		c := *fe
		c.Where = where
		return &c
	}
	return &FetchError{Where: where, Reason: classify(err), Err: err}
}

// ReasonOf returns the failure reason of err: the Reason of a *FetchError in
// its chain, else the reason classify finds (timeouts, dial errors), else
// "read" — an unknown error is most often an I/O error. It returns "" for nil.
// Callers should not count a failure when their own context was cancelled on
// shutdown; ReasonOf cannot tell that apart from a timeout.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	var fe *FetchError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return classify(err)
}

// errRedirect marks redirects we refuse to follow.
var errRedirect = errors.New("redirect refused")

// classify maps transport and I/O errors to a reason. Timeouts are checked
// first: a dial that times out is a timeout (a black-holed host), a dial that
// is refused is a connect failure.
func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, syscall.ETIMEDOUT), errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	}
	var (
		opErr   *net.OpError
		dnsErr  *net.DNSError
		addrErr *net.AddrError
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
		unkAuth x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
		urlErr  url.InvalidHostError
	)
	switch {
	case errors.Is(err, errRedirect), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &dnsErr), errors.As(err, &addrErr),
		errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &unkAuth),
		errors.As(err, &hostErr), errors.As(err, &invErr), errors.As(err, &urlErr):
		return ReasonConnect
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return ReasonConnect
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return ReasonRead
	}
	return ReasonRead
}

// redactURL drops userinfo and the values of query parameters that look
// like secrets, so errors and logs never carry credentials.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if secretKey(k) {
				q[k] = []string{"REDACTED"}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// secretKey reports a query parameter whose value is a credential.
func secretKey(k string) bool {
	lk := strings.ToLower(k)
	for _, s := range []string{"token", "key", "secret", "password", "passwd", "auth", "sig", "session"} {
		if strings.Contains(lk, s) {
			return true
		}
	}
	return false
}
