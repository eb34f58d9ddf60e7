package collector

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
	"golang.org/x/net/websocket"
)

const (
	jetstreamDefaultURL = "wss://jetstream2.us-east.bsky.network/subscribe"
	// jetstreamReadFor bounds how long one Fetch listens: the stream never
	// ends, and a batch must reach the store to be counted and kept.
	jetstreamReadFor = 20 * time.Second
	// jetstreamMaxEvents bounds one Fetch's events (all posts on the network,
	// not only matching ones) when catching up on an old cursor.
	jetstreamMaxEvents = 50_000
	// jetstreamMaxLookback bounds the first fetch: Jetstream keeps about a
	// day, and replaying it whole would take minutes of the firehose.
	jetstreamMaxLookback = time.Hour
	// jetstreamMaxEvent caps one event; posts are a few KB.
	jetstreamMaxEvent    = 1 << 20
	jetstreamDialTimeout = 10 * time.Second
	// jetstreamBehind is how far behind live a stream that stopped on a bound
	// must be for the fetch to report More (still catching up).
	jetstreamBehind = time.Minute
)

// jetstreamSource reads Bluesky posts from a Jetstream WebSocket, which
// needs no account, and keeps only posts naming one of the queries' terms.
// The collector knows nothing of topics' meaning: this whole-word filter
// only avoids storing the firehose; analysis decides what matches.
//
// State.Cursor is the time_us (Jetstream's microsecond clock, decimal) of
// the last event processed; the next Fetch asks the stream to replay from
// there, so a restart resumes. The stream has no handles (Author and the
// profile URL use the DID) and no engagement counts: Engagement stays zero.
type jetstreamSource struct {
	name      string
	endpoint  *url.URL
	format    affinity.Format
	userAgent string
	logger    *slog.Logger
	now       func() time.Time
	lookback  time.Duration
	terms     []string // lowercased, deduplicated

	// Bounds of one Fetch; smaller in tests.
	readFor     time.Duration
	maxEvents   int
	dialTimeout time.Duration
}

func newJetstream(cfg config.Source, opts Options) (Source, error) {
	raw := strings.TrimSpace(cfg.Jetstream)
	if raw == "" {
		raw = jetstreamDefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("collector: bluesky %q: jetstream %q is not a ws(s):// URL", cfg.Name, redactURL(raw))
	}
	lookback := time.Duration(cfg.Lookback)
	if lookback <= 0 || lookback > jetstreamMaxLookback {
		lookback = jetstreamMaxLookback
	}
	ua := "affinityd"
	if opts.Client != nil {
		ua = opts.Client.UserAgent()
	}
	var terms []string
	for _, q := range opts.Queries {
		for _, t := range q.Terms {
			t = strings.ToLower(strings.TrimSpace(t))
			if t != "" && !slices.Contains(terms, t) {
				terms = append(terms, t)
			}
		}
	}
	s := &jetstreamSource{
		name:        cfg.Name,
		endpoint:    u,
		format:      formatOr(cfg.Format, affinity.FormatNetwork),
		userAgent:   ua,
		logger:      loggerOr(opts.Logger),
		now:         nowOr(opts.Now),
		lookback:    lookback,
		terms:       terms,
		readFor:     jetstreamReadFor,
		maxEvents:   jetstreamMaxEvents,
		dialTimeout: jetstreamDialTimeout,
	}
	if len(terms) == 0 {
		s.logger.Warn("bluesky jetstream has no query terms: no post will be kept")
	}
	return s, nil
}

func (s *jetstreamSource) Name() string { return s.name }

func (s *jetstreamSource) where() string { return fmt.Sprintf("bluesky %q", s.name) }

// jetstreamEvent is one Jetstream message; only commits are read further.
type jetstreamEvent struct {
	DID    string `json:"did"`
	TimeUS int64  `json:"time_us"`
	Kind   string `json:"kind"`
	Commit *struct {
		Operation  string          `json:"operation"`
		Collection string          `json:"collection"`
		RKey       string          `json:"rkey"`
		Record     json.RawMessage `json:"record"`
	} `json:"commit"`
}

// jetstreamDecode decodes one message. One that is JSON but does not decode
// whole comes back with bad set and its time_us, if that much could be read,
// so the cursor still moves past it.
func jetstreamDecode(msg []byte) (ev jetstreamEvent, bad string) {
	err := json.Unmarshal(msg, &ev)
	if err == nil {
		return ev, ""
	}
	var k struct {
		TimeUS int64 `json:"time_us"`
	}
	_ = json.Unmarshal(msg, &k)
	return jetstreamEvent{TimeUS: k.TimeUS}, "not a Jetstream event: " + err.Error()
}

// Fetch connects, replays from the cursor and listens until readFor has
// passed or maxEvents arrived. A stream that closes early or cannot be
// reached fails the fetch (reason read or connect); the Result still holds
// what arrived before, with the cursor just past it, for callers that keep
// partial batches (the pipeline drops them, and then reads them again
// from the saved cursor: nothing is lost either way).
func (s *jetstreamSource) Fetch(ctx context.Context, state affinity.SourceState) (Result, error) {
	state.Source = s.name
	res := Result{State: state, RateLimitRemaining: -1}
	now := s.now()
	last, err := strconv.ParseInt(strings.TrimSpace(state.Cursor), 10, 64)
	if err != nil || last <= 0 {
		if state.Cursor != "" {
			s.logger.Info("bluesky jetstream cursor unreadable, starting from the look-back")
		}
		last = 0
	}
	resumed, from := last, last
	if from == 0 {
		from = now.Add(-s.lookback).UnixMicro()
	}

	ws, err := s.dial(ctx, from)
	if err != nil {
		return res, err
	}
	defer ws.Close()
	ws.MaxPayloadBytes = jetstreamMaxEvent
	// The read deadline bounds the listening on the wall clock (Options.Now
	// may be a fixed test clock); cancelling ctx moves it to the past, which
	// ends a blocked Receive at once.
	_ = ws.SetReadDeadline(time.Now().Add(s.readFor))
	stop := context.AfterFunc(ctx, func() { _ = ws.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	var (
		events, kept int
		readErr      error
		skips        pageSkips // one warning per fetch, however many events were bad
	)
	for events < s.maxEvents {
		var msg []byte
		err := websocket.Message.Receive(ws, &msg)
		if err != nil {
			if errors.Is(err, websocket.ErrFrameTooLarge) {
				// The next Receive discards the rest of the frame.
				events++
				skips.add("larger than the event limit")
				continue
			}
			var ne net.Error
			switch {
			case ctx.Err() != nil:
				readErr = &FetchError{Where: s.where(), Reason: ReasonTimeout,
					Err: fmt.Errorf("jetstream: stopped after %d events: %w", events, ctx.Err())}
			case errors.As(err, &ne) && ne.Timeout():
				// The listening time is up: the normal end of a fetch.
			default:
				readErr = &FetchError{Where: s.where(), Reason: ReasonRead,
					Err: fmt.Errorf("jetstream: stream closed after %d events: %w", events, err)}
			}
			break
		}
		events++
		ev, bad := jetstreamDecode(msg)
		if ev.TimeUS <= 0 || ev.TimeUS > now.Add(apiFutureSkew).UnixMicro() {
			// Without a plausible time_us it cannot move the cursor; a huge
			// one would put it where no later event could ever pass.
			skips.add(cmp.Or(bad, "time_us missing or out of range"))
			continue
		}
		// The cursor is inclusive: the event the last fetch ended on comes again.
		if ev.TimeUS <= last {
			continue
		}
		last = ev.TimeUS // a malformed event too: the next fetch resumes after it
		if bad != "" {
			skips.add(bad)
			continue
		}
		p, ok, why := s.post(ev, now)
		if why != "" {
			skips.add(why)
			continue
		}
		if ok {
			kept++
			res.Posts = append(res.Posts, p)
		}
	}
	if last > 0 {
		res.State.Cursor = strconv.FormatInt(last, 10)
	}
	res.Skipped = skips.n
	skips.warn(s.logger, "events", events)
	// Stopped on the event bound, or on the time bound while still replaying
	// the past: there is more right away.
	// A quiet stream on an old cursor is not catching up: it has nothing.
	if readErr == nil && (events >= s.maxEvents ||
		last > resumed && time.UnixMicro(last).Before(now.Add(-jetstreamBehind))) {
		res.More = true
	}
	s.logger.Debug("bluesky jetstream read", "events", events, "posts", kept,
		"skipped", res.Skipped, "more", res.More)
	return res, readErr
}

// dial opens the stream at cursor (microseconds).
func (s *jetstreamSource) dial(ctx context.Context, cursor int64) (*websocket.Conn, error) {
	u := *s.endpoint
	q := u.Query()
	q.Set("wantedCollections", blueskyPostCollection)
	q.Set("cursor", strconv.FormatInt(cursor, 10))
	u.RawQuery = q.Encode()
	target := redactURL(u.String())
	origin := "https://" + u.Host
	if u.Scheme == "ws" {
		origin = "http://" + u.Host
	}
	cfg, err := websocket.NewConfig(u.String(), origin)
	if err != nil {
		return nil, &FetchError{Where: s.where(), Reason: ReasonConnect, Err: fmt.Errorf("jetstream %s: %w", target, err)}
	}
	cfg.Header = http.Header{"User-Agent": {s.userAgent}}
	dctx, cancel := context.WithTimeout(ctx, s.dialTimeout)
	defer cancel()
	ws, err := cfg.DialContext(dctx)
	if err != nil {
		// DialError has no Unwrap and repeats the URL: keep only the cause.
		var de *websocket.DialError
		if errors.As(err, &de) {
			err = de.Err
		}
		reason := classify(err)
		if reason == ReasonRead {
			reason = ReasonConnect // a refused handshake (bad status, not a WebSocket)
		}
		return nil, &FetchError{Where: s.where(), Reason: reason, Err: fmt.Errorf("jetstream %s: %w", target, err)}
	}
	return ws, nil
}

// post maps a commit event. ok is false for events that are not a new post
// or do not name a term; why is set for malformed ones.
func (s *jetstreamSource) post(ev jetstreamEvent, now time.Time) (p affinity.Post, ok bool, why string) {
	if ev.Kind != "commit" {
		return p, false, "" // identity and account events
	}
	c := ev.Commit
	if c == nil {
		return p, false, "commit event without commit"
	}
	if c.Operation != "create" || c.Collection != blueskyPostCollection {
		return p, false, ""
	}
	if ev.DID == "" || c.RKey == "" || strings.Contains(c.RKey, "/") {
		return p, false, "post without did or rkey"
	}
	var rec blueskyRecord
	if len(c.Record) == 0 || json.Unmarshal(c.Record, &rec) != nil {
		return p, false, "post without a readable record"
	}
	p = blueskyPost(ev.DID, "", c.RKey, rec, nil, time.UnixMicro(ev.TimeUS))
	if !s.matches(p.Text) {
		return p, false, ""
	}
	p.Source = s.name
	p.Collected = now
	p.Format = s.format
	return p, true, ""
}

// matches reports whether text (which blueskyText already gave the facet
// tags, links and link card) names a term as a whole word.
func (s *jetstreamSource) matches(text string) bool {
	lower := strings.ToLower(text)
	for _, t := range s.terms {
		if blueskyMatch(lower, t) {
			return true
		}
	}
	return false
}
