package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// driver opens one Store implementation; the behaviour tests run over every
// entry of drivers: SQLite and PostgreSQL (suite_test.go).
type driver struct {
	name string
	// newDSN returns the location of a fresh, empty database for t.
	newDSN func(t testing.TB) string
	open   func(ctx context.Context, dsn string) (Store, error)
	// raw opens dsn without the store, to look at or tamper with the schema;
	// its queries take ? placeholders on every driver.
	raw func(t testing.TB, dsn string) *sql.DB
	// migrations are the driver's embedded schema steps, and migrate applies
	// steps to a raw database the way the store does.
	migrations func() ([]migration, error)
	migrate    func(ctx context.Context, db *sql.DB, ms []migration, logger *slog.Logger) error
	// tableCount counts the tables named by its one argument.
	tableCount string
}

var drivers = []driver{{
	name:   "sqlite",
	newDSN: func(t testing.TB) string { return filepath.Join(t.TempDir(), "affinityd.db") },
	open: func(ctx context.Context, dsn string) (Store, error) {
		return OpenSQLite(ctx, dsn, nil)
	},
	raw:        func(t testing.TB, dsn string) *sql.DB { return rawDB(t, dsn) },
	migrations: func() ([]migration, error) { return loadMigrations(sqliteMigrations, "migrations/sqlite") },
	migrate: func(ctx context.Context, db *sql.DB, ms []migration, logger *slog.Logger) error {
		return migrate(ctx, db, ms, logger)
	},
	tableCount: `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,
}, postgresDriver}

// mustOpen opens dsn and closes the store when the test ends.
func (d driver) mustOpen(t testing.TB, dsn string) Store {
	t.Helper()
	s, err := d.open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open %s: %v", d.name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func forEachDriver(t *testing.T, fn func(t *testing.T, d driver)) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) { fn(t, d) })
	}
}

// forEachStore runs fn on a fresh, empty store of every driver.
func forEachStore(t *testing.T, fn func(t *testing.T, s Store)) {
	forEachDriver(t, func(t *testing.T, d driver) { fn(t, d.mustOpen(t, d.newDSN(t))) })
}

// t0 is a whole second, as the store keeps times at second resolution.
var t0 = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func post(source, id, url string, published time.Time) affinity.Post {
	return affinity.Post{
		Source: source, ID: id, URL: url, Published: published,
		Collected: published.Add(time.Minute), Format: affinity.FormatNetwork,
	}
}

func analyzed(p affinity.Post, topics ...string) affinity.AnalyzedPost {
	return affinity.AnalyzedPost{Post: p, Analysis: affinity.Analysis{Topics: topics}}
}

func commit(t *testing.T, s Store, b affinity.Batch) affinity.CommitResult {
	t.Helper()
	res, err := s.Commit(context.Background(), b)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return res
}

func windows(t *testing.T, s Store, from, to time.Time) map[string]affinity.TopicWindow {
	t.Helper()
	ws, err := s.TopicWindows(context.Background(), affinity.Window{From: from, To: to})
	if err != nil {
		t.Fatalf("topic windows: %v", err)
	}
	return ws
}

func totals(t *testing.T, s Store) map[string]map[affinity.Format]int64 {
	t.Helper()
	tot, err := s.MentionTotals(context.Background())
	if err != nil {
		t.Fatalf("mention totals: %v", err)
	}
	return tot
}

func ids(posts []affinity.Post) []string {
	out := []string{}
	for _, p := range posts {
		out = append(out, p.Source+"/"+p.ID)
	}
	return out
}

func TestFilterNew(t *testing.T) {
	stored := []affinity.Post{
		post("mastodon", "1", "https://social.example/@a/1", at(0)),
		post("hn", "100", "https://blog.example.com/post?utm_source=hn", at(0)),
		post("feed", "noURL", "", at(0)),
	}
	tests := []struct {
		name      string
		in        []affinity.Post
		wantFresh []string
		wantDups  int
	}{
		{"nothing in, nothing out", nil, []string{}, 0},
		{
			"unknown posts are fresh, in input order",
			[]affinity.Post{post("mastodon", "3", "", at(0)), post("mastodon", "2", "", at(0))},
			[]string{"mastodon/3", "mastodon/2"}, 0,
		},
		{
			"stored (source, id) is dropped",
			[]affinity.Post{post("mastodon", "1", "https://other.example/x", at(0)), post("mastodon", "2", "", at(0))},
			[]string{"mastodon/2"}, 1,
		},
		{
			"same id in another source is fresh",
			[]affinity.Post{post("bluesky", "1", "", at(0))},
			[]string{"bluesky/1"}, 0,
		},
		{
			"stored canonical URL from another source, tracking params differ",
			[]affinity.Post{post("reddit", "r1", "HTTPS://Blog.Example.com/post/?utm_medium=social&fbclid=zz#c", at(0))},
			[]string{}, 1,
		},
		{
			"posts without URL never collide by URL",
			[]affinity.Post{post("feed", "a", "", at(0)), post("feed", "b", "", at(0))},
			[]string{"feed/a", "feed/b"}, 0,
		},
		{
			"within the slice: same (source, id), first wins",
			[]affinity.Post{
				post("lemmy", "7", "https://l.example/7", at(0)),
				post("lemmy", "7", "https://l.example/7-edited", at(0)),
				post("lemmy", "8", "", at(0)),
			},
			[]string{"lemmy/7", "lemmy/8"}, 1,
		},
		{
			"within the slice: same canonical URL across sources, first wins",
			[]affinity.Post{
				post("hn", "200", "https://news.example/story?id=5&utm_source=hn", at(0)),
				post("reddit", "t3_x", "https://news.example/story?utm_campaign=r&id=5", at(0)),
			},
			[]string{"hn/200"}, 1,
		},
		{
			"a dropped post does not block a later one by its URL",
			[]affinity.Post{
				post("mastodon", "1", "https://fresh.example/a", at(0)), // stored id
				post("bluesky", "b1", "https://fresh.example/a", at(0)),
			},
			[]string{"bluesky/b1"}, 1,
		},
	}
	forEachStore(t, func(t *testing.T, s Store) {
		var aps []affinity.AnalyzedPost
		for _, p := range stored {
			aps = append(aps, analyzed(p, "x"))
		}
		commit(t, s, affinity.Batch{Source: "seed", Posts: aps})
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				fresh, dups, err := s.FilterNew(context.Background(), tt.in)
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(fresh); !slices.Equal(got, tt.wantFresh) {
					t.Errorf("fresh = %v, want %v", got, tt.wantFresh)
				}
				if dups != tt.wantDups {
					t.Errorf("duplicates = %d, want %d", dups, tt.wantDups)
				}
			})
		}
	})
}

func TestFilterNewManyPosts(t *testing.T) {
	// More posts than one IN (...) chunk holds, half of them stored.
	forEachStore(t, func(t *testing.T, s Store) {
		var all []affinity.Post
		var stored []affinity.AnalyzedPost
		for i := range 1200 {
			p := post("feed", fmt.Sprint(i), fmt.Sprintf("https://example.com/%d", i), at(0))
			all = append(all, p)
			if i%2 == 0 {
				p.Source, p.ID = "other", "o"+p.ID // stored under another key: URL decides
				stored = append(stored, analyzed(p))
			}
		}
		commit(t, s, affinity.Batch{Source: "feed", Posts: stored})
		fresh, dups, err := s.FilterNew(context.Background(), all)
		if err != nil {
			t.Fatal(err)
		}
		if len(fresh) != 600 || dups != 600 {
			t.Fatalf("fresh %d, duplicates %d; want 600, 600", len(fresh), dups)
		}
		for _, p := range fresh {
			var i int
			fmt.Sscan(p.ID, &i)
			if i%2 == 0 {
				t.Fatalf("stored post %s reported fresh", p.ID)
			}
		}
	})
}

func TestCommitResult(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		a := post("mastodon", "1", "https://a.example/1", at(0))
		b := post("hn", "2", "https://b.example/2", at(time.Hour))
		b.Format = affinity.FormatCommunity
		c := post("reddit", "3", "https://a.example/1?utm_source=reddit", at(0)) // a's URL, not filtered
		d := post("mastodon", "1", "", at(0))                                    // a's id
		batch := affinity.Batch{Source: "mixed", Posts: []affinity.AnalyzedPost{
			analyzed(a, "pricing", "support", "pricing"), // a topic listed twice counts once
			analyzed(b, "pricing"),
			analyzed(c, "pricing"),
			analyzed(d, "support"),
		}}
		got := commit(t, s, batch)
		want := affinity.CommitResult{New: 2, Duplicates: 2, Mentions: map[string]map[affinity.Format]int{
			"pricing": {affinity.FormatNetwork: 1, affinity.FormatCommunity: 1},
			"support": {affinity.FormatNetwork: 1},
		}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("commit result = %+v, want %+v", got, want)
		}
		wantTotals := map[string]map[affinity.Format]int64{
			"pricing": {affinity.FormatNetwork: 1, affinity.FormatCommunity: 1},
			"support": {affinity.FormatNetwork: 1},
		}
		if tot := totals(t, s); !reflect.DeepEqual(tot, wantTotals) {
			t.Errorf("totals = %v, want %v", tot, wantTotals)
		}

		empty := commit(t, s, affinity.Batch{Source: "none"})
		if empty.New != 0 || empty.Duplicates != 0 || len(empty.Mentions) != 0 {
			t.Errorf("empty batch result = %+v", empty)
		}
	})
}

func TestCommitTwiceCountsOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		batch := affinity.Batch{Source: "feed", Posts: []affinity.AnalyzedPost{
			analyzed(post("feed", "1", "https://x.example/1", at(0)), "t1", "t2"),
			analyzed(post("feed", "2", "https://x.example/2", at(time.Minute)), "t1"),
		}}
		first := commit(t, s, batch)
		second := commit(t, s, batch)
		if first.New != 2 || first.Duplicates != 0 {
			t.Errorf("first commit = %+v, want 2 new", first)
		}
		if second.New != 0 || second.Duplicates != 2 || len(second.Mentions) != 0 {
			t.Errorf("second commit = %+v, want 2 duplicates and no mentions", second)
		}
		wantTotals := map[string]map[affinity.Format]int64{
			"t1": {affinity.FormatNetwork: 2},
			"t2": {affinity.FormatNetwork: 1},
		}
		if tot := totals(t, s); !reflect.DeepEqual(tot, wantTotals) {
			t.Errorf("totals = %v, want %v", tot, wantTotals)
		}
		ws := windows(t, s, at(-time.Hour), at(time.Hour))
		if ws["t1"].Mentions != 2 || ws["t2"].Mentions != 1 {
			t.Errorf("window mentions t1=%d t2=%d, want 2 and 1", ws["t1"].Mentions, ws["t2"].Mentions)
		}
	})
}

func TestReopenPersists(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d driver) {
		dsn := d.newDSN(t)
		s, err := d.open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		state := &affinity.SourceState{Source: "feed", Cursor: "c1", ETag: `"e1"`, LastModified: "Mon, 02 Nov 2026 11:00:00 GMT", NextCheck: at(time.Hour)}
		commit(t, s, affinity.Batch{Source: "feed", State: state, Posts: []affinity.AnalyzedPost{
			analyzed(post("feed", "1", "https://x.example/1", at(0)), "t1"),
		}})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = d.mustOpen(t, dsn)
		if tot := totals(t, s); tot["t1"][affinity.FormatNetwork] != 1 {
			t.Errorf("totals after reopen = %v", tot)
		}
		if ws := windows(t, s, at(0), at(time.Second)); ws["t1"].Mentions != 1 {
			t.Errorf("windows after reopen = %v", ws)
		}
		st, ok, err := s.SourceState(context.Background(), "feed")
		if err != nil || !ok || st != *state {
			t.Errorf("state after reopen = %+v, %v, %v; want %+v", st, ok, err, *state)
		}
		// The reopened store still deduplicates against what was stored before.
		if fresh, _, _ := s.FilterNew(context.Background(), []affinity.Post{post("feed", "1", "", at(0))}); len(fresh) != 0 {
			t.Errorf("post stored before reopen reported fresh")
		}
	})
}

func TestSourceState(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		if _, ok, err := s.SourceState(ctx, "feed"); ok || err != nil {
			t.Fatalf("unsaved state: ok=%v err=%v", ok, err)
		}
		// State.Source defaults to the batch's source.
		commit(t, s, affinity.Batch{Source: "feed", State: &affinity.SourceState{Cursor: "1"}})
		st, ok, _ := s.SourceState(ctx, "feed")
		if !ok || st != (affinity.SourceState{Source: "feed", Cursor: "1"}) {
			t.Errorf("saved state = %+v, %v", st, ok)
		}
		// A nil State leaves the saved one alone.
		commit(t, s, affinity.Batch{Source: "feed", Posts: []affinity.AnalyzedPost{analyzed(post("feed", "1", "", at(0)))}})
		if st, _, _ := s.SourceState(ctx, "feed"); st.Cursor != "1" {
			t.Errorf("nil State changed the saved state: %+v", st)
		}
		// A later state replaces every field; NextCheck rounds up to the second.
		commit(t, s, affinity.Batch{Source: "feed", State: &affinity.SourceState{Source: "feed", ETag: "e", NextCheck: at(1500 * time.Millisecond)}})
		st, _, _ = s.SourceState(ctx, "feed")
		if want := (affinity.SourceState{Source: "feed", ETag: "e", NextCheck: at(2 * time.Second)}); st != want {
			t.Errorf("replaced state = %+v, want %+v", st, want)
		}
		// A state for another source than the batch's is a caller bug.
		if _, err := s.Commit(ctx, affinity.Batch{Source: "feed", State: &affinity.SourceState{Source: "hn"}}); err == nil {
			t.Errorf("mismatched state source accepted")
		}
	})
}

func TestCommitCancelledStoresNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.Commit(ctx, affinity.Batch{Source: "feed",
			State: &affinity.SourceState{Source: "feed", Cursor: "c"},
			Posts: []affinity.AnalyzedPost{analyzed(post("feed", "1", "", at(0)), "t")}})
		if err == nil {
			t.Fatal("commit with a cancelled context succeeded")
		}
		assertEmpty(t, s)
	})
}

// TestCommitCancelledAtCommit cancels after every statement ran, just before
// COMMIT: the worst moment for atomicity.
func TestCommitCancelledAtCommit(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx, cancel := context.WithCancel(context.Background())
		setCommitHook(t, s, cancel)
		_, err := s.Commit(ctx, affinity.Batch{Source: "feed",
			State: &affinity.SourceState{Source: "feed", Cursor: "c"},
			Posts: []affinity.AnalyzedPost{
				{Post: post("feed", "1", "https://x.example/1", at(0)), Analysis: affinity.Analysis{Topics: []string{"t"}, Brands: []string{"acme"}}},
			}})
		if err == nil {
			t.Fatal("commit whose context was cancelled before COMMIT succeeded")
		}
		setCommitHook(t, s, nil)
		assertEmpty(t, s)
	})
}

// assertEmpty checks that no post, mention, total or state is visible.
func assertEmpty(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	if fresh, _, _ := s.FilterNew(ctx, []affinity.Post{post("feed", "1", "https://x.example/1", at(0))}); len(fresh) != 1 {
		t.Errorf("post stored")
	}
	if tot := totals(t, s); len(tot) != 0 {
		t.Errorf("totals = %v, want none", tot)
	}
	if ws := windows(t, s, at(-time.Hour), at(time.Hour)); len(ws) != 0 {
		t.Errorf("windows = %v, want none", ws)
	}
	if _, ok, _ := s.SourceState(ctx, "feed"); ok {
		t.Errorf("source state saved")
	}
}

func TestTopicWindows(t *testing.T) {
	mk := func(id, author string, ts time.Time, format affinity.Format, topics, brands []string, eng, sent float64) affinity.AnalyzedPost {
		p := post("src", id, "", ts)
		p.Author, p.Format = author, format
		return affinity.AnalyzedPost{Post: p, Analysis: affinity.Analysis{Topics: topics, Brands: brands, Engagement: eng, Sentiment: sent}}
	}
	N, C, A := affinity.FormatNetwork, affinity.FormatCommunity, affinity.FormatAudience
	posts := []affinity.AnalyzedPost{
		mk("before", "zed", at(-time.Second), N, []string{"t1"}, []string{"acme"}, 100, 1),
		mk("from", "ann", at(0), N, []string{"t1", "t2"}, []string{"acme", "rival"}, 1.5, 0.5),
		mk("mid1", "ann", at(time.Hour), C, []string{"t1"}, []string{"acme"}, 2, -0.2),
		mk("mid2", "", at(2*time.Hour), A, []string{"t1"}, nil, 0.25, 0),
		mk("mid3", "", at(3*time.Hour), C, []string{"t2"}, []string{"rival"}, 0, -1),
		mk("odd", "eve", at(4*time.Hour), "", []string{"t2"}, nil, 0, 0), // a format outside affinity.Formats still counts
		mk("last", "bob", at(24*time.Hour-time.Second), N, []string{"t1"}, []string{"rival"}, 1, 0.1),
		mk("to", "carl", at(24*time.Hour), N, []string{"t1", "t3"}, []string{"acme"}, 100, 1),
	}
	// Published after Collected: the post counts at its collection time.
	future := mk("future", "dan", at(48*time.Hour), N, []string{"t4"}, nil, 1, 0)
	future.Post.Collected = at(30 * time.Minute)
	posts = append(posts, future)

	tests := []struct {
		name     string
		from, to time.Time
		want     map[string]affinity.TopicWindow
	}{
		{
			"day: From inclusive, To exclusive", at(0), at(24 * time.Hour),
			map[string]affinity.TopicWindow{
				"t1": {Topic: "t1", Mentions: 4, Authors: 2, Engagement: 4.75, Positive: 2, Negative: 1,
					Formats: map[affinity.Format]int64{N: 2, C: 1, A: 1},
					Brands:  map[string]int64{"acme": 2, "rival": 2},
					// acme: "from" (+), "mid1" (−); rival: "from" and "last" (+).
					BrandPositive: map[string]int64{"acme": 1, "rival": 2},
					BrandNegative: map[string]int64{"acme": 1}},
				"t2": {Topic: "t2", Mentions: 3, Authors: 2, Engagement: 1.5, Positive: 1, Negative: 1,
					Formats: map[affinity.Format]int64{N: 1, C: 1, "": 1},
					Brands:  map[string]int64{"acme": 1, "rival": 2},
					// rival: "from" (+), "mid3" (−); "odd" names no brand.
					BrandPositive: map[string]int64{"acme": 1, "rival": 1},
					BrandNegative: map[string]int64{"rival": 1}},
				"t4": {Topic: "t4", Mentions: 1, Authors: 1, Engagement: 1,
					Formats: map[affinity.Format]int64{N: 1}, Brands: map[string]int64{},
					BrandPositive: map[string]int64{}, BrandNegative: map[string]int64{}},
			},
		},
		{
			"one second at To", at(24 * time.Hour), at(24*time.Hour + time.Second),
			map[string]affinity.TopicWindow{
				"t1": {Topic: "t1", Mentions: 1, Authors: 1, Engagement: 100, Positive: 1,
					Formats: map[affinity.Format]int64{N: 1}, Brands: map[string]int64{"acme": 1},
					BrandPositive: map[string]int64{"acme": 1}, BrandNegative: map[string]int64{}},
				"t3": {Topic: "t3", Mentions: 1, Authors: 1, Engagement: 100, Positive: 1,
					Formats: map[affinity.Format]int64{N: 1}, Brands: map[string]int64{"acme": 1},
					BrandPositive: map[string]int64{"acme": 1}, BrandNegative: map[string]int64{}},
			},
		},
		{"empty window", at(5 * time.Hour), at(6 * time.Hour), map[string]affinity.TopicWindow{}},
		{"inverted window", at(time.Hour), at(0), map[string]affinity.TopicWindow{}},
	}
	forEachStore(t, func(t *testing.T, s Store) {
		commit(t, s, affinity.Batch{Source: "src", Posts: posts})
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := windows(t, s, tt.from, tt.to); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("windows:\n got %+v\nwant %+v", got, tt.want)
				}
			})
		}
	})
}

func TestEvidence(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		full := affinity.Post{
			Source: "hn", ID: "42", URL: "https://news.example/item?id=42&utm_source=x", Author: "pg",
			Published: at(2 * time.Hour), Collected: at(3 * time.Hour), Language: "en",
			Title: "Title", Text: "<p>Body</p>", Format: affinity.FormatCommunity,
			Engagement: affinity.Engagement{Likes: 1, Reposts: 2, Replies: 3, Score: 4},
		}
		noPublished := post("feed", "np", "", time.Time{})
		noPublished.Collected = at(time.Hour)
		older := post("feed", "old", "", at(0))
		other := post("feed", "other", "", at(5*time.Hour))
		commit(t, s, affinity.Batch{Source: "mixed", Posts: []affinity.AnalyzedPost{
			analyzed(older, "t"), analyzed(full, "t"), analyzed(noPublished, "t"), analyzed(other, "u"),
		}})

		got, err := s.Evidence(context.Background(), "t", 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"hn/42", "feed/np", "feed/old"}; !slices.Equal(ids(got), want) {
			t.Fatalf("evidence order = %v, want %v", ids(got), want)
		}
		if !reflect.DeepEqual(got[0], full) {
			t.Errorf("restored post\n got %+v\nwant %+v", got[0], full)
		}
		if !got[1].Published.IsZero() || !got[1].Collected.Equal(at(time.Hour)) {
			t.Errorf("post without publication time restored as published %v collected %v", got[1].Published, got[1].Collected)
		}

		if got, _ := s.Evidence(context.Background(), "t", 2); len(got) != 2 {
			t.Errorf("limit 2 gave %d posts", len(got))
		}
		if got, _ := s.Evidence(context.Background(), "t", 0); len(got) != 0 {
			t.Errorf("limit 0 gave %d posts", len(got))
		}
		if got, _ := s.Evidence(context.Background(), "unknown", 5); len(got) != 0 {
			t.Errorf("unknown topic gave %d posts", len(got))
		}
	})
}

func TestPrune(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		// More old posts than one prune batch, so the loop runs several times.
		const old = pruneBatch*2 + 17
		var batch []affinity.AnalyzedPost
		for i := range old {
			p := post("feed", fmt.Sprint("old", i), fmt.Sprintf("https://x.example/old/%d", i), at(-48*time.Hour+time.Duration(i)*time.Second))
			batch = append(batch, affinity.AnalyzedPost{Post: p, Analysis: affinity.Analysis{Topics: []string{"t"}, Brands: []string{"acme"}}})
		}
		keep := post("feed", "keep", "https://x.example/keep", at(0))
		batch = append(batch, affinity.AnalyzedPost{Post: keep, Analysis: affinity.Analysis{Topics: []string{"t"}, Brands: []string{"acme"}}})
		state := &affinity.SourceState{Source: "feed", Cursor: "c"}
		commit(t, s, affinity.Batch{Source: "feed", Posts: batch, State: state})

		n, err := s.Prune(ctx, at(0))
		if err != nil {
			t.Fatal(err)
		}
		if n != old {
			t.Errorf("pruned %d posts, want %d", n, old)
		}
		if tot := totals(t, s); tot["t"][affinity.FormatNetwork] != old+1 {
			t.Errorf("totals after prune = %v, want %d (never lowered)", tot, old+1)
		}
		ws := windows(t, s, at(-72*time.Hour), at(time.Hour))
		if w := ws["t"]; w.Mentions != 1 || w.Brands["acme"] != 1 {
			t.Errorf("window after prune = %+v, want only the kept post", w)
		}
		if ev, _ := s.Evidence(ctx, "t", 10); !slices.Equal(ids(ev), []string{"feed/keep"}) {
			t.Errorf("evidence after prune = %v", ids(ev))
		}
		if st, ok, _ := s.SourceState(ctx, "feed"); !ok || st != *state {
			t.Errorf("state after prune = %+v, %v", st, ok)
		}
		// Pruned posts are forgotten: fetched again, they are new.
		fresh, _, _ := s.FilterNew(ctx, []affinity.Post{batch[0].Post, keep})
		if !slices.Equal(ids(fresh), []string{"feed/old0"}) {
			t.Errorf("fresh after prune = %v", ids(fresh))
		}
		if n, err := s.Prune(ctx, at(0)); n != 0 || err != nil {
			t.Errorf("second prune = %d, %v", n, err)
		}
	})
}

func TestConcurrentCommits(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		const workers, batches, perBatch = 8, 6, 20
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, workers*batches*2)
		for w := range workers {
			wg.Go(func() {
				for b := range batches {
					var aps []affinity.AnalyzedPost
					for i := range perBatch {
						// Every worker also commits the same shared posts: each must count once.
						id := fmt.Sprintf("w%d-b%d-%d", w, b, i)
						if i < 5 {
							id = fmt.Sprintf("shared-b%d-%d", b, i)
						}
						aps = append(aps, analyzed(post("feed", id, "", at(time.Duration(i)*time.Second)), "t"))
					}
					src := fmt.Sprint("worker", w)
					if _, err := s.Commit(ctx, affinity.Batch{Source: src, Posts: aps,
						State: &affinity.SourceState{Source: src, Cursor: fmt.Sprint(b)}}); err != nil {
						errs <- err
					}
					// Readers run alongside the writers.
					if _, err := s.TopicWindows(ctx, affinity.Window{From: at(-time.Hour), To: at(time.Hour)}); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		want := int64(workers*batches*(perBatch-5) + batches*5)
		if got := totals(t, s)["t"][affinity.FormatNetwork]; got != want {
			t.Errorf("total = %d, want %d", got, want)
		}
		if got := windows(t, s, at(-time.Hour), at(time.Hour))["t"].Mentions; got != want {
			t.Errorf("window mentions = %d, want %d", got, want)
		}
		for w := range workers {
			if st, _, _ := s.SourceState(ctx, fmt.Sprint("worker", w)); st.Cursor != fmt.Sprint(batches-1) {
				t.Errorf("worker %d state = %+v", w, st)
			}
		}
	})
}

func TestPingClose(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d driver) {
		s, err := d.open(context.Background(), d.newDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
		if err := s.Ping(context.Background()); err == nil {
			t.Errorf("ping after close succeeded")
		}
	})
}
