package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/affinityd/affinityd/affinity"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

const (
	// busyTimeoutMS bounds the wait for a lock held by another process (a
	// second affinityd, a backup); writers inside this one are serialized.
	busyTimeoutMS = 5000
	// queryChunk bounds the placeholders of one IN (...) list, well below
	// SQLite's and PostgreSQL's limits.
	queryChunk = 500
	// pruneBatch is how many posts one prune transaction deletes, so a large
	// prune lets commits in between instead of holding the write lock.
	pruneBatch = 1000
)

// SQLite is the Store on an embedded SQLite database in WAL mode. Writes go
// through a pool of one connection, which serializes them without SQLITE_BUSY
// retries; reads use their own pool and run concurrently with the writer.
type SQLite struct {
	w      *sql.DB // the single writer connection; BEGIN IMMEDIATE
	r      *sql.DB // query_only readers
	logger *slog.Logger

	closeOnce sync.Once
	closeErr  error

	// nearDupLock, when set, runs first in a commit that collapses
	// near-duplicates: on PostgreSQL it serializes those commits across
	// replicas, so each lookup sees every post committed before it, as the
	// single SQLite writer does; two replicas committing similar posts at
	// once would otherwise both keep theirs as originals.
	nearDupLock string

	// rowIDs: the driver reports the rowid an INSERT made (SQLite), so a
	// post's insert needs no RETURNING (postInsert); PostgreSQL's does.
	rowIDs bool

	// nearDups holds the posts' near-duplicate keys (posts.neardup_keys) in
	// memory (neardup_index.go). Nil on PostgreSQL, whose replicas share
	// post_neardup_keys and look up in SQL.
	nearDups *nearDupIndex

	// testHookBeforeCommit, when set, runs inside every write transaction
	// just before COMMIT; tests use it to cancel the context at the worst time.
	testHookBeforeCommit func()
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database file at path, applies
// pending migrations and returns the store. It refuses a database migrated by
// a newer binary (ErrSchemaTooNew). A nil logger discards.
func OpenSQLite(ctx context.Context, path string, logger *slog.Logger) (*SQLite, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("store: open sqlite: a database file path is required")
	}
	// The driver cuts a plain path at its first '?' to read parameters.
	if strings.Contains(path, "?") {
		return nil, fmt.Errorf("store: open sqlite %q: path must not contain '?'", path)
	}
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)", busyTimeoutMS)

	// The writer opens first: it creates the file and switches it to WAL
	// (persistent in the file) before any reader connects.
	// temp_store(MEMORY): a multi-row INSERT keeps a statement journal (to
	// undo just itself on an error); in a temporary file every page it
	// touches cost a write syscall, 40 % of a commit.
	// journal_size_limit: after a checkpoint the WAL file is truncated to
	// 64 MiB instead of keeping its high-water mark (a large backfill would
	// otherwise leave a WAL as big as its biggest burst for good).
	// cache_size: 16 MiB instead of 2 holds the index pages a commit
	// dirties (posts' URL and time, mentions by topic, terms by term,
	// near-duplicate keys land all over their b-trees); with 2 MiB they were
	// spilled and read back, three times the writes of the commits
	// themselves, and page reads were 28 % of a near-duplicate commit.
	w, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_pragma=temp_store(MEMORY)&_pragma=journal_size_limit(67108864)&_pragma=cache_size(-16384)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	ms, err := loadMigrations(sqliteMigrations, "migrations/sqlite")
	if err == nil {
		err = migrate(ctx, w, ms, logger)
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}

	r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %q: readers: %w", path, err)
	}
	logger.Debug("store opened", "path", path)
	return &SQLite{w: w, r: r, logger: logger, rowIDs: true, nearDups: newNearDupIndex(r)}, nil
}

// inTx runs fn in one write transaction and commits it; any error, including
// a context cancelled before COMMIT, rolls everything back.
func (s *SQLite) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if s.testHookBeforeCommit != nil {
		s.testHookBeforeCommit()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

type postKey struct{ source, id string }

type topicBrand struct{ topic, brand string }

// FilterNew implements Store. It reads only; Commit's ON CONFLICT still
// guards against a post stored between FilterNew and Commit.
func (s *SQLite) FilterNew(ctx context.Context, posts []affinity.Post) ([]affinity.Post, int, error) {
	if len(posts) == 0 {
		return nil, 0, nil
	}
	canon := make([]string, len(posts))
	idsBySource := map[string][]string{}
	var urls []string
	for i, p := range posts {
		canon[i] = CanonicalURL(p.URL)
		idsBySource[p.Source] = append(idsBySource[p.Source], p.ID)
		if canon[i] != "" {
			urls = append(urls, canon[i])
		}
	}

	storedIDs := map[postKey]bool{}
	for src, ids := range idsBySource {
		for chunk := range slices.Chunk(ids, queryChunk) {
			args := make([]any, 0, len(chunk)+1)
			args = append(args, src)
			for _, id := range chunk {
				args = append(args, id)
			}
			err := s.queryStrings(ctx, `SELECT external_id FROM posts WHERE source = ? AND external_id IN (`+placeholders(len(chunk))+`)`,
				args, func(id string) { storedIDs[postKey{src, id}] = true })
			if err != nil {
				return nil, 0, fmt.Errorf("store: filter new: ids of source %q: %w", src, err)
			}
		}
	}
	storedURLs := map[string]bool{}
	for chunk := range slices.Chunk(urls, queryChunk) {
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		err := s.queryStrings(ctx, storedURLsSQL+placeholders(len(chunk))+`)`,
			args, func(u string) { storedURLs[u] = true })
		if err != nil {
			return nil, 0, fmt.Errorf("store: filter new: canonical urls: %w", err)
		}
	}

	// Only posts kept mark their keys as seen, so the first fresh post wins.
	fresh := make([]affinity.Post, 0, len(posts))
	for i, p := range posts {
		k := postKey{p.Source, p.ID}
		if storedIDs[k] || (canon[i] != "" && storedURLs[canon[i]]) {
			continue
		}
		storedIDs[k] = true
		if canon[i] != "" {
			storedURLs[canon[i]] = true
		}
		fresh = append(fresh, p)
	}
	return fresh, len(posts) - len(fresh), nil
}

// queryStrings runs a one-column query on the readers and hands each value to fn.
func (s *SQLite) queryStrings(ctx context.Context, query string, args []any, fn func(string)) error {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		fn(v)
	}
	return rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// storedURLsSQL, completed by placeholders and ")", finds which canonical
// URLs are stored. Its test that canonical_url is not empty lets SQLite use
// the partial unique index; without it every batch scans the whole posts table.
const storedURLsSQL = `SELECT canonical_url FROM posts WHERE canonical_url <> '' AND canonical_url IN (`

// insertPostSQL inserts a post; keyed, with its near-duplicate keys (SQLite's
// in-memory lookup, migration 0009).
func insertPostSQL(keyed bool) string {
	cols, n := "copy_of", 17
	if keyed {
		cols, n = "copy_of, neardup_keys", 18
	}
	return `INSERT INTO posts (source, external_id, url, canonical_url, author, published, collected, ts,
	lang, title, text, likes, reposts, replies, score, format, ` + cols + `)
VALUES (` + placeholders(n) + `)
ON CONFLICT DO NOTHING`
}

const (
	// Upserts of the durable totals, after their VALUES lists (bulkInsert).
	addTotalTail = ` ON CONFLICT (topic, format) DO UPDATE SET mentions = topic_totals.mentions + excluded.mentions`
	addBrandTail = ` ON CONFLICT (topic, brand) DO UPDATE SET mentions = topic_brand_totals.mentions + excluded.mentions`
	doNothing    = ` ON CONFLICT DO NOTHING`
	saveStateSQL = `INSERT INTO source_state (source, cursor, etag, last_modified, next_check) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, etag = excluded.etag,
	last_modified = excluded.last_modified, next_check = excluded.next_check`
)

// postInsert inserts one post and tells its id. On SQLite it runs without
// RETURNING: RETURNING makes SQLite journal the statement (to undo just it)
// and copy every page it touches first, a fifth of a commit's CPU.
type postInsert struct {
	st        *sql.Stmt
	returning bool
}

func (s *SQLite) preparePostInsert(ctx context.Context, tx *sql.Tx, keyed bool) (*postInsert, error) {
	q := insertPostSQL(keyed)
	if !s.rowIDs {
		q += "\nRETURNING id"
	}
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &postInsert{st: st, returning: !s.rowIDs}, nil
}

// insert returns the new post's id, or sql.ErrNoRows when the post
// conflicted with a stored one and ON CONFLICT DO NOTHING inserted nothing.
func (pi *postInsert) insert(ctx context.Context, args ...any) (int64, error) {
	var id int64
	if pi.returning {
		err := pi.st.QueryRowContext(ctx, args...).Scan(&id)
		return id, err
	}
	r, err := pi.st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	// Nothing inserted leaves LastInsertId at an earlier row's: only
	// RowsAffected tells a conflict.
	if n, err := r.RowsAffected(); err != nil || n == 0 {
		return 0, cmp.Or(err, sql.ErrNoRows)
	}
	return r.LastInsertId()
}

func (pi *postInsert) Close() error { return pi.st.Close() }

// Commit implements Store. A post conflicting on (source, id) or on its
// canonical URL inserts nothing (ON CONFLICT without a target covers both
// unique keys), so its mentions are skipped and the totals do not move.
func (s *SQLite) Commit(ctx context.Context, b affinity.Batch) (affinity.CommitResult, error) {
	start := time.Now()
	var state *affinity.SourceState
	if b.State != nil {
		st := *b.State
		switch {
		case st.Source == "":
			st.Source = b.Source
		case b.Source != "" && st.Source != b.Source:
			return affinity.CommitResult{}, fmt.Errorf("store: commit source %q: state is for source %q", b.Source, st.Source)
		}
		state = &st
	}

	var res affinity.CommitResult
	var mem *nearDupIndex
	if s.nearDups != nil && b.NearDup.MinBands > 0 {
		mem = s.nearDups
		mem.mu.Lock()
		defer mem.mu.Unlock()
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res = affinity.CommitResult{Mentions: map[string]map[affinity.Format]int{}}
		// brandTotals counts, per topic and brand, the inserted posts matching
		// the topic that mention the brand: the rows the 0003 backfill joins.
		brandTotals := map[topicBrand]int64{}
		insPost, err := s.preparePostInsert(ctx, tx, mem != nil)
		if err != nil {
			return err
		}
		defer insPost.Close()
		// The rows of a post's mentions, brands, terms and organisations are
		// written after the loop, in multi-row INSERTs: nothing in the loop
		// reads them, and one statement per row was most of a commit's cost.
		mentions := newBulkInsert(tx, "mentions",
			[]string{"post_id", "topic", "format", "author", "ts", "engagement", "sentiment"}, doNothing)
		defer mentions.close()
		brands := newBulkInsert(tx, "brand_mentions", []string{"post_id", "brand", "ts"}, doNothing)
		defer brands.close()
		terms := newBulkInsert(tx, "post_terms", []string{"post_id", "term", "display", "ts"}, doNothing)
		defer terms.close()
		orgs := newBulkInsert(tx, "post_orgs", []string{"post_id", "org", "ts"}, doNothing)
		defer orgs.close()
		if s.nearDupLock != "" && b.NearDup.MinBands > 0 && len(b.Posts) > 0 {
			if _, err := tx.ExecContext(ctx, s.nearDupLock); err != nil {
				return fmt.Errorf("near-duplicate lock: %w", err)
			}
		}
		nd, err := prepareNearDups(ctx, tx, b.NearDup, mem)
		if err != nil {
			return err
		}
		defer nd.close()
		if err := nd.prepare(ctx, b.Posts); err != nil {
			return err
		}

		for _, ap := range b.Posts {
			p, a := ap.Post, ap.Analysis
			ts := unixOrZero(p.Time())
			// A near-duplicate is stored (so its id and URL dedup it later)
			// as a copy: no mentions, terms or totals of its own.
			similar, err := nd.similar(ctx, a.NearDup, ts)
			if err != nil {
				return fmt.Errorf("post %q: %w", p.ID, err)
			}
			original := originalOf(similar, ts, p.Source, p.ID)
			args := []any{p.Source, p.ID, p.URL, CanonicalURL(p.URL), p.Author,
				unixOrZero(p.Published), unixOrZero(p.Collected), ts,
				storedLanguage(ap), p.Title, p.Text,
				p.Engagement.Likes, p.Engagement.Reposts, p.Engagement.Replies, p.Engagement.Score,
				string(p.Format), original}
			if mem != nil {
				args = append(args, nd.storedKeys(a.NearDup))
			}
			id, err := insPost.insert(ctx, args...)
			if errors.Is(err, sql.ErrNoRows) {
				res.Duplicates++
				continue
			}
			if err != nil {
				return fmt.Errorf("post %q: %w", p.ID, err)
			}
			res.New++
			if err := nd.record(ctx, nearDupPost{id: id, ts: ts, source: p.Source, extID: p.ID, copyOf: original}, a.NearDup); err != nil {
				return fmt.Errorf("post %q: %w", p.ID, err)
			}
			if original != 0 {
				res.NearDuplicates++
				if err := nd.addCopies(ctx, original, 1); err != nil {
					return fmt.Errorf("post %q: %w", p.ID, err)
				}
			}
			// Originals dated after this post that it is similar to become
			// its copies (or its original's). What they counted moves to
			// this post when it is an original: the totals never fall, and
			// a mention is not counted twice for one piece of presence.
			root := cmp.Or(original, id)
			var credit countedPost
			for _, c := range similar {
				if c.copyOf != 0 || c.id == root || !(nearDupPost{ts: ts, source: p.Source, extID: p.ID}).before(c.ts, c.source, c.extID) {
					continue
				}
				// Its rows may still wait in the bulk inserts.
				for _, bi := range []*bulkInsert{mentions, brands, terms, orgs} {
					if err := bi.flush(ctx); err != nil {
						return err
					}
				}
				// Within a batch as across batches: commit order alone
				// decides the totals, never where a batch happened to end.
				if original == 0 {
					if err := credit.readStored(ctx, tx, c.id); err != nil {
						return fmt.Errorf("post %q: %w", p.ID, err)
					}
				}
				if err := nd.demoteInto(ctx, c, root); err != nil {
					return fmt.Errorf("post %q: %w", p.ID, err)
				}
				res.Demoted++
			}
			if original != 0 {
				continue
			}
			// The post's id is new, so no rows of it exist yet: a topic or
			// brand listed twice for one post is one mention, counted once.
			var topics []string // the topics inserted for this post, each once
			for _, topic := range a.Topics {
				if topic == "" || slices.Contains(topics, topic) {
					continue
				}
				if err := mentions.add(ctx, id, topic, string(p.Format), p.Author, ts, a.Engagement, a.Sentiment); err != nil {
					return err
				}
				topics = append(topics, topic)
				if credit.takeTopic(topic) {
					continue
				}
				if res.Mentions[topic] == nil {
					res.Mentions[topic] = map[affinity.Format]int{}
				}
				res.Mentions[topic][p.Format]++
			}
			for i, brand := range a.Brands {
				if brand == "" || slices.Contains(a.Brands[:i], brand) {
					continue
				}
				if err := brands.add(ctx, id, brand, ts); err != nil {
					return err
				}
				for _, topic := range topics {
					if credit.takePair(topicBrand{topic, brand}) {
						continue
					}
					brandTotals[topicBrand{topic, brand}]++
				}
			}
			if err := addTerms(ctx, terms, orgs, id, ts, a); err != nil {
				return err
			}
		}
		for _, bi := range []*bulkInsert{mentions, brands, terms, orgs} {
			if err := bi.flush(ctx); err != nil {
				return err
			}
		}

		// Totals rows in a fixed order: PostgreSQL replicas committing at
		// once then lock them in the same order instead of deadlocking.
		totals := newBulkInsert(tx, "topic_totals", []string{"topic", "format", "mentions"}, addTotalTail)
		defer totals.close()
		for _, topic := range slices.Sorted(maps.Keys(res.Mentions)) {
			byFormat := res.Mentions[topic]
			for _, format := range slices.Sorted(maps.Keys(byFormat)) {
				if err := totals.add(ctx, topic, string(format), byFormat[format]); err != nil {
					return err
				}
			}
		}
		brandTotalRows := newBulkInsert(tx, "topic_brand_totals", []string{"topic", "brand", "mentions"}, addBrandTail)
		defer brandTotalRows.close()
		for _, k := range slices.SortedFunc(maps.Keys(brandTotals), func(a, b topicBrand) int {
			return cmp.Or(strings.Compare(a.topic, b.topic), strings.Compare(a.brand, b.brand))
		}) {
			if err := brandTotalRows.add(ctx, k.topic, k.brand, brandTotals[k]); err != nil {
				return err
			}
		}
		for _, bi := range []*bulkInsert{totals, brandTotalRows} {
			if err := bi.flush(ctx); err != nil {
				return err
			}
		}
		if state != nil {
			if _, err := tx.ExecContext(ctx, saveStateSQL, state.Source, state.Cursor, state.ETag,
				state.LastModified, unixCeil(state.NextCheck)); err != nil {
				return fmt.Errorf("source state: %w", err)
			}
		}
		return nil
	})
	if mem != nil {
		mem.settle(err == nil, time.Duration(b.NearDup.Horizon))
	}
	if err != nil {
		return affinity.CommitResult{}, fmt.Errorf("store: commit source %q: %w", b.Source, err)
	}
	s.logger.Debug("batch committed", "source", b.Source, "posts_new", res.New,
		"posts_duplicate", res.Duplicates, "posts_near_duplicate", res.NearDuplicates, "originals_demoted", res.Demoted, "duration_seconds", time.Since(start).Seconds())
	return res, nil
}

// SourceState implements Store.
func (s *SQLite) SourceState(ctx context.Context, source string) (affinity.SourceState, bool, error) {
	st := affinity.SourceState{Source: source}
	var next int64
	err := s.r.QueryRowContext(ctx,
		`SELECT cursor, etag, last_modified, next_check FROM source_state WHERE source = ?`, source).
		Scan(&st.Cursor, &st.ETag, &st.LastModified, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return affinity.SourceState{}, false, nil
	}
	if err != nil {
		return affinity.SourceState{}, false, fmt.Errorf("store: source state %q: %w", source, err)
	}
	st.NextCheck = timeOrZero(next)
	return st, true, nil
}

// TopicWindows implements Store. Each topic ever counted (topic_totals) is
// read by equality on mentions_topic_ts, so the cost follows the window, not
// the retention; all queries share one read transaction, hence one snapshot.
func (s *SQLite) TopicWindows(ctx context.Context, w affinity.Window) (map[string]affinity.TopicWindow, error) {
	from, to := w.From.Unix(), w.To.Unix()
	out := map[string]affinity.TopicWindow{}
	if to <= from {
		return out, nil
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: topic windows: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only

	var topics []string
	if err := scanRows(ctx, tx, `SELECT DISTINCT topic FROM topic_totals`, nil, func(rows *sql.Rows) error {
		var t string
		err := rows.Scan(&t)
		topics = append(topics, t)
		return err
	}); err != nil {
		return nil, fmt.Errorf("store: topic windows: topics: %w", err)
	}

	// One pass over the topic's index range counts everything, the known
	// formats by conditional sums: a GROUP BY format would sort the range and
	// cost twice as much. Rows of any other format (a source misconfigured in
	// the past) are counted by a GROUP BY only when they exist.
	var sb strings.Builder
	sb.WriteString(`SELECT COUNT(*), COUNT(DISTINCT CASE WHEN author <> '' THEN author END), COALESCE(SUM(engagement), 0),
	COALESCE(SUM(CASE WHEN sentiment > 0 THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN sentiment < 0 THEN 1 ELSE 0 END), 0)`)
	var args []any
	for _, f := range affinity.Formats {
		sb.WriteString(`, COALESCE(SUM(CASE WHEN format = ? THEN 1 ELSE 0 END), 0)`)
		args = append(args, string(f))
	}
	sb.WriteString(` FROM mentions WHERE topic = ? AND ts >= ? AND ts < ?`)
	perTopic, err := tx.PrepareContext(ctx, sb.String())
	if err != nil {
		return nil, fmt.Errorf("store: topic windows: %w", err)
	}
	defer perTopic.Close()

	known := make([]int64, len(affinity.Formats))
	dest := []any{nil, nil, nil, nil, nil}
	for i := range known {
		dest = append(dest, &known[i])
	}
	for _, topic := range topics {
		tw := affinity.TopicWindow{Topic: topic, Formats: map[affinity.Format]int64{}, Brands: map[string]int64{}}
		dest[0], dest[1], dest[2], dest[3], dest[4] = &tw.Mentions, &tw.Authors, &tw.Engagement, &tw.Positive, &tw.Negative
		if err := perTopic.QueryRowContext(ctx, append(args, topic, from, to)...).Scan(dest...); err != nil {
			return nil, fmt.Errorf("store: topic windows %q: %w", topic, err)
		}
		if tw.Mentions == 0 {
			continue
		}
		var sum int64
		for i, f := range affinity.Formats {
			if known[i] > 0 {
				tw.Formats[f] = known[i]
			}
			sum += known[i]
		}
		if sum < tw.Mentions {
			if err := scanRows(ctx, tx, `SELECT format, COUNT(*) FROM mentions
WHERE topic = ? AND ts >= ? AND ts < ? GROUP BY format`, []any{topic, from, to}, func(rows *sql.Rows) error {
				var f string
				var n int64
				err := rows.Scan(&f, &n)
				tw.Formats[affinity.Format(f)] = n
				return err
			}); err != nil {
				return nil, fmt.Errorf("store: topic windows %q: formats: %w", topic, err)
			}
		}
		out[topic] = tw
	}

	// Maps inside the TopicWindow values are shared, so filling them in place
	// is enough. The post's sentiment rides on its mentions row, so the brand's
	// net sentiment within the topic costs two sums in the same pass.
	for _, tw := range out {
		tw.BrandPositive, tw.BrandNegative = map[string]int64{}, map[string]int64{}
		out[tw.Topic] = tw
	}
	if err := scanRows(ctx, tx, `SELECT m.topic, b.brand, COUNT(*),
	COALESCE(SUM(CASE WHEN m.sentiment > 0 THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN m.sentiment < 0 THEN 1 ELSE 0 END), 0)
FROM brand_mentions b JOIN mentions m ON m.post_id = b.post_id
WHERE b.ts >= ? AND b.ts < ?
GROUP BY m.topic, b.brand`, []any{from, to}, func(rows *sql.Rows) error {
		var topic, brand string
		var n, pos, neg int64
		if err := rows.Scan(&topic, &brand, &n, &pos, &neg); err != nil {
			return err
		}
		if tw, ok := out[topic]; ok {
			tw.Brands[brand] = n
			if pos > 0 {
				tw.BrandPositive[brand] = pos
			}
			if neg > 0 {
				tw.BrandNegative[brand] = neg
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: topic windows: brands: %w", err)
	}
	return out, nil
}

// querier is what scanRows reads through: a transaction or a pool.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanRows runs query through q and hands each row to fn.
func scanRows(ctx context.Context, q querier, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// MentionTotals implements Store.
func (s *SQLite) MentionTotals(ctx context.Context) (map[string]map[affinity.Format]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT topic, format, mentions FROM topic_totals`)
	if err != nil {
		return nil, fmt.Errorf("store: mention totals: %w", err)
	}
	defer rows.Close()
	out := map[string]map[affinity.Format]int64{}
	for rows.Next() {
		var topic, format string
		var n int64
		if err := rows.Scan(&topic, &format, &n); err != nil {
			return nil, fmt.Errorf("store: mention totals: %w", err)
		}
		if out[topic] == nil {
			out[topic] = map[affinity.Format]int64{}
		}
		out[topic][affinity.Format(format)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: mention totals: %w", err)
	}
	return out, nil
}

// BrandMentionTotals implements Store.
func (s *SQLite) BrandMentionTotals(ctx context.Context) (map[string]map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT topic, brand, mentions FROM topic_brand_totals`)
	if err != nil {
		return nil, fmt.Errorf("store: brand mention totals: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int64{}
	for rows.Next() {
		var topic, brand string
		var n int64
		if err := rows.Scan(&topic, &brand, &n); err != nil {
			return nil, fmt.Errorf("store: brand mention totals: %w", err)
		}
		if out[topic] == nil {
			out[topic] = map[string]int64{}
		}
		out[topic][brand] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: brand mention totals: %w", err)
	}
	return out, nil
}

// Evidence implements Store; a limit ≤ 0 returns nothing. Times come back in
// UTC at second resolution, as stored.
func (s *SQLite) Evidence(ctx context.Context, topic string, limit int) ([]affinity.Post, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT p.source, p.external_id, p.url, p.author, p.published, p.collected,
	p.lang, p.title, p.text, p.likes, p.reposts, p.replies, p.score, p.format, p.copies
FROM mentions m JOIN posts p ON p.id = m.post_id
WHERE m.topic = ?
ORDER BY m.ts DESC, m.post_id DESC
LIMIT ?`, topic, limit)
	if err != nil {
		return nil, fmt.Errorf("store: evidence %q: %w", topic, err)
	}
	defer rows.Close()
	var out []affinity.Post
	for rows.Next() {
		var p affinity.Post
		var published, collected int64
		var format string
		if err := rows.Scan(&p.Source, &p.ID, &p.URL, &p.Author, &published, &collected,
			&p.Language, &p.Title, &p.Text,
			&p.Engagement.Likes, &p.Engagement.Reposts, &p.Engagement.Replies, &p.Engagement.Score,
			&format, &p.Copies); err != nil {
			return nil, fmt.Errorf("store: evidence %q: %w", topic, err)
		}
		p.Published, p.Collected, p.Format = timeOrZero(published), timeOrZero(collected), affinity.Format(format)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: evidence %q: %w", topic, err)
	}
	return out, nil
}

// Prune implements Store. It deletes pruneBatch posts (with their mentions,
// brand mentions, terms and organisations) per transaction; topic_totals,
// topic_brand_totals and source_state stay.
// On error it returns what earlier batches already deleted.
func (s *SQLite) Prune(ctx context.Context, before time.Time) (int64, error) {
	start := time.Now()
	cutoff := before.Unix()
	var total int64
	if s.nearDups != nil {
		// Pruned posts' keys go: the next commit reloads what is left. An
		// hourly prune that deletes nothing keeps the index.
		s.nearDups.mu.Lock()
		defer func() {
			if total > 0 {
				s.nearDups.invalidate()
			}
			s.nearDups.mu.Unlock()
		}()
	}
	for {
		var n int64
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT id FROM posts WHERE ts < ? ORDER BY ts, id LIMIT ?`, cutoff, pruneBatch)
			if err != nil {
				return err
			}
			var ids []any
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if len(ids) == 0 {
				return nil
			}
			in := placeholders(len(ids))
			// Children first, so this holds with or without foreign key enforcement.
			children := []string{"brand_mentions", "post_terms", "post_orgs", "mentions"}
			if s.nearDups == nil { // PostgreSQL: keys have their own table (SQLite: posts.neardup_keys)
				children = append(children, "post_neardup_keys")
			}
			for _, table := range children {
				q := `DELETE FROM ` + table + ` WHERE post_id IN (` + in + `)`
				if _, err := tx.ExecContext(ctx, q, ids...); err != nil {
					return err
				}
			}
			r, err := tx.ExecContext(ctx, `DELETE FROM posts WHERE id IN (`+in+`)`, ids...)
			if err != nil {
				return err
			}
			n, err = r.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("store: prune before %s: %w", before.UTC().Format(time.RFC3339), err)
		}
		total += n
		if n < pruneBatch {
			break
		}
	}
	s.logger.Debug("posts pruned", "posts", total, "before", before.UTC(), "duration_seconds", time.Since(start).Seconds())
	return total, nil
}

// Ping implements Store: both pools must answer.
func (s *SQLite) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close implements Store; calls after the first return nil.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		// SQLite recommends PRAGMA optimize before closing a long-lived
		// connection: it refreshes the planner's statistics where stale.
		if _, err := s.w.Exec(`PRAGMA optimize`); err != nil {
			s.logger.Debug("pragma optimize failed", "err", err)
		}
		s.closeErr = errors.Join(s.r.Close(), s.w.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("store: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// unixOrZero stores the zero time as 0 ("none"), not year 1's large negative number.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// unixCeil rounds up, so a stored "not before" never comes earlier than asked.
func unixCeil(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}

func timeOrZero(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
