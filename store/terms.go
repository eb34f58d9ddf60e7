package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/affinityd/affinityd/affinity"
)

// termSep separates a term's merge key from its display form in
// affinity.Analysis.Terms ("custom servic|customer service"); it mirrors
// analysis.TermSep, which the store may not import. A term without it is its
// own key and display.
const termSep = "|"

// bigTopic is the number of posts above which TopicTerms skips the terms of a
// single post: with that many posts such a term cannot rank, and skipping it
// saves most of the per-term background lookups of a busy topic.
const bigTopic = 50

// addTerms adds a post's terms and organisations, with its id and time, to
// Commit's multi-row inserts.
func addTerms(ctx context.Context, terms, orgs *bulkInsert, id, ts int64, a affinity.Analysis) error {
	for _, t := range a.Terms {
		key, display, ok := strings.Cut(t, termSep)
		if !ok {
			display = key
		}
		if key == "" {
			continue
		}
		if err := terms.add(ctx, id, key, display, ts); err != nil {
			return err
		}
	}
	for _, org := range a.Organisations {
		if org == "" {
			continue
		}
		if err := orgs.add(ctx, id, org, ts); err != nil {
			return err
		}
	}
	return nil
}

// termStat is one term of a topic's window: its posts and display forms.
type termStat struct {
	key     string
	n       int64
	display string
	forms   int64 // posts using display
}

// topicTermStats returns the terms of topic's posts in [from, to) by key,
// each with the display form most of those posts used (ties: the smaller
// string, so results do not depend on row order).
func topicTermStats(ctx context.Context, tx *sql.Tx, topic string, from, to int64) (map[string]*termStat, error) {
	out := map[string]*termStat{}
	err := scanRows(ctx, tx, `SELECT pt.term, pt.display, COUNT(*)
FROM mentions m JOIN post_terms pt ON pt.post_id = m.post_id
WHERE m.topic = ? AND m.ts >= ? AND m.ts < ?
GROUP BY pt.term, pt.display`, []any{topic, from, to}, func(rows *sql.Rows) error {
		var key, display string
		var n int64
		if err := rows.Scan(&key, &display, &n); err != nil {
			return err
		}
		st := out[key]
		if st == nil {
			st = &termStat{key: key}
			out[key] = st
		}
		st.n += n
		if n > st.forms || (n == st.forms && display < st.display) {
			st.display, st.forms = display, n
		}
		return nil
	})
	return out, err
}

func countTopicPosts(ctx context.Context, tx *sql.Tx, topic string, from, to int64) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mentions WHERE topic = ? AND ts >= ? AND ts < ?`,
		topic, from, to).Scan(&n)
	return n, err
}

// readTx opens a read-only transaction, so the counts of one answer come
// from one snapshot.
func (s *SQLite) readTx(ctx context.Context) (*sql.Tx, error) {
	return s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
}

// TopicTerms implements Store.
//
// A term's score is Dunning's log-likelihood ratio G² (Computational
// Linguistics 19(1), 1993) of the 2×2 table "topic posts vs the other posts
// with a mention in w" × "with vs without the term", counted in posts, kept
// only where the term is more frequent in the topic. G² rather than TF-IDF:
// it compares the topic with its background directly, stays reliable for the
// small counts a topic's week has (TF-IDF ranks any term seen once in the
// topic and nowhere else at the top), and reads as a significance (above 3.84
// is p < 0.05, above 10.83 p < 0.001). When the topic is the whole background
// every score is 0 and the terms come by count.
func (s *SQLite) TopicTerms(ctx context.Context, topic string, w affinity.Window, limit int) ([]affinity.TermCount, error) {
	from, to := w.From.Unix(), w.To.Unix()
	if limit <= 0 || to <= from {
		return nil, nil
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: topic terms %q: begin: %w", topic, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only

	nTopic, err := countTopicPosts(ctx, tx, topic, from, to)
	if err != nil || nTopic == 0 {
		return nil, wrapErr("topic terms", topic, err)
	}
	var nAll int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM posts p
WHERE p.ts >= ? AND p.ts < ? AND EXISTS (SELECT 1 FROM mentions m WHERE m.post_id = p.id)`, from, to).Scan(&nAll); err != nil {
		return nil, wrapErr("topic terms", topic, err)
	}
	stats, err := topicTermStats(ctx, tx, topic, from, to)
	if err != nil {
		return nil, wrapErr("topic terms", topic, err)
	}
	bg, err := tx.PrepareContext(ctx, `SELECT COUNT(*) FROM post_terms WHERE term = ? AND ts >= ? AND ts < ?`)
	if err != nil {
		return nil, wrapErr("topic terms", topic, err)
	}
	defer bg.Close()

	out := make([]affinity.TermCount, 0, len(stats))
	for _, st := range sortedStats(stats) {
		if nTopic >= bigTopic && st.n < 2 {
			continue
		}
		var all int64
		if err := bg.QueryRowContext(ctx, st.key, from, to).Scan(&all); err != nil {
			return nil, wrapErr("topic terms", topic, err)
		}
		score := signedG2(st.n, nTopic, max(all-st.n, 0), max(nAll-nTopic, 0))
		if score < 0 {
			continue // more frequent outside the topic: not the topic's term
		}
		out = append(out, affinity.TermCount{Term: st.display, Count: st.n, Score: score})
	}
	return top(out, limit), nil
}

// EmergingTerms implements Store.
//
// A term's rate is the share of the topic's posts carrying it; its score is
// the ratio of the rates in w and in baseline, each smoothed by add-one
// (Laplace): ((k_w+1)/(n_w+2)) / ((k_b+1)/(n_b+2)). Rates, not counts, so a
// topic that is simply busier this week does not make all its terms emerge;
// the smoothing keeps a term absent from the baseline finite and still ranks
// it by its support, so 20 new posts beat 3. Terms in fewer than minSupport
// posts of w (at least 1) and terms that did not grow are left out.
func (s *SQLite) EmergingTerms(ctx context.Context, topic string, w, baseline affinity.Window, minSupport, limit int) ([]affinity.TermCount, error) {
	from, to := w.From.Unix(), w.To.Unix()
	bFrom, bTo := baseline.From.Unix(), baseline.To.Unix()
	if limit <= 0 || to <= from {
		return nil, nil
	}
	minSupport = max(minSupport, 1)
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: emerging terms %q: begin: %w", topic, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only

	nW, err := countTopicPosts(ctx, tx, topic, from, to)
	if err != nil || nW < int64(minSupport) {
		return nil, wrapErr("emerging terms", topic, err)
	}
	cur, err := topicTermStats(ctx, tx, topic, from, to)
	if err != nil {
		return nil, wrapErr("emerging terms", topic, err)
	}
	var nB int64
	base := map[string]*termStat{}
	if bTo > bFrom {
		if nB, err = countTopicPosts(ctx, tx, topic, bFrom, bTo); err != nil {
			return nil, wrapErr("emerging terms", topic, err)
		}
		if base, err = topicTermStats(ctx, tx, topic, bFrom, bTo); err != nil {
			return nil, wrapErr("emerging terms", topic, err)
		}
	}
	var out []affinity.TermCount
	for _, st := range sortedStats(cur) {
		if st.n < int64(minSupport) {
			continue
		}
		var kB int64
		if b := base[st.key]; b != nil {
			kB = b.n
		}
		ratio := (float64(st.n) + 1) / (float64(nW) + 2) / ((float64(kB) + 1) / (float64(nB) + 2))
		if ratio <= 1 {
			continue
		}
		out = append(out, affinity.TermCount{Term: st.display, Count: st.n, Score: ratio})
	}
	return top(out, limit), nil
}

// TopicOrganisations implements Store. Organisations are stored as the
// analysis found them, unconfigured at that time: a name configured as a
// competitor later still shows for posts analysed before, until they age out.
func (s *SQLite) TopicOrganisations(ctx context.Context, topic string, w affinity.Window, limit int) ([]affinity.TermCount, error) {
	from, to := w.From.Unix(), w.To.Unix()
	if to <= from {
		return nil, nil
	}
	q := `SELECT o.org, COUNT(*) FROM mentions m JOIN post_orgs o ON o.post_id = m.post_id
WHERE m.topic = ? AND m.ts >= ? AND m.ts < ?
GROUP BY o.org ORDER BY COUNT(*) DESC, o.org`
	args := []any{topic, from, to}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrapErr("topic organisations", topic, err)
	}
	defer rows.Close()
	var out []affinity.TermCount
	for rows.Next() {
		var tc affinity.TermCount
		if err := rows.Scan(&tc.Term, &tc.Count); err != nil {
			return nil, wrapErr("topic organisations", topic, err)
		}
		out = append(out, tc)
	}
	return out, wrapErr("topic organisations", topic, rows.Err())
}

func wrapErr(what, topic string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s %q: %w", what, topic, err)
}

// sortedStats orders stats by key, so queries and float sums run in a fixed order.
func sortedStats(m map[string]*termStat) []*termStat {
	out := make([]*termStat, 0, len(m))
	for _, st := range m {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *termStat) int { return strings.Compare(a.key, b.key) })
	return out
}

// top sorts by score, then count, then term, and keeps limit.
func top(tcs []affinity.TermCount, limit int) []affinity.TermCount {
	slices.SortStableFunc(tcs, func(a, b affinity.TermCount) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Term, b.Term)
	})
	if len(tcs) > limit {
		tcs = tcs[:limit]
	}
	return tcs
}

// signedG2 is Dunning's G² for k1 of n1 against k2 of n2, negative when the
// rate k1/n1 is below k2/n2 and 0 when either side is empty.
func signedG2(k1, n1, k2, n2 int64) float64 {
	if n1 <= 0 || n2 <= 0 {
		return 0
	}
	k1 = min(k1, n1)
	k2 = min(k2, n2)
	obs := [4]float64{float64(k1), float64(n1 - k1), float64(k2), float64(n2 - k2)}
	total := float64(n1 + n2)
	withTerm := float64(k1 + k2)
	exp := [4]float64{
		float64(n1) * withTerm / total, float64(n1) * (total - withTerm) / total,
		float64(n2) * withTerm / total, float64(n2) * (total - withTerm) / total,
	}
	g := 0.0
	for i, o := range obs {
		if o > 0 && exp[i] > 0 {
			g += o * math.Log(o/exp[i])
		}
	}
	g = max(2*g, 0) // rounding can make an exact 0 slightly negative
	if float64(k1)*float64(n2) < float64(k2)*float64(n1) {
		return -g
	}
	return g
}
