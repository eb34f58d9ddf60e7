package store

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// TestNearDupIndexAnswersAsSQL commits the same posts, in the same batches,
// to a store using the in-memory key index and to one using the SQL lookup
// (as PostgreSQL does): every post must end up the same, original or copy
// of the same original with the same copies. The keys are drawn so that some
// are held by far more than nearDupNearest posts on one side (boilerplate)
// and times repeat (ties), where the bound and the tie order decide.
func TestNearDupIndexAnswersAsSQL(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const posts, batch = 3000, 100
	rule := affinity.NearDupRule{MinBands: 4, Horizon: 7 * 24 * time.Hour}
	var all []affinity.AnalyzedPost
	for i := range posts {
		keys := make([]uint64, nearDupBands)
		for b := range keys {
			switch r := rng.IntN(10); {
			case r < 3:
				keys[b] = uint64(b) << 32 // boilerplate: some 900 posts share it, 300 on a side
			case r < 7:
				keys[b] = uint64(b)<<32 | 1<<20 | uint64(rng.IntN(200))
			default:
				keys[b] = uint64(b)<<32 | 1<<40 | uint64(i)
			}
		}
		ts := at(time.Duration(rng.IntN(20*24)) * time.Hour) // hours over 20 days: many equal times
		all = append(all, ndPost(fmt.Sprint("p", i), ts, keys, "t"))
	}
	// With the default cap the index holds every post; with a small one it
	// is trimmed, extended back and reads windows for the older posts (the
	// subtest logs how many).
	for _, c := range []struct{ limit, posts int }{{nearDupIndexCap, posts}, {400 * nearDupBands, 1200}} {
		t.Run(fmt.Sprint("cap=", c.limit), func(t *testing.T) {
			limit, posts := c.limit, c.posts
			ctx := context.Background()
			open := func(name string, memory bool) *SQLite {
				s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), name), nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				if !memory {
					lookUpInSQL(t, s)
				}
				return s
			}
			mem, sq := open("memory.db", true), open("sql.db", false)
			mem.nearDups.limit = limit
			var demoted int
			for i := 0; i < posts; i += batch {
				b := affinity.Batch{Source: "feed", NearDup: rule, Posts: all[i:min(i+batch, posts)]}
				rm, err := mem.Commit(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				rs, err := sq.Commit(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				if rm.NearDuplicates != rs.NearDuplicates || rm.Demoted != rs.Demoted {
					t.Fatalf("batch %d: in memory %+v, SQL %+v", i/batch, rm, rs)
				}
				demoted += rm.Demoted
			}
			read := func(s *SQLite) map[string]string {
				rows, err := s.r.QueryContext(ctx, `SELECT p.external_id, COALESCE(o.external_id, ''), p.copies FROM posts p LEFT JOIN posts o ON o.id = p.copy_of`)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				out := map[string]string{}
				for rows.Next() {
					var id, orig string
					var copies int
					if err := rows.Scan(&id, &orig, &copies); err != nil {
						t.Fatal(err)
					}
					out[id] = fmt.Sprintf("copy of %q, %d copies", orig, copies)
				}
				return out
			}
			gm, gs := read(mem), read(sq)
			copies, differ := 0, 0
			for id, want := range gs {
				if gm[id] != want {
					if differ++; differ <= 5 {
						t.Errorf("post %s: in memory %s, SQL %s", id, gm[id], want)
					}
				}
				if want[:10] != `copy of ""` {
					copies++
				}
			}
			if differ > 0 {
				t.Errorf("%d of %d posts differ", differ, len(gs))
			}
			// The set must exercise what it is for: copies, demotions, crowding.
			if copies < posts/10 || demoted == 0 {
				t.Errorf("%d copies and %d demotions among %d posts: the set no longer tests the lookup", copies, demoted, posts)
			}
			if limit < nearDupIndexCap && mem.nearDups.windowsRead == 0 {
				t.Errorf("no window read under a cap of %d keys: the set no longer tests lookups past the cap", limit)
			}
			t.Logf("%d posts, %d copies, %d demotions, %d windows read: the same in memory and in SQL", posts, copies, demoted, mem.nearDups.windowsRead)
		})
	}
}

// TestNearDupIndexRollbackAndTrim: keys of a commit that failed leave the
// index with it (a post similar to one never stored is an original), and an
// index trimmed to its cap still answers, from the stored posts for what it
// dropped.
func TestNearDupIndexRollbackAndTrim(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "index.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	commitIn := func(ctx context.Context, p affinity.AnalyzedPost) (affinity.CommitResult, error) {
		return s.Commit(ctx, affinity.Batch{Source: "feed", NearDup: ndRule, Posts: []affinity.AnalyzedPost{p}})
	}
	commitOne := func(p affinity.AnalyzedPost) (affinity.CommitResult, error) { return commitIn(ctx, p) }
	if _, err := commitOne(ndPost("first", at(0), ndKeys(1, 1, nearDupBands), "t")); err != nil {
		t.Fatal(err)
	}
	// Cancelled just before COMMIT: the transaction rolls back.
	cctx, cancel := context.WithCancel(ctx)
	s.testHookBeforeCommit = cancel
	if _, err := commitIn(cctx, ndPost("lost", at(-time.Hour), ndKeys(2, 2, nearDupBands), "t")); err == nil {
		t.Fatal("commit cancelled before COMMIT succeeded")
	}
	s.testHookBeforeCommit = nil
	res, err := commitOne(ndPost("like-lost", at(0), ndKeys(2, 3, 8), "t"))
	if err != nil || res.NearDuplicates != 0 || res.Demoted != 0 {
		t.Fatalf("a post similar only to a rolled-back one: %+v, %v; want an original", res, err)
	}

	if n := s.nearDups.n; n != 2*nearDupBands {
		t.Fatalf("index holds %d entries, want the two stored posts' %d", n, 2*nearDupBands)
	}

	// Past the cap, the index keeps only what it can; a lookup reaching
	// before it reads a window of the stored posts.
	s.nearDups.limit = 3 * nearDupBands
	for i := range 5 {
		if _, err := commitOne(ndPost(fmt.Sprint("filler", i), at(time.Duration(-20*24+i)*time.Hour), ndKeys(uint64(10+i), uint64(10+i), nearDupBands), "t")); err != nil {
			t.Fatal(err)
		}
	}
	if s.nearDups.n > s.nearDups.limit {
		t.Errorf("index holds %d entries, over its cap %d", s.nearDups.n, s.nearDups.limit)
	}
	// A copy of a post the index dropped (20 days back) is still found.
	res, err = commitOne(ndPost("copy-of-filler", at(-20*24*time.Hour+time.Minute), ndKeys(10, 99, 6), "t"))
	if err != nil || res.NearDuplicates != 1 {
		t.Errorf("copy of a post trimmed from the index: %+v, %v; want a copy", res, err)
	}
	// And one of a recent post, from the index.
	res, err = commitOne(ndPost("copy-of-first", at(time.Minute), ndKeys(1, 98, 6), "t"))
	if err != nil || res.NearDuplicates != 1 {
		t.Errorf("copy of a recent post: %+v, %v; want a copy", res, err)
	}
}

// TestNearDupIndexSeesOtherWriters: two processes may write one SQLite file
// (a replay beside the daemon); a post the other committed is found.
func TestNearDupIndexSeesOtherWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	open := func() *SQLite {
		s, err := OpenSQLite(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	daemon, replay := open(), open()
	commitTo := func(s *SQLite, p affinity.AnalyzedPost) affinity.CommitResult {
		res, err := s.Commit(ctx, affinity.Batch{Source: "feed", NearDup: ndRule, Posts: []affinity.AnalyzedPost{p}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	commitTo(daemon, ndPost("a", at(0), ndKeys(1, 1, nearDupBands), "t")) // the daemon's index is loaded
	commitTo(replay, ndPost("b", at(-time.Hour), ndKeys(2, 2, nearDupBands), "t"))
	if res := commitTo(daemon, ndPost("b-copy", at(time.Hour), ndKeys(2, 3, 8), "t")); res.NearDuplicates != 1 {
		t.Errorf("copy of a post another process committed: %+v, want a copy", res)
	}
}

// lookUpInSQL makes s look near-duplicates up as PostgreSQL does, in
// post_neardup_keys (as migration 0004 made it), instead of in memory.
func lookUpInSQL(t *testing.T, s *SQLite) {
	t.Helper()
	s.nearDups = nil
	if _, err := s.w.Exec(`CREATE TABLE post_neardup_keys (
    key     INTEGER NOT NULL,
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    ts      INTEGER NOT NULL,
    PRIMARY KEY (key, ts, post_id)
) WITHOUT ROWID;
CREATE INDEX post_neardup_keys_post ON post_neardup_keys (post_id);`); err != nil {
		t.Fatal(err)
	}
}

// TestNearDupKeysRoundTrip: the keys as Go stores them in posts.neardup_keys
// read back the same, and as migration 0009 writes them from SQL (top bit
// set included: keys are stored as signed integers).
func TestNearDupKeysRoundTrip(t *testing.T) {
	keys := []uint64{0, 1, 1<<63 | 5, math.MaxUint64, 0x0123456789abcdef}
	if got := appendNearDupKeys(nil, encodeNearDupKeys(keys)); !slices.Equal(got, keys) {
		t.Errorf("round trip: %x, want %x", got, keys)
	}
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "keys.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var blob []byte
	if err := s.r.QueryRow(`SELECT unhex(printf('%016x', ?) || printf('%016x', ?))`, int64(keys[2]), int64(keys[4])).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	if got := appendNearDupKeys(nil, blob); !slices.Equal(got, []uint64{keys[2], keys[4]}) {
		t.Errorf("migration 0009's encoding reads %x, want %x", got, []uint64{keys[2], keys[4]})
	}
}

// TestMigration0009KeepsKeys: keys stored in post_neardup_keys before 0009
// move into their posts' rows, so a copy of a post stored before the upgrade
// is still found, and a pruned post takes its keys with it.
func TestMigration0009KeepsKeys(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		dsn := d.newDSN(t)
		db := migratedTo(t, d, dsn, 8)
		ts := at(0).Unix()
		if _, err := db.Exec(`INSERT INTO posts (source, external_id, author, ts, format) VALUES ('feed', 'old', 'ann', $1, 'network')`, ts); err != nil {
			t.Fatal(err)
		}
		for _, k := range ndKeys(7, 7, nearDupBands) {
			if _, err := db.Exec(`INSERT INTO post_neardup_keys (key, post_id, ts) VALUES ($1, 1, $2)`, int64(k), ts); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()

		s := d.mustOpen(t, dsn)
		res, err := s.Commit(ctx, affinity.Batch{Source: "feed", NearDup: ndRule,
			Posts: []affinity.AnalyzedPost{ndPost("copy", at(time.Hour), ndKeys(7, 8, 6), "t")}})
		if err != nil || res.NearDuplicates != 1 {
			t.Fatalf("copy of a post keyed before migration 0009: %+v, %v; want a copy", res, err)
		}
		if _, err := s.Prune(ctx, at(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		res, err = s.Commit(ctx, affinity.Batch{Source: "feed", NearDup: ndRule,
			Posts: []affinity.AnalyzedPost{ndPost("after-prune", at(90*time.Minute), ndKeys(7, 9, 6), "t")}})
		if err != nil || res.NearDuplicates != 0 {
			t.Errorf("post similar only to pruned ones: %+v, %v; want an original", res, err)
		}
	})
}

// TestNearDupIndexExtendsBack: a store too big for the index at start
// loads only the recent posts; a backfill's lookup further back extends the
// index to cover it while that fits the cap (else it reads a window, see
// TestNearDupIndexRollbackAndTrim), and finds the older original either way.
func TestNearDupIndexExtendsBack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "extend.db")
	s, err := OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range []affinity.AnalyzedPost{
		ndPost("ancient", at(-60*24*time.Hour), ndKeys(1, 1, nearDupBands), "t"),
		ndPost("older", at(-20*24*time.Hour), ndKeys(2, 2, nearDupBands), "t"),
		ndPost("recent", at(0), ndKeys(3, 3, nearDupBands), "t"),
	} {
		if _, err := s.Commit(ctx, affinity.Batch{Source: "feed", NearDup: ndRule, Posts: []affinity.AnalyzedPost{p}}); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	s.Close()

	s, err = OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.nearDups.limit = 2 * nearDupBands // three posts do not fit: only "recent" is loaded
	res, err := s.Commit(ctx, affinity.Batch{Source: "feed", NearDup: ndRule,
		Posts: []affinity.AnalyzedPost{ndPost("older-copy", at(-20*24*time.Hour+time.Minute), ndKeys(2, 9, 6), "t")}})
	if err != nil || res.NearDuplicates != 1 {
		t.Fatalf("copy of a post before the loaded range: %+v, %v; want a copy", res, err)
	}
	// The same lookup, watched: it extends the index rather than read a
	// window, and only as far back as it needs.
	x := s.nearDups
	x.invalidate()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	x.limit = 3 * nearDupBands
	if err := x.ready(ctx, tx, ndRule.Horizon); err != nil {
		t.Fatal(err)
	}
	h := int64(ndRule.Horizon / time.Second)
	ix, err := x.lookupIn(ctx, tx, at(-20*24*time.Hour).Unix(), h)
	if err != nil {
		t.Fatal(err)
	}
	if ix != x || !x.holds(at(-20*24*time.Hour).Unix()-h, at(-20*24*time.Hour).Unix()+h) {
		t.Errorf("lookup read a window (%v) or the index does not cover it (from %s)", ix != x, time.Unix(x.lo, 0).UTC())
	}
	if x.posts[1] != nil || x.posts[2] == nil {
		t.Errorf("extended index holds ancient: %v, older: %v; want only older", x.posts[1] != nil, x.posts[2] != nil)
	}
}

// TestPruneKeepsIndexWhenNothingGoes: the hourly prune that deletes nothing
// must not make the next commit read every key again; one that deletes does.
func TestPruneKeepsIndexWhenNothingGoes(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "prune.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Commit(ctx, affinity.Batch{Source: "feed", NearDup: ndRule,
		Posts: []affinity.AnalyzedPost{ndPost("a", at(0), ndKeys(1, 1, nearDupBands), "t")}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(ctx, at(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("prune before the post: %d, %v", n, err)
	}
	if !s.nearDups.loaded {
		t.Error("a prune that deleted nothing dropped the near-duplicate index")
	}
	if n, err := s.Prune(ctx, at(time.Hour)); err != nil || n != 1 {
		t.Fatalf("prune after the post: %d, %v", n, err)
	}
	if s.nearDups.loaded {
		t.Error("a prune that deleted a post kept the index holding it")
	}
}
