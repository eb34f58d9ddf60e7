package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// nearDupIndex holds SQLite's near-duplicate keys in memory, with the rows
// a lookup needs of each keyed post. SQLite has one writer, so the index
// sees every change, and a lookup walks sorted slices instead of running 32
// index ranges, a GROUP BY and a read of each candidate's row in SQL (370 µs
// a lookup on make-corpus's templated posts, half of a near-duplicate
// replay's CPU). The keys themselves are stored in their post's row
// (posts.neardup_keys, migration 0009), read only to load the index.
// It answers exactly as findOriginalSQL, PostgreSQL's lookup: per key the
// same nearest posts on each side, ties in the order of the (key, ts,
// post_id) primary key, so SQLite and PostgreSQL replicas keep the same
// originals (TestNearDupIndexAnswersAsSQL). It holds the keyed posts dated
// from lo to hi; a lookup reaching outside (a backfill older than what was
// loaded, past the cap) reads a window of older posts (window).
type nearDupIndex struct {
	mu     sync.Mutex // held for a whole Commit or Prune
	loaded bool
	// version is the writer connection's PRAGMA data_version at load: it
	// changes when another connection (another process) commits, and then
	// the index is read again rather than miss that process's posts.
	version int64
	lo, hi  int64 // every keyed post with lo <= ts <= hi is here
	maxTS   int64
	// Most keys are held by one post: those sit in one, the others in
	// many, sorted by (ts, id); with a slice for every key the
	// 100,000-post replay peaked at 184 MB RSS instead of 162.
	one   map[uint64]ndEntry
	many  map[uint64][]ndEntry
	posts map[int64]*nearDupPost // the indexed posts, as a lookup returns them
	// copies lists, per original, its indexed copies: a demotion repoints
	// them (scanning posts instead was a fifth of a replay's commit time).
	// Ids trimmed from posts are dropped when met.
	copies map[int64][]int64
	n      int           // entries
	limit  int           // the cap on n (nearDupIndexCap; tests lower it)
	count  map[int64]int // reused by candidates
	// reader, when set, is a pool of read connections the whole index is
	// loaded through: reading every keyed post through the writer filled
	// its 16 MiB page cache for good.
	reader *sql.DB
	// window holds an older stretch of posts for lookups this one does not
	// cover and cannot grow to (a backfill past the cap), until the index
	// is next read.
	window *nearDupIndex
	// windowsRead counts the windows reach read, so a test can tell that a
	// backfill past the cap was answered through them.
	windowsRead int
}

type ndEntry struct{ ts, id int64 }

// nearDupIndexCap bounds the entries held (16 per keyed post; the
// 100,000-post replay holds about 720,000): past it the oldest are dropped
// and lookups reaching them read a window from the posts, so memory stays
// bounded on any history.
const nearDupIndexCap = 2_000_000

// newNearDupIndex returns an index that loads through the pool r (see ready).
func newNearDupIndex(r *sql.DB) *nearDupIndex {
	return &nearDupIndex{limit: nearDupIndexCap, reader: r}
}

// encodeNearDupKeys is how posts.neardup_keys stores keys: 8 bytes each,
// big-endian, as migration 0009 writes them; nil for none.
func encodeNearDupKeys(keys []uint64) []byte {
	if len(keys) == 0 {
		return nil
	}
	b := make([]byte, 0, 8*len(keys))
	for _, k := range keys {
		b = binary.BigEndian.AppendUint64(b, k)
	}
	return b
}

// appendNearDupKeys appends the keys of posts.neardup_keys b to keys; a
// trailing partial key (a damaged row) is ignored.
func appendNearDupKeys(keys []uint64, b []byte) []uint64 {
	for ; len(b) >= 8; b = b[8:] {
		keys = append(keys, binary.BigEndian.Uint64(b))
	}
	return keys
}

// ready loads the index unless it is loaded and nobody else wrote since:
// every keyed post when all posts fit the cap, else those dated within
// twice the horizon of the newest.
func (x *nearDupIndex) ready(ctx context.Context, tx *sql.Tx, horizon time.Duration) error {
	var version int64
	if err := tx.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
		return fmt.Errorf("near-duplicate index: %w", err)
	}
	if x.loaded && version == x.version {
		return nil
	}
	// This transaction holds the write lock and has written nothing yet, so
	// a reader sees exactly what it sees.
	var q querier = tx
	if x.reader != nil {
		q = x.reader
	}
	var newest sql.NullInt64
	var posts int
	if err := q.QueryRowContext(ctx, `SELECT MAX(ts), COUNT(*) FROM posts`).Scan(&newest, &posts); err != nil {
		return fmt.Errorf("near-duplicate index: %w", err)
	}
	lo := int64(math.MinInt64)
	if newest.Valid && posts*nearDupBands > x.limit {
		lo = newest.Int64 - 2*int64(horizon/time.Second)
	}
	x.reset(lo)
	x.hi, x.maxTS, x.window = math.MaxInt64, math.MinInt64, nil
	if err := x.load(ctx, q, lo, math.MaxInt64, false); err != nil {
		return err
	}
	x.loaded, x.version = true, version
	return nil
}

// errIndexFull stops loading a window that would pass its cap.
var errIndexFull = errors.New("near-duplicate index: window over its cap")

// load adds the keyed posts dated from lo to hi, none of which it holds yet;
// callers hold mu. With capped, it stops with errIndexFull rather than hold
// more than the cap.
func (x *nearDupIndex) load(ctx context.Context, q querier, lo, hi int64, capped bool) error {
	// In (ts, id) order each key's new entries arrive sorted: into an
	// empty index they are appended in place; before the entries of an
	// extended one they are gathered, then merged (gathering the first
	// load too was as much garbage again as the index, at start-up).
	direct := x.n == 0
	var keyBuf [nearDupBands]uint64
	add := map[uint64][]ndEntry{}
	added := 0
	if err := scanRows(ctx, q, `SELECT id, ts, source, external_id, copy_of, copies, neardup_keys FROM posts
WHERE ts >= ? AND ts <= ? AND neardup_keys IS NOT NULL ORDER BY ts, id`,
		[]any{lo, hi}, func(rows *sql.Rows) error {
			p := new(nearDupPost)
			var blob sql.RawBytes // decoded at once: no copy
			if err := rows.Scan(&p.id, &p.ts, &p.source, &p.extID, &p.copyOf, &p.copies, &blob); err != nil {
				return err
			}
			keys := appendNearDupKeys(keyBuf[:0], blob)
			for i, k := range keys {
				switch {
				case slices.Contains(keys[:i], k):
					continue
				case direct:
					x.insert(k, ndEntry{p.ts, p.id}) // counts itself in n
				default:
					add[k] = append(add[k], ndEntry{p.ts, p.id})
					added++
				}
			}
			if capped && x.n+added > x.limit {
				return errIndexFull
			}
			x.posts[p.id] = p
			if p.copyOf != 0 {
				x.copies[p.copyOf] = append(x.copies[p.copyOf], p.id)
			}
			x.maxTS = max(x.maxTS, p.ts)
			return nil
		}); err != nil {
		if errors.Is(err, errIndexFull) {
			return err
		}
		return fmt.Errorf("near-duplicate index: %w", err)
	}
	for k, es := range add {
		var buf [1]ndEntry
		if old := x.get(k, &buf); len(old) > 0 {
			es = append(es, old...)
			slices.SortFunc(es, cmpEntry)
		}
		x.set(k, es)
	}
	x.n += added
	return nil
}

// holds reports whether the index holds every keyed post dated from lo to hi.
func (x *nearDupIndex) holds(lo, hi int64) bool { return x.loaded && lo >= x.lo && hi <= x.hi }

// holding returns x or its window if either holds every keyed post dated
// from lo to hi, else nil.
func (x *nearDupIndex) holding(lo, hi int64) *nearDupIndex {
	for _, ix := range x.both() {
		if ix.holds(lo, hi) {
			return ix
		}
	}
	return nil
}

// reach returns an index holding the keyed posts dated from lo to hi: x,
// extended back while that fits the cap, or else a window of stored posts
// within the cap (limit 0) or of any size (limit math.MaxInt); nil when no
// window within the cap does.
func (x *nearDupIndex) reach(ctx context.Context, tx *sql.Tx, lo, hi int64, limit int) (*nearDupIndex, error) {
	if ix := x.holding(lo, hi); ix != nil {
		return ix, nil
	}
	var older int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM posts WHERE ts >= ? AND ts < ?`, lo, x.lo).Scan(&older); err != nil {
		return nil, fmt.Errorf("near-duplicate index: %w", err)
	}
	if x.n+older*nearDupBands <= x.limit {
		if err := x.load(ctx, tx, lo, x.lo-1, false); err != nil {
			return nil, err
		}
		x.lo = lo
		return x, nil
	}
	w := &nearDupIndex{limit: cmp.Or(limit, x.limit), hi: hi, maxTS: math.MinInt64, loaded: true}
	w.reset(lo)
	switch err := w.load(ctx, tx, lo, hi, limit == 0); {
	case errors.Is(err, errIndexFull):
		return nil, nil
	case err != nil:
		return nil, err
	}
	x.window = w
	x.windowsRead++
	return w, nil
}

// prepare readies the index for a batch whose keyed posts are dated from
// first to last: a backfill older than the index gets one window for the
// whole batch where that fits the cap, not one per post. Half a horizon
// more each way serves the backfill's next batches too, whose dates
// scatter over the same stretch (without it, make-corpus's history read a
// new window every other batch).
func (x *nearDupIndex) prepare(ctx context.Context, tx *sql.Tx, first, last, horizon int64) error {
	if x.holding(satSub(first, horizon), satAdd(last, horizon)) != nil {
		return nil
	}
	for _, pad := range []int64{horizon + horizon/2, horizon} {
		if ix, err := x.reach(ctx, tx, satSub(first, pad), satAdd(last, pad), 0); ix != nil || err != nil {
			return err
		}
	}
	return nil
}

// lookupIn returns an index holding every key a lookup at ts within horizon
// needs: what prepare made ready, or else a window around the post,
// whatever the cap (half a horizon more each way serves the posts of a
// backfill dated near this one).
func (x *nearDupIndex) lookupIn(ctx context.Context, tx *sql.Tx, ts, horizon int64) (*nearDupIndex, error) {
	if ix := x.holding(satSub(ts, horizon), satAdd(ts, horizon)); ix != nil {
		return ix, nil
	}
	pad := horizon + horizon/2
	return x.reach(ctx, tx, satSub(ts, pad), satAdd(ts, pad), math.MaxInt)
}

// satSub and satAdd keep a window's bounds from wrapping around.
func satSub(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// candidates returns, as findOriginalSQL does, the posts among each key's
// nearest nearDupNearest on either side of ts within the horizon that hold
// at least minBands of keys, by id.
//
// A post holding minBands of k keys holds at least one of any k−minBands+1
// of them, so only the entries of the k−minBands+1 keys with the fewest are
// counted one by one; the crowded rest (boilerplate held by hundreds) are
// asked, by binary search, only about the posts already counted.
func (x *nearDupIndex) candidates(keys []uint64, ts, horizon int64, minBands int) []nearDupPost {
	if x.count == nil {
		x.count = map[int64]int{}
	}
	clear(x.count)
	bufs := make([][1]ndEntry, len(keys)) // single entries, which ranges point into
	ranges := make([][]ndEntry, 0, len(keys))
	for i, k := range keys {
		if slices.Contains(keys[:i], k) {
			continue // a key listed twice counts once
		}
		es := x.get(k, &bufs[i])
		// The first entry after ts: before it, the nearest at or before ts.
		at, _ := slices.BinarySearchFunc(es, ts, func(e ndEntry, t int64) int {
			if e.ts <= t {
				return -1
			}
			return 1
		})
		from, _ := slices.BinarySearchFunc(es[:at], ts-horizon, func(e ndEntry, t int64) int {
			if e.ts < t {
				return -1
			}
			return 1
		})
		to, _ := slices.BinarySearchFunc(es[at:], ts+horizon, func(e ndEntry, t int64) int {
			if e.ts <= t {
				return -1
			}
			return 1
		})
		from, to = max(from, at-nearDupNearest), at+min(to, nearDupNearest)
		if from < to {
			ranges = append(ranges, es[from:to])
		}
	}
	if len(ranges) < minBands {
		return nil
	}
	slices.SortStableFunc(ranges, func(a, b []ndEntry) int { return cmp.Compare(len(a), len(b)) })
	counted := len(ranges) - minBands + 1
	for _, r := range ranges[:counted] {
		for _, e := range r {
			x.count[e.id]++
		}
	}
	for _, r := range ranges[counted:] {
		if len(r) < 8*len(x.count) { // walking is cheaper than searching
			for _, e := range r {
				if c, ok := x.count[e.id]; ok {
					x.count[e.id] = c + 1
				}
			}
			continue
		}
		for id := range x.count {
			if _, found := slices.BinarySearchFunc(r, ndEntry{x.posts[id].ts, id}, cmpEntry); found {
				x.count[id]++
			}
		}
	}
	var out []nearDupPost
	for id, c := range x.count {
		if c >= minBands {
			out = append(out, *x.posts[id])
		}
	}
	slices.SortFunc(out, func(a, b nearDupPost) int { return cmp.Compare(a.id, b.id) })
	return out
}

// add records a newly stored post and its keys in this transaction.
func (x *nearDupIndex) add(p nearDupPost, keys []uint64) {
	for _, ix := range x.both() {
		if p.ts >= ix.lo && p.ts <= ix.hi {
			ix.put(p, keys)
		}
	}
}

// put indexes p under its keys.
func (x *nearDupIndex) put(p nearDupPost, keys []uint64) {
	for _, k := range keys {
		x.insert(k, ndEntry{p.ts, p.id})
	}
	x.posts[p.id] = &p
	if p.copyOf != 0 {
		x.copies[p.copyOf] = append(x.copies[p.copyOf], p.id)
	}
	x.maxTS = max(x.maxTS, p.ts)
}

// addCopies mirrors nearDups.addCopies.
func (x *nearDupIndex) addCopies(original, copies int64) {
	for _, ix := range x.both() {
		if p := ix.posts[original]; p != nil {
			p.copies += copies
		}
	}
}

// demote mirrors nearDups.demoteInto: id and its copies become root's.
func (x *nearDupIndex) demote(id, root int64) {
	for _, ix := range x.both() {
		moved := ix.copies[id]
		delete(ix.copies, id)
		if p := ix.posts[id]; p != nil {
			p.copyOf, p.copies = root, 0
			moved = append(moved, id)
		}
		for _, c := range moved {
			if p := ix.posts[c]; p != nil {
				p.copyOf = root
				ix.copies[root] = append(ix.copies[root], c)
			}
		}
	}
}

// both returns x and its window, if any.
func (x *nearDupIndex) both() []*nearDupIndex {
	if x.window != nil {
		return []*nearDupIndex{x, x.window}
	}
	return []*nearDupIndex{x}
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

// set sets k's entries.
func (x *nearDupIndex) set(k uint64, es []ndEntry) {
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
func (x *nearDupIndex) insert(k uint64, e ndEntry) {
	var buf [1]ndEntry
	es := x.get(k, &buf)
	i, found := slices.BinarySearchFunc(es, e, cmpEntry)
	if found {
		return
	}
	if len(es) == 1 {
		es = append(make([]ndEntry, 0, 4), es[0]) // off buf, with room: a shared key is often shared again
	}
	x.set(k, slices.Insert(es, i, e))
	x.n++
}

// settle ends a transaction: committed, its changes stay (and the index is
// trimmed to its cap; a window stays for the backfill's next batch, kept
// current like the index); rolled back, the index is read again at the
// next commit, as what it loaded or added in the transaction may be gone.
func (x *nearDupIndex) settle(committed bool, horizon time.Duration) {
	if !committed {
		x.invalidate()
		return
	}
	if x.n > x.limit {
		x.trim(horizon)
	}
}

// trim drops the posts older than twice the horizon before the newest,
// then, if still over the cap, all of them: later lookups reaching before lo
// read a window.
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
			x.set(k, slices.Clone(es[i:]))
		}
	}
	for id, p := range x.posts {
		if p.ts < lo {
			delete(x.posts, id)
		}
	}
	for id, cs := range x.copies {
		cs = slices.DeleteFunc(cs, func(c int64) bool { return x.posts[c] == nil })
		if len(cs) == 0 {
			delete(x.copies, id)
		} else {
			x.copies[id] = cs
		}
	}
	if x.n > x.limit {
		x.reset(x.maxTS + 1)
	}
}

// reset empties the index, which from now on holds posts dated from lo.
func (x *nearDupIndex) reset(lo int64) {
	x.one, x.many, x.n, x.lo = map[uint64]ndEntry{}, map[uint64][]ndEntry{}, 0, lo
	x.posts, x.copies = map[int64]*nearDupPost{}, map[int64][]int64{}
}

// invalidate makes the next commit reload the index (after a prune or a
// rollback).
func (x *nearDupIndex) invalidate() {
	x.loaded, x.one, x.many, x.posts, x.copies, x.n, x.window = false, nil, nil, nil, nil, 0, nil
}
