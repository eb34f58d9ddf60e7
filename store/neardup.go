package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// nearDupBands is analysis.NearDupBands; the store does not import analysis,
// so a post whose key count differs is simply not collapsed.
const nearDupBands = 16

// nearDupNearest bounds a lookup: per key, only the nearest nearDupNearest
// posts before the post's time and as many after it (within the horizon) are
// candidates, so a lookup reads at most 16×2×256 index entries however many
// posts share a key. A true copy shares at least MinBands keys with its
// original, most of them rare (two texts share a band only if they share its
// shingles), so the original is among the nearest under those; a key held by
// more posts than that on one side within the horizon is boilerplate (a
// template, a signature), which alone never makes a copy. Unbounded, one key
// of make-corpus's templated posts was held by 3,050 of 58,000 posts and
// ingest fell to about 100 posts/s. The bound is also where arrival order
// can still matter: a lookup that is cut sees fewer posts the more posts
// have arrived. At 64, make-corpus's 3,000 posts (the most common key held by
// about 110 posts on one side of a 7-day horizon) gave three replicas a few
// originals more than one; at 256 they agree, and the replay was no slower
// (fewer late copies to demote).
const nearDupNearest = 256

// findOriginalSQL takes, per key, the key and the post's time twice (the
// nearest before it, from ts back to ts−horizon; the nearest after, to
// ts+horizon), then the keys a copy must share; it returns every post
// sharing that many keys, with what decides which of two is the original
// (time, then source and id) and whether it already is a copy. Each derived
// table is one descending or ascending range of the (key, ts, post_id)
// primary key, on SQLite and PostgreSQL alike.
var findOriginalSQL = func() string {
	var b strings.Builder
	b.WriteString("SELECT p.id, p.ts, p.source, p.external_id, p.copy_of, p.copies FROM (SELECT post_id FROM (\n")
	for i := range nearDupBands {
		if i > 0 {
			b.WriteString("\nUNION ALL ")
		}
		fmt.Fprintf(&b, `SELECT post_id FROM (SELECT post_id FROM post_neardup_keys WHERE key = ? AND ts <= ? AND ts >= ? ORDER BY ts DESC LIMIT %d) AS b%d
UNION ALL SELECT post_id FROM (SELECT post_id FROM post_neardup_keys WHERE key = ? AND ts > ? AND ts <= ? ORDER BY ts LIMIT %d) AS a%d`,
			nearDupNearest, i, nearDupNearest, i)
	}
	b.WriteString("\n) AS candidates GROUP BY post_id HAVING COUNT(*) >= ?) AS c JOIN posts p ON p.id = c.post_id")
	return b.String()
}()

// insertNearDupKeysSQL records all keys of one original in one statement.
var insertNearDupKeysSQL = `INSERT INTO post_neardup_keys (key, post_id, ts) VALUES ` +
	strings.TrimSuffix(strings.Repeat("(?, ?, ?),", nearDupBands), ",") + ` ON CONFLICT DO NOTHING`

// The rule that makes collapsing independent of arrival order: a post is a
// copy when an earlier post within the horizon is similar to it, earlier by
// time, then by source and id. Whether a post is an original depends only
// on the posts similar to it, never on which of them came first, so one
// replica or three, fetching in any order, keep the same originals. A post
// arriving after a later-dated similar one (a slow feed, a backfill)
// demotes it; the demotion touches only the posts similar to the newcomer,
// never cascades. Copies keep their keys indexed, so a copy of a copy is
// found as one whichever of the three is stored first.

// nearDupPost is a stored post similar to the one being committed.
type nearDupPost struct {
	id, ts         int64
	source, extID  string
	copyOf, copies int64
}

// before reports whether a precedes the post at ts with source and id.
func (a nearDupPost) before(ts int64, source, id string) bool {
	return cmp.Or(cmp.Compare(a.ts, ts), strings.Compare(a.source, source), strings.Compare(a.extID, id)) < 0
}

// root is the original a's copies count on.
func (a nearDupPost) root() int64 {
	if a.copyOf != 0 {
		return a.copyOf
	}
	return a.id
}

// nearDups finds and records originals inside one Commit transaction, so
// posts earlier in the same batch are found like stored ones.
type nearDups struct {
	rule                             affinity.NearDupRule
	tx                               *sql.Tx
	mem                              *nearDupIndex // SQLite's in-memory keys; nil: SQL only
	find, ins, bump, repoint, demote *sql.Stmt
	args                             []any // reused between lookups
}

// Statements of a demotion (nearDups.demoteInto).
const (
	// "copy_of <> 0" lets SQLite use the partial index posts_copy_of, which
	// a bound parameter alone does not prove applies.
	repointCopiesSQL = `UPDATE posts SET copy_of = ? WHERE copy_of = ? AND copy_of <> 0`
	demotePostSQL    = `UPDATE posts SET copy_of = ?, copies = 0 WHERE id = ?`
	addCopiesSQL     = `UPDATE posts SET copies = copies + ? WHERE id = ?`
)

// demotedRows are the tables holding an original's own rows, which a copy
// has none of; the post's near-duplicate keys stay.
var demotedRows = []string{"mentions", "brand_mentions", "post_terms", "post_orgs"}

// prepareNearDups prepares the statements; with rule disabled it returns a
// nearDups that finds nothing and records nothing.
func prepareNearDups(ctx context.Context, tx *sql.Tx, rule affinity.NearDupRule, mem *nearDupIndex) (*nearDups, error) {
	n := &nearDups{rule: rule, tx: tx}
	if rule.MinBands <= 0 {
		return n, nil
	}
	if mem != nil {
		if err := mem.ready(ctx, tx, rule.Horizon); err != nil {
			return nil, err
		}
		n.mem = mem
	}
	type stmt struct {
		to    **sql.Stmt
		query string
	}
	stmts := []stmt{{&n.bump, addCopiesSQL}, {&n.repoint, repointCopiesSQL}, {&n.demote, demotePostSQL}}
	if mem == nil { // the keys are in post_neardup_keys, looked up in SQL
		stmts = append(stmts, stmt{&n.find, findOriginalSQL}, stmt{&n.ins, insertNearDupKeysSQL})
	}
	for _, st := range stmts {
		var err error
		if *st.to, err = tx.PrepareContext(ctx, st.query); err != nil {
			n.close()
			return nil, err
		}
	}
	return n, nil
}

func (n *nearDups) close() {
	for _, st := range []*sql.Stmt{n.find, n.ins, n.bump, n.repoint, n.demote} {
		if st != nil {
			st.Close()
		}
	}
}

func (n *nearDups) enabled(keys []uint64) bool {
	return n.rule.MinBands > 0 && len(keys) == nearDupBands
}

// prepare readies SQLite's in-memory index for a batch (nearDupIndex.prepare).
func (n *nearDups) prepare(ctx context.Context, posts []affinity.AnalyzedPost) error {
	if n.mem == nil {
		return nil
	}
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for _, ap := range posts {
		if n.enabled(ap.Analysis.NearDup) {
			ts := unixOrZero(ap.Post.Time())
			first, last = min(first, ts), max(last, ts)
		}
	}
	if first > last {
		return nil
	}
	if err := n.mem.prepare(ctx, n.tx, first, last, int64(n.rule.Horizon/time.Second)); err != nil {
		return fmt.Errorf("near-duplicate lookup: %w", err)
	}
	return nil
}

// similar returns the stored posts (originals and copies) that a post with
// keys at time ts shares enough keys with.
func (n *nearDups) similar(ctx context.Context, keys []uint64, ts int64) ([]nearDupPost, error) {
	if !n.enabled(keys) {
		return nil, nil
	}
	h := int64(n.rule.Horizon / time.Second)
	if n.mem != nil {
		ix, err := n.mem.lookupIn(ctx, n.tx, ts, h)
		if err != nil {
			return nil, fmt.Errorf("near-duplicate lookup: %w", err)
		}
		return ix.candidates(keys, ts, h, min(n.rule.MinBands, nearDupBands)), nil
	}
	args := n.args[:0]
	for i, k := range keys {
		from, to := ts-h, ts+h
		// A key listed twice counts once, as a row matches once: its second
		// ranges are empty.
		for _, prev := range keys[:i] {
			if prev == k {
				from, to = ts+1, ts-1
				break
			}
		}
		key := int64(k) // the bits as stored: SQL integers are signed
		args = append(args, key, ts, from, key, ts, to)
	}
	args = append(args, min(n.rule.MinBands, nearDupBands))
	n.args = args
	rows, err := n.find.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("near-duplicate lookup: %w", err)
	}
	defer rows.Close()
	var out []nearDupPost
	for rows.Next() {
		if err := scanNearDupPost(rows, &out); err != nil {
			return nil, fmt.Errorf("near-duplicate lookup: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("near-duplicate lookup: %w", err)
	}
	return out, nil
}

// scanNearDupPost appends the row (id, ts, source, external_id, copy_of,
// copies) to out.
func scanNearDupPost(rows *sql.Rows, out *[]nearDupPost) error {
	var c nearDupPost
	if err := rows.Scan(&c.id, &c.ts, &c.source, &c.extID, &c.copyOf, &c.copies); err != nil {
		return err
	}
	*out = append(*out, c)
	return nil
}

// originalOf returns the original a post at ts with source and id is a copy
// of, among its similar posts: the root of the earliest one that precedes
// it, or 0 when none does (it is an original).
func originalOf(similar []nearDupPost, ts int64, source, id string) int64 {
	var first *nearDupPost
	for i, c := range similar {
		if c.before(ts, source, id) && (first == nil || c.before(first.ts, first.source, first.extID)) {
			first = &similar[i]
		}
	}
	if first == nil {
		return 0
	}
	return first.root()
}

// record indexes the keys of a newly stored post, original or copy. On
// SQLite they were stored with the post (posts.neardup_keys) and go to the
// in-memory index; PostgreSQL's go to post_neardup_keys.
func (n *nearDups) record(ctx context.Context, p nearDupPost, keys []uint64) error {
	if !n.enabled(keys) {
		return nil
	}
	if n.mem != nil {
		n.mem.add(p, keys)
		return nil
	}
	args := make([]any, 0, 3*nearDupBands)
	for _, k := range keys {
		args = append(args, int64(k), p.id, p.ts)
	}
	if _, err := n.ins.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("near-duplicate keys: %w", err)
	}
	return nil
}

// storedKeys is the posts.neardup_keys value of a post with keys on SQLite:
// what the in-memory index loads, nil when the post is not looked up.
func (n *nearDups) storedKeys(keys []uint64) []byte {
	if !n.enabled(keys) {
		return nil
	}
	return encodeNearDupKeys(keys)
}

// addCopies counts n more copies of original.
func (n *nearDups) addCopies(ctx context.Context, original, copies int64) error {
	if _, err := n.bump.ExecContext(ctx, copies, original); err != nil {
		return fmt.Errorf("near-duplicate count: %w", err)
	}
	if n.mem != nil {
		n.mem.addCopies(original, copies)
	}
	return nil
}

// demoteInto makes the original c a copy of root: its copies follow it, and
// its own rows (mentions, brands, terms, organisations) go, as a copy has
// none. The caller settles the durable totals.
func (n *nearDups) demoteInto(ctx context.Context, c nearDupPost, root int64) error {
	for _, table := range demotedRows {
		if _, err := n.tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE post_id = ?`, c.id); err != nil {
			return fmt.Errorf("near-duplicate demotion of post %d: %s: %w", c.id, table, err)
		}
	}
	if _, err := n.repoint.ExecContext(ctx, root, c.id); err != nil {
		return fmt.Errorf("near-duplicate demotion of post %d: %w", c.id, err)
	}
	if _, err := n.demote.ExecContext(ctx, root, c.id); err != nil {
		return fmt.Errorf("near-duplicate demotion of post %d: %w", c.id, err)
	}
	if n.mem != nil {
		n.mem.demote(c.id, root)
	}
	return n.addCopies(ctx, root, c.copies+1)
}

// countedPost is what demoted originals counted in the durable totals:
// their topics and topic×brand pairs, a credit the new original uses up.
type countedPost struct {
	topics []string
	pairs  []topicBrand
}

// readStored adds what a stored original counted, read from its rows, as
// credit: its topics and pairs are counted already.
func (c *countedPost) readStored(ctx context.Context, tx *sql.Tx, id int64) error {
	var topics, brands []string
	for _, q := range []struct {
		query string
		into  *[]string
	}{
		{`SELECT topic FROM mentions WHERE post_id = ?`, &topics},
		{`SELECT brand FROM brand_mentions WHERE post_id = ?`, &brands},
	} {
		if err := scanRows(ctx, tx, q.query, []any{id}, func(rows *sql.Rows) error {
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			*q.into = append(*q.into, v)
			return nil
		}); err != nil {
			return fmt.Errorf("near-duplicate demotion of post %d: %w", id, err)
		}
	}
	c.topics = append(c.topics, topics...)
	for _, t := range topics {
		for _, b := range brands {
			c.pairs = append(c.pairs, topicBrand{t, b})
		}
	}
	return nil
}

// takeTopic uses up the credit of one counted mention of topic.
func (c *countedPost) takeTopic(topic string) bool { return takeOne(&c.topics, topic) }

// takePair uses up the credit of one counted topic×brand pair.
func (c *countedPost) takePair(p topicBrand) bool { return takeOne(&c.pairs, p) }

// takeOne removes one v from *s and reports whether there was one.
func takeOne[T comparable](s *[]T, v T) bool {
	i := slices.Index(*s, v)
	if i >= 0 {
		*s = slices.Delete(*s, i, i+1)
	}
	return i >= 0
}
