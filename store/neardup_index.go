package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// nearDupIndex mirrors post_neardup_keys in memory for SQLite, whose one
// writer is the only one changing the table, so a lookup walks sorted slices
// instead of running 32 index ranges and a GROUP BY in SQL (370 µs a lookup
// on make-corpus's templated posts, half of a near-duplicate replay's CPU).
// It answers exactly as findOriginalSQL: per key the same nearest posts on
// each side, ties in the order of the (key, ts, post_id) primary key, so
// SQLite and PostgreSQL replicas keep the same originals
// (TestNearDupIndexAnswersAsSQL). It holds the keys of posts dated from lo
// on; a lookup reaching before lo (a backfill older than what was loaded)
// runs the SQL.
type nearDupIndex struct {
	mu     sync.Mutex // held for a whole Commit or Prune
	loaded bool
	// version is the writer connection's PRAGMA data_version at load: it
	// changes when another connection (another process) commits, and then
	// the index is read again rather than miss that process's posts.
	version int64
	lo      int64 // every stored key with ts >= lo is here
	maxTS   int64
	// Most keys are held by one post: those sit in one, the others in
	// many, sorted by (ts, id); with a slice for every key the
	// 100,000-post replay peaked at 184 MB RSS instead of 162.
	one   map[uint64]ndEntry
	many  map[uint64][]ndEntry
	n     int           // entries
	limit int           // the cap on n (nearDupIndexCap; tests lower it)
	added []ndAdded     // this transaction's, taken back on rollback
	count map[int64]int // reused by candidates
}

type ndEntry struct{ ts, id int64 }

type ndAdded struct {
	key uint64
	e   ndEntry
}

// nearDupIndexCap bounds the entries held (16 per keyed post; the
// 100,000-post replay holds about 720,000): past it the oldest are dropped
// and lookups reaching them use the SQL, so memory stays bounded on any history.
const nearDupIndexCap = 2_000_000

func newNearDupIndex() *nearDupIndex { return &nearDupIndex{limit: nearDupIndexCap} }

// ready loads the index unless it is loaded and nobody else wrote since.
func (x *nearDupIndex) ready(ctx context.Context, tx *sql.Tx, horizon time.Duration) error {
	var version int64
	if err := tx.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
		return fmt.Errorf("near-duplicate index: %w", err)
	}
	if x.loaded && version == x.version {
		return nil
	}
	x.version = version
	return x.load(ctx, tx, horizon)
}

// load reads the keys dated within twice the horizon of the newest (all of
// them on a young store); callers hold mu.
func (x *nearDupIndex) load(ctx context.Context, tx *sql.Tx, horizon time.Duration) error {
	var newest sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(ts) FROM post_neardup_keys`).Scan(&newest); err != nil {
		return fmt.Errorf("near-duplicate index: %w", err)
	}
	x.reset(math.MinInt64)
	x.added = nil
	x.maxTS = math.MinInt64
	if newest.Valid {
		x.lo = newest.Int64 - 2*int64(horizon/time.Second)
		x.maxTS = newest.Int64
	}
	var key uint64
	var es []ndEntry
	if err := scanRows(ctx, tx, `SELECT key, ts, post_id FROM post_neardup_keys WHERE ts >= ? ORDER BY key, ts, post_id`,
		[]any{x.lo}, func(rows *sql.Rows) error {
			var k, ts, id int64
			if err := rows.Scan(&k, &ts, &id); err != nil {
				return err
			}
			if uint64(k) != key && len(es) > 0 {
				x.put(key, es)
				es = nil
			}
			key = uint64(k)
			es = append(es, ndEntry{ts, id})
			x.n++
			return nil
		}); err != nil {
		return fmt.Errorf("near-duplicate index: %w", err)
	}
	if len(es) > 0 {
		x.put(key, es)
	}
	x.loaded = true
	return nil
}

// covers reports whether the index holds every key a lookup from ts−horizon
// needs.
func (x *nearDupIndex) covers(ts int64, horizon int64) bool {
	return x.loaded && ts-horizon >= x.lo
}

// candidates returns, as findOriginalSQL's inner query does, the posts
// among each key's nearest nearDupNearest on either side of ts within the
// horizon that hold at least minBands of keys.
func (x *nearDupIndex) candidates(keys []uint64, ts, horizon int64, minBands int) []int64 {
	if x.count == nil {
		x.count = map[int64]int{}
	}
	clear(x.count)
	for i, k := range keys {
		if slices.Contains(keys[:i], k) {
			continue // a key listed twice counts once
		}
		var buf [1]ndEntry
		es := x.get(k, &buf)
		// The first entry after ts: before it, the nearest at or before ts.
		at, _ := slices.BinarySearchFunc(es, ts, func(e ndEntry, t int64) int {
			if e.ts <= t {
				return -1
			}
			return 1
		})
		for j, n := at-1, 0; j >= 0 && n < nearDupNearest && es[j].ts >= ts-horizon; j, n = j-1, n+1 {
			x.count[es[j].id]++
		}
		for j, n := at, 0; j < len(es) && n < nearDupNearest && es[j].ts <= ts+horizon; j, n = j+1, n+1 {
			x.count[es[j].id]++
		}
	}
	var out []int64
	for id, c := range x.count {
		if c >= minBands {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// add records a post's keys in this transaction.
func (x *nearDupIndex) add(keys []uint64, ts, id int64) {
	if !x.loaded || ts < x.lo {
		return
	}
	for _, k := range keys {
		if x.insert(k, ndEntry{ts, id}) {
			x.added = append(x.added, ndAdded{k, ndEntry{ts, id}})
		}
	}
	x.maxTS = max(x.maxTS, ts)
}

// cmpEntry orders entries as the primary key (key, ts, post_id) does.
func cmpEntry(a, b ndEntry) int { return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.id, b.id)) }

// get returns k's entries; buf holds a single one.
func (x *nearDupIndex) get(k uint64, buf *[1]ndEntry) []ndEntry {
	if es, ok := x.many[k]; ok {
		return es
	}
	if e, ok := x.one[k]; ok {
		buf[0] = e
		return buf[:]
	}
	return nil
}

// put sets k's entries.
func (x *nearDupIndex) put(k uint64, es []ndEntry) {
	switch len(es) {
	case 0:
		delete(x.one, k)
		delete(x.many, k)
	case 1:
		delete(x.many, k)
		x.one[k] = es[0]
	default:
		delete(x.one, k)
		x.many[k] = es
	}
}

// insert adds e under k unless there (a key listed twice by one post).
func (x *nearDupIndex) insert(k uint64, e ndEntry) bool {
	var buf [1]ndEntry
	es := x.get(k, &buf)
	i, found := slices.BinarySearchFunc(es, e, cmpEntry)
	if found {
		return false
	}
	if len(es) == 1 {
		es = []ndEntry{es[0]} // off buf
	}
	x.put(k, slices.Insert(es, i, e))
	x.n++
	return true
}

// settle ends a transaction: committed, its entries stay (and the index is
// trimmed to its cap); rolled back, they go.
func (x *nearDupIndex) settle(committed bool, horizon time.Duration) {
	if !committed {
		for _, a := range x.added {
			var buf [1]ndEntry
			es := x.get(a.key, &buf)
			if i, found := slices.BinarySearchFunc(es, a.e, cmpEntry); found {
				x.put(a.key, slices.Delete(slices.Clone(es), i, i+1))
				x.n--
			}
		}
	}
	x.added = x.added[:0]
	if x.n > x.limit {
		x.trim(horizon)
	}
}

// trim drops the entries older than twice the horizon before the newest,
// then, if still over the cap, all of them: later lookups reaching before lo
// use the SQL.
func (x *nearDupIndex) trim(horizon time.Duration) {
	lo := x.maxTS - 2*int64(horizon/time.Second)
	if lo <= x.lo {
		x.reset(x.maxTS + 1)
		return
	}
	x.lo = lo
	for k, e := range x.one {
		if e.ts < lo {
			delete(x.one, k)
			x.n--
		}
	}
	for k, es := range x.many {
		i, _ := slices.BinarySearchFunc(es, lo, func(e ndEntry, t int64) int {
			if e.ts < t {
				return -1
			}
			return 1
		})
		x.n -= i
		if i > 0 {
			x.put(k, slices.Clone(es[i:]))
		}
	}
	if x.n > x.limit {
		x.reset(x.maxTS + 1)
	}
}

// reset empties the index, which from now on holds posts dated from lo.
func (x *nearDupIndex) reset(lo int64) {
	x.one, x.many, x.n, x.lo = map[uint64]ndEntry{}, map[uint64][]ndEntry{}, 0, lo
}

// invalidate makes the next commit reload the index (after a prune).
func (x *nearDupIndex) invalidate() {
	x.loaded, x.one, x.many, x.n, x.added = false, nil, nil, 0, nil
}

// postsByID reads the candidates' rows as findOriginalSQL returns them.
func postsByID(ctx context.Context, tx *sql.Tx, ids []int64) ([]nearDupPost, error) {
	var out []nearDupPost
	for len(ids) > 0 {
		part := ids[:min(len(ids), 500)] // under SQLite's 999 variables
		ids = ids[len(part):]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		if err := scanRows(ctx, tx, `SELECT id, ts, source, external_id, copy_of, copies FROM posts WHERE id IN (`+
			placeholders(len(part))+`)`, args, func(rows *sql.Rows) error {
			return scanNearDupPost(rows, &out)
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
