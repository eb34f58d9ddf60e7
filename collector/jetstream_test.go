package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
	"golang.org/x/net/websocket"
)

// jetEvent is one message the fake Jetstream sends, with the time the
// server files it under (malformed ones too, so replay order is kept).
type jetEvent struct {
	timeUS int64
	raw    string
}

// jetPost builds a Jetstream commit event around a real record.
func jetPost(r bskyFixtureRecord, timeUS int64) jetEvent {
	b, _ := json.Marshal(map[string]any{
		"did": r.DID, "time_us": timeUS, "kind": "commit",
		"commit": map[string]any{
			"rev": "3l3qo2vutsw2b", "operation": "create", "collection": "app.bsky.feed.post",
			"rkey": r.RKey, "record": r.Record, "cid": "bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi",
		},
	})
	return jetEvent{timeUS, string(b)}
}

func jetRaw(timeUS int64, raw string) jetEvent { return jetEvent{timeUS, raw} }

// jetServer is a fake Jetstream: it replays its events from the requested
// cursor (inclusive), then holds the connection open, or cuts it after
// cutAfter events.
type jetServer struct {
	mu       sync.Mutex
	events   []jetEvent
	requests []string // raw queries
	cutAfter int
	srv      *httptest.Server
}

func newJetServer(t *testing.T, events []jetEvent) *jetServer {
	j := &jetServer{events: events}
	j.srv = httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		q := ws.Request().URL.Query()
		cursor, _ := strconv.ParseInt(q.Get("cursor"), 10, 64)
		j.mu.Lock()
		j.requests = append(j.requests, ws.Request().URL.RawQuery)
		events, cut := slices.Clone(j.events), j.cutAfter
		j.mu.Unlock()
		sent := 0
		for _, ev := range events {
			if ev.timeUS < cursor {
				continue
			}
			if websocket.Message.Send(ws, ev.raw) != nil {
				return
			}
			sent++
			if cut > 0 && sent == cut {
				return // the connection drops without a close frame
			}
		}
		_, _ = io.Copy(io.Discard, ws) // live: nothing new until the client leaves
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jetServer) url() string { return "ws" + strings.TrimPrefix(j.srv.URL, "http") + "/subscribe" }

func (j *jetServer) add(evs ...jetEvent) {
	j.mu.Lock()
	j.events = append(j.events, evs...)
	j.mu.Unlock()
}

var jetQueries = []Query{
	{Key: "topic:bridges", Terms: []string{"Bridgy Fed"}},
	{Key: "topic:plans", Terms: []string{"ROADMAP", "thing"}},
}

func newTestJetstream(t *testing.T, url string, readFor time.Duration) *jetstreamSource {
	t.Helper()
	src, err := newBluesky(config.Source{Name: "bsky", Kind: "bluesky", Jetstream: url},
		Options{Client: testClient(time.Second), Now: func() time.Time { return testNow }, Queries: jetQueries})
	if err != nil {
		t.Fatal(err)
	}
	js, ok := src.(*jetstreamSource)
	if !ok {
		t.Fatalf("newBluesky without credentials gave %T", src)
	}
	js.readFor = readFor
	js.dialTimeout = 2 * time.Second
	return js
}

// jetFixtureEvents are the fixture records as a stream, 1 ms apart, ending
// start+len ms, interleaved with events a post filter must pass over.
func jetFixtureEvents(t *testing.T, start int64) []jetEvent {
	recs := append(bskyCaptured(t, "capture_atprotocom.json"), bskyCaptured(t, "capture_hackerdarkweb.json")...)
	recs = append(recs, bskyTransformed(t)...)
	var evs []jetEvent
	ts := start
	for i, r := range recs {
		ts += 1000
		evs = append(evs, jetPost(r, ts))
		switch i % 10 {
		case 3:
			ts += 1000
			evs = append(evs, jetRaw(ts, fmt.Sprintf(`{"did":"%s","time_us":%d,"kind":"identity","identity":{"did":"%s","handle":"x.bsky.social","seq":1,"time":"2024-09-05T06:11:04.870Z"}}`, r.DID, ts, r.DID)))
		case 5:
			ts += 1000
			evs = append(evs, jetRaw(ts, fmt.Sprintf(`{"did":"%s","time_us":%d,"kind":"commit","commit":{"rev":"x","operation":"delete","collection":"app.bsky.feed.post","rkey":"%s"}}`, r.DID, ts, r.RKey)))
		case 7:
			ts += 1000
			evs = append(evs, jetRaw(ts, fmt.Sprintf(`{"did":"%s","time_us":%d,"kind":"commit","commit":{"rev":"x","operation":"create","collection":"app.bsky.feed.like","rkey":"3l3abc","record":{"$type":"app.bsky.feed.like","subject":{"uri":"at://%s/app.bsky.feed.post/%s"}}}}`, r.DID, ts, r.DID, r.RKey)))
		}
	}
	return evs
}

func jetRKeys(posts []affinity.Post) []string {
	var out []string
	for _, p := range posts {
		out = append(out, p.ID[strings.LastIndex(p.ID, "/")+1:])
	}
	slices.Sort(out)
	return out
}

func TestJetstreamFiltersByTerms(t *testing.T) {
	start := testNow.Add(-30 * time.Second).UnixMicro()
	evs := jetFixtureEvents(t, start)
	j := newJetServer(t, evs)
	src := newTestJetstream(t, j.url(), 300*time.Millisecond)

	res, err := src.Fetch(context.Background(), affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"3k4duaz5vfs2b1", "3kbj5lqxjs42w", "3kfqkkjdkic2e", "3kfqklhpalh2c", "3kfqkmk5kpv2o"}
	if got := jetRKeys(res.Posts); !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	if res.Skipped != 0 || res.More {
		t.Errorf("Skipped %d More %v, want 0, false", res.Skipped, res.More)
	}
	if want := strconv.FormatInt(evs[len(evs)-1].timeUS, 10); res.State.Cursor != want {
		t.Errorf("cursor %q, want the last event's time_us %s", res.State.Cursor, want)
	}
	q := j.requests[0]
	if !strings.Contains(q, "wantedCollections=app.bsky.feed.post") ||
		!strings.Contains(q, "cursor="+strconv.FormatInt(testNow.Add(-time.Hour).UnixMicro(), 10)) {
		t.Errorf("first request %q: want the post collection from now-1h", q)
	}
	for _, p := range res.Posts {
		if p.Engagement != (affinity.Engagement{}) || p.Format != affinity.FormatNetwork || p.Source != "bsky" || !p.Collected.Equal(testNow) {
			t.Errorf("post %s: %+v", p.ID, p)
		}
	}
	var bridge affinity.Post
	for _, p := range res.Posts {
		if strings.HasSuffix(p.ID, "/3kfqkmk5kpv2o") {
			bridge = p
		}
	}
	const did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
	if bridge.Author != did || bridge.URL != "https://bsky.app/profile/"+did+"/post/3kfqkmk5kpv2o" ||
		bridge.ID != "at://"+did+"/app.bsky.feed.post/3kfqkmk5kpv2o" || bridge.Language != "en" ||
		!bridge.Published.Equal(time.Date(2023, 12, 4, 19, 30, 3, 24e6, time.UTC)) ||
		!strings.Contains(bridge.Text, "code here: https://github.com/snarfed/bridgy-fed\n") {
		t.Errorf("mapped post: %+v", bridge)
	}
}

func TestJetstreamCursorResume(t *testing.T) {
	start := testNow.Add(-30 * time.Second).UnixMicro()
	recs := bskyCaptured(t, "capture_atprotocom.json")
	// 3kfqkmk5kpv2o, 3kfqklhpalh2c, 3kfqkkjdkic2e name Bridgy Fed.
	first := []jetEvent{jetPost(recs[0], start+1), jetPost(recs[2], start+2), jetPost(recs[3], start+3)}
	j := newJetServer(t, first)
	src := newTestJetstream(t, j.url(), 200*time.Millisecond)
	ctx := context.Background()

	res, err := src.Fetch(ctx, affinity.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if got := jetRKeys(res.Posts); !slices.Equal(got, []string{"3kfqklhpalh2c", "3kfqkmk5kpv2o"}) {
		t.Errorf("first fetch kept %v", got)
	}
	if res.State.Cursor != strconv.FormatInt(start+3, 10) {
		t.Fatalf("cursor %q", res.State.Cursor)
	}

	// The stream goes on; the next fetch resumes at the cursor. The event
	// at the cursor itself comes again (inclusive) and is not delivered twice.
	j.add(jetPost(recs[4], start+4), jetPost(recs[5], start+5))
	res, err = src.Fetch(ctx, res.State)
	if err != nil {
		t.Fatal(err)
	}
	if got := jetRKeys(res.Posts); !slices.Equal(got, []string{"3kfqkkjdkic2e"}) {
		t.Errorf("second fetch kept %v, want only the new match", got)
	}
	if !strings.Contains(j.requests[1], "cursor="+strconv.FormatInt(start+3, 10)) {
		t.Errorf("second request %q does not resume at the cursor", j.requests[1])
	}

	// A restart: a new source on the saved state asks from the same place.
	j.add(jetPost(recs[2], start+6)) // a second post with the same text, a new event
	restarted := newTestJetstream(t, j.url(), 200*time.Millisecond)
	res2, err := restarted.Fetch(ctx, res.State)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Posts) != 1 || res2.State.Cursor != strconv.FormatInt(start+6, 10) {
		t.Errorf("after restart: %d posts cursor %q", len(res2.Posts), res2.State.Cursor)
	}
	if !strings.Contains(j.requests[2], "cursor="+strconv.FormatInt(start+5, 10)) {
		t.Errorf("restart request %q", j.requests[2])
	}
}

func TestJetstreamConnectionCut(t *testing.T) {
	start := testNow.Add(-30 * time.Second).UnixMicro()
	recs := bskyCaptured(t, "capture_atprotocom.json")
	j := newJetServer(t, []jetEvent{
		jetPost(recs[2], start+1), jetPost(recs[0], start+2), jetPost(recs[3], start+3), jetPost(recs[4], start+4),
	})
	j.cutAfter = 2
	src := newTestJetstream(t, j.url(), 5*time.Second)
	began := time.Now()
	res, err := src.Fetch(context.Background(), affinity.SourceState{Cursor: strconv.FormatInt(start, 10)})
	if fe := fetchErr(t, err); fe.Reason != ReasonRead || !strings.Contains(err.Error(), "stream closed after 2 events") {
		t.Errorf("error %q (reason %s), want read", err, fe.Reason)
	}
	if time.Since(began) > 3*time.Second {
		t.Errorf("a cut stream took %v to notice", time.Since(began))
	}
	if got := jetRKeys(res.Posts); !slices.Equal(got, []string{"3kfqkmk5kpv2o"}) || res.State.Cursor != strconv.FormatInt(start+2, 10) {
		t.Errorf("kept %v cursor %q; want what arrived and a cursor past it only", got, res.State.Cursor)
	}

	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		src := newTestJetstream(t, "ws://"+addr+"/subscribe", time.Second)
		res, err := src.Fetch(context.Background(), affinity.SourceState{Cursor: "42"})
		if fe := fetchErr(t, err); fe.Reason != ReasonConnect || !strings.HasPrefix(err.Error(), `collector: bluesky "bsky": connect: jetstream ws://`) {
			t.Errorf("error %q (reason %s), want connect", err, fe.Reason)
		}
		if res.State.Cursor != "42" {
			t.Errorf("cursor %q changed", res.State.Cursor)
		}
	})

	t.Run("not a websocket", func(t *testing.T) {
		srv := httptest.NewServer(nil) // 404 to everything
		t.Cleanup(srv.Close)
		src := newTestJetstream(t, "ws"+strings.TrimPrefix(srv.URL, "http"), time.Second)
		_, err := src.Fetch(context.Background(), affinity.SourceState{})
		if fe := fetchErr(t, err); fe.Reason != ReasonConnect {
			t.Errorf("error %q (reason %s), want connect", err, fe.Reason)
		}
	})
}

func TestJetstreamMalformedEvents(t *testing.T) {
	start := testNow.Add(-30 * time.Second).UnixMicro()
	recs := bskyCaptured(t, "capture_atprotocom.json")
	j := newJetServer(t, []jetEvent{
		jetPost(recs[2], start+1),
		jetRaw(start+2, `not json at all`),
		jetRaw(start+3, `{"did":"did:plc:x","kind":"commit"}`), // no time_us
		jetRaw(start+4, fmt.Sprintf(`{"did":"did:plc:x","time_us":%d,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":"3abc","record":"text"}}`, start+4)),
		jetRaw(start+5, fmt.Sprintf(`{"did":"","time_us":%d,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":"3abc","record":{"text":"Bridgy Fed"}}}`, start+5)),
		jetRaw(start+6, fmt.Sprintf(`{"did":"did:plc:x","time_us":%d,"kind":"commit"}`, start+6)),
		jetRaw(start+7, `{"did":"did:plc:x","time_us":`),
		jetPost(recs[3], start+8),
		jetRaw(start+9, fmt.Sprintf(`{"did":"did:plc:x","time_us":%d,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":"3abd","record":{"text":"a bad #Bridgy Fed range","facets":[{"index":{"byteStart":40,"byteEnd":2},"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://x.example"}]}]}}}`, start+9)),
	})
	src := newTestJetstream(t, j.url(), 300*time.Millisecond)
	res, err := src.Fetch(context.Background(), affinity.SourceState{Cursor: strconv.FormatInt(start, 10)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 6 {
		t.Errorf("Skipped = %d, want 6", res.Skipped)
	}
	if got := jetRKeys(res.Posts); !slices.Equal(got, []string{"3abd", "3kfqklhpalh2c", "3kfqkmk5kpv2o"}) {
		t.Errorf("kept %v", got)
	}
	if res.State.Cursor != strconv.FormatInt(start+9, 10) {
		t.Errorf("cursor %q, want past the last event", res.State.Cursor)
	}
}

func TestJetstreamBoundedRead(t *testing.T) {
	t.Run("returns on time when the stream is quiet", func(t *testing.T) {
		j := newJetServer(t, nil)
		src := newTestJetstream(t, j.url(), 200*time.Millisecond)
		began := time.Now()
		res, err := src.Fetch(context.Background(), affinity.SourceState{Cursor: "1700000000000000"})
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(began); d < 200*time.Millisecond || d > 2*time.Second {
			t.Errorf("read for %v, want about 200ms", d)
		}
		if res.State.Cursor != "1700000000000000" || len(res.Posts) != 0 || res.More {
			t.Errorf("a quiet stream changed the state: %+v", res)
		}
	})

	t.Run("event bound", func(t *testing.T) {
		start := testNow.Add(-10 * time.Second).UnixMicro()
		j := newJetServer(t, jetFixtureEvents(t, start))
		src := newTestJetstream(t, j.url(), 5*time.Second)
		src.maxEvents = 10
		began := time.Now()
		res, err := src.Fetch(context.Background(), affinity.SourceState{})
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(began) > 2*time.Second || !res.More || len(res.Posts) != 3 {
			t.Errorf("after %v: More %v, %d posts; want quick, true, the 3 among the first 10 events", time.Since(began), res.More, len(res.Posts))
		}
	})

	t.Run("catching up reports more", func(t *testing.T) {
		start := testNow.Add(-2 * time.Hour).UnixMicro()
		j := newJetServer(t, jetFixtureEvents(t, start))
		src := newTestJetstream(t, j.url(), 200*time.Millisecond)
		res, err := src.Fetch(context.Background(), affinity.SourceState{Cursor: strconv.FormatInt(start, 10)})
		if err != nil || !res.More {
			t.Errorf("err %v More %v; a stream still two hours behind has more", err, res.More)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		j := newJetServer(t, nil)
		src := newTestJetstream(t, j.url(), 10*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, err := src.Fetch(ctx, affinity.SourceState{})
		if fe := fetchErr(t, err); fe.Reason != ReasonTimeout {
			t.Errorf("error %q (reason %s), want timeout", err, fe.Reason)
		}
		if time.Since(began) > 2*time.Second {
			t.Errorf("cancel took %v", time.Since(began))
		}
	})
}

// TestJetstreamBadEventMovesCursor: an event with a readable time_us but a
// wrong-typed field is skipped and the cursor moves past it (the next fetch
// does not replay it); a time_us far in the future moves nothing.
func TestJetstreamBadEventMovesCursor(t *testing.T) {
	start := testNow.Add(-30 * time.Second).UnixMicro()
	recs := bskyCaptured(t, "capture_atprotocom.json")
	j := newJetServer(t, []jetEvent{
		jetPost(recs[2], start+1),
		jetRaw(start+2, fmt.Sprintf(`{"did":"did:plc:x","time_us":%d,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":7}}`, start+2)),
		jetRaw(start+3, `{"did":"did:plc:x","time_us":9223372036854775807,"kind":"commit"}`),
	})
	src := newTestJetstream(t, j.url(), 300*time.Millisecond)
	res, err := src.Fetch(context.Background(), affinity.SourceState{Cursor: strconv.FormatInt(start, 10)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Posts) != 1 || res.Skipped != 2 {
		t.Errorf("%d posts, %d skipped; want 1 post, 2 skipped", len(res.Posts), res.Skipped)
	}
	if res.State.Cursor != strconv.FormatInt(start+2, 10) {
		t.Errorf("cursor %q, want %d: past the bad event, not at the future one", res.State.Cursor, start+2)
	}
}
