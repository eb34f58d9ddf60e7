package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// nearDupBands is analysis.NearDupBands; the store does not import analysis,
// so a post whose key count differs is simply not collapsed.
const nearDupBands = 16

// nearDupNearest bounds a lookup: per key, only the nearest nearDupNearest
// originals before the post's time and as many after it (within the horizon)
// are candidates, so a lookup reads at most 16×2×64 index entries however
// many posts share a key. A true copy shares at least MinBands keys with its
// original, most of them rare (two texts share a band only if they share its
// shingles), so the original is among the nearest under those; a key held by
// more than 64 posts on one side within the horizon is boilerplate (a
// template, a signature), which alone never makes a copy. Unbounded, one key
// of make-corpus's templated posts was held by 3,050 of 58,000 posts and
// ingest fell to about 100 posts/s. On 20,000 of those posts 64 finds 89 % of
// the copies the unbounded lookup found (32: 79 %, 128: 95 %) in a quarter of
// the time; it misses a copy only when all but fewer than MinBands of the keys
// it shares with its original are each held by more than 64 nearer posts.
const nearDupNearest = 64

// findOriginalSQL takes, per key, the key and the post's time twice (the
// nearest before it, from ts back to ts−horizon; the nearest after, to
// ts+horizon), then the keys a copy must share; the original sharing most
// keys wins, the oldest on a tie. Each derived table is one descending or
// ascending range of the (key, ts, post_id) primary key, on SQLite and
// PostgreSQL alike.
var findOriginalSQL = func() string {
	var b strings.Builder
	b.WriteString("SELECT post_id FROM (\n")
	for i := range nearDupBands {
		if i > 0 {
			b.WriteString("\nUNION ALL ")
		}
		fmt.Fprintf(&b, `SELECT post_id FROM (SELECT post_id FROM post_neardup_keys WHERE key = ? AND ts <= ? AND ts >= ? ORDER BY ts DESC LIMIT %d) AS b%d
UNION ALL SELECT post_id FROM (SELECT post_id FROM post_neardup_keys WHERE key = ? AND ts > ? AND ts <= ? ORDER BY ts LIMIT %d) AS a%d`,
			nearDupNearest, i, nearDupNearest, i)
	}
	b.WriteString("\n) AS candidates GROUP BY post_id HAVING COUNT(*) >= ? ORDER BY COUNT(*) DESC, post_id LIMIT 1")
	return b.String()
}()

// insertNearDupKeysSQL records all keys of one original in one statement.
var insertNearDupKeysSQL = `INSERT INTO post_neardup_keys (key, post_id, ts) VALUES ` +
	strings.TrimSuffix(strings.Repeat("(?, ?, ?),", nearDupBands), ",") + ` ON CONFLICT DO NOTHING`

// nearDups finds and records originals inside one Commit transaction, so
// posts earlier in the same batch are found like stored ones.
type nearDups struct {
	rule            affinity.NearDupRule
	find, ins, bump *sql.Stmt
	args            []any // reused between lookups
}

// prepareNearDups prepares the statements; with rule disabled it returns a
// nearDups that finds nothing and records nothing.
func prepareNearDups(ctx context.Context, tx *sql.Tx, rule affinity.NearDupRule) (*nearDups, error) {
	n := &nearDups{rule: rule}
	if rule.MinBands <= 0 {
		return n, nil
	}
	var err error
	if n.find, err = tx.PrepareContext(ctx, findOriginalSQL); err != nil {
		return nil, err
	}
	if n.ins, err = tx.PrepareContext(ctx, insertNearDupKeysSQL); err != nil {
		n.close()
		return nil, err
	}
	if n.bump, err = tx.PrepareContext(ctx, addCopySQL); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

func (n *nearDups) close() {
	for _, st := range []*sql.Stmt{n.find, n.ins, n.bump} {
		if st != nil {
			st.Close()
		}
	}
}

func (n *nearDups) enabled(keys []uint64) bool {
	return n.rule.MinBands > 0 && len(keys) == nearDupBands
}

// original returns the id of the stored original that a post with keys at
// time ts is a copy of, or 0.
func (n *nearDups) original(ctx context.Context, keys []uint64, ts int64) (int64, error) {
	if !n.enabled(keys) {
		return 0, nil
	}
	h := int64(n.rule.Horizon / time.Second)
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
	var id int64
	err := n.find.QueryRowContext(ctx, args...).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("near-duplicate lookup: %w", err)
	}
	return id, nil
}

// record indexes the keys of a newly stored original.
func (n *nearDups) record(ctx context.Context, id int64, keys []uint64, ts int64) error {
	if !n.enabled(keys) {
		return nil
	}
	args := make([]any, 0, 3*nearDupBands)
	for _, k := range keys {
		args = append(args, int64(k), id, ts)
	}
	if _, err := n.ins.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("near-duplicate keys: %w", err)
	}
	return nil
}

// addCopy counts one more copy of original.
func (n *nearDups) addCopy(ctx context.Context, original int64) error {
	if _, err := n.bump.ExecContext(ctx, original); err != nil {
		return fmt.Errorf("near-duplicate count: %w", err)
	}
	return nil
}
