package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	sqldriver "database/sql/driver"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/affinityd/affinityd/affinity"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresMigrations mirrors sqliteMigrations version for version; the
// types differ, the tables, keys and indexes do not (a test holds them level).
//
//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

const (
	// migrateLockKey is the pg_advisory_lock key replicas take around
	// migrations, so N replicas starting at once apply each step once.
	migrateLockKey int64 = 0x61666669_6d696772 // "affimigr"
	// nearDupLockKey is the key of the transaction lock around commits that
	// collapse near-duplicates.
	nearDupLockKey int64 = 0x61666669_6e656172 // "affinear"
	// commitAttempts bounds the retries of a commit PostgreSQL aborted as a
	// deadlock or serialization failure: replicas committing posts that share
	// canonical URLs or totals rows can meet in opposite orders.
	commitAttempts = 5
	// pgConnMaxLifetime recycles connections so a failed-over or restarted
	// server is picked up without a restart of affinityd.
	pgConnMaxLifetime = 30 * time.Minute
)

// nearDupLockSQL takes the transaction-scoped advisory lock that serializes
// commits collapsing near-duplicates (SQLite.nearDupLock).
var nearDupLockSQL = fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, nearDupLockKey)

// Postgres is the Store on PostgreSQL, for several replicas sharing one
// database. It runs SQLite's very queries — written in the SQL both engines
// share, with ? placeholders the connector rebinds to $n (sqlx's Rebind done
// once, in the driver) — so the two implementations cannot drift apart and
// the store tests prove every method on both. What differs is here: the pools,
// migrations under an advisory lock, retries of deadlocked commits, Close.
type Postgres struct {
	*SQLite // the shared queries, on PostgreSQL pools

	target    string // the server and database, never the password
	closeOnce sync.Once
	closeErr  error
}

// OpenPostgres connects to the database dsn names (a postgres:// URL or
// key=value pairs, as libpq reads them), applies pending migrations and
// returns the store. It refuses a database migrated by a newer binary
// (ErrSchemaTooNew). Errors and logs name the server, never the password. A nil
// logger discards.
func OpenPostgres(ctx context.Context, dsn string, logger *slog.Logger) (*Postgres, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w, r, target, err := openPostgresPools(dsn)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Postgres, error) {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("store: open postgres %s: %w", target, err)
	}
	if err := w.PingContext(ctx); err != nil {
		return fail(err)
	}
	ms, err := loadMigrations(postgresMigrations, "migrations/postgres")
	if err != nil {
		return fail(err)
	}
	if err := migratePostgres(ctx, w, ms, logger); err != nil {
		return fail(err)
	}
	if err := r.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("readers: %w", err))
	}
	logger.Debug("store opened", "driver", "postgres", "target", target)
	return &Postgres{SQLite: &SQLite{w: w, r: r, logger: logger, nearDupLock: nearDupLockSQL}, target: target}, nil
}

// openPostgresPools builds the writer and reader pools of dsn. Readers run
// read-only and REPEATABLE READ by default, so every read transaction of the
// shared queries sees one snapshot, as it does on SQLite.
func openPostgresPools(dsn string) (w, r *sql.DB, target string, err error) {
	wc, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgconn redacts the password in its parse errors; say so plainly anyway.
		return nil, nil, "", fmt.Errorf("store: postgres dsn %s: %w", RedactDSN(dsn), err)
	}
	target = pgTarget(wc)
	rc := wc.Copy()
	rc.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	rc.RuntimeParams["default_transaction_read_only"] = "on"

	w = sql.OpenDB(rebindConnector{stdlib.GetConnector(*wc)})
	w.SetMaxOpenConns(4)
	w.SetMaxIdleConns(4)
	w.SetConnMaxLifetime(pgConnMaxLifetime)
	n := max(4, runtime.GOMAXPROCS(0))
	r = sql.OpenDB(rebindConnector{stdlib.GetConnector(*rc)})
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxLifetime(pgConnMaxLifetime)
	return w, r, target, nil
}

// pgTarget names the server and database for messages: user@host:port/db.
func pgTarget(c *pgx.ConnConfig) string {
	host := c.Host
	if strings.HasPrefix(host, "/") {
		host = "unix:" + host
	}
	return fmt.Sprintf("%s@%s:%d/%s", c.User, host, c.Port, c.Database)
}

// migratePostgres runs migrate while holding a session advisory lock, so
// replicas starting together queue up instead of racing on CREATE TABLE.
func migratePostgres(ctx context.Context, db *sql.DB, ms []migration, logger *slog.Logger) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(?)`, migrateLockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// A fresh context: the caller's may be done, and the lock must go.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, `SELECT pg_advisory_unlock(?)`, migrateLockKey); err != nil {
			// Closing the session releases it too; the pool may reuse this
			// connection though, so drop it.
			_ = conn.Raw(func(any) error { return sqldriver.ErrBadConn })
		}
	}()
	// applied_at is BIGINT here (migrate's own CREATE IF NOT EXISTS is then a
	// no-op): INTEGER is 32 bits in PostgreSQL and unix seconds outgrow it in 2038.
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	// On the locked connection itself: a pool of one must not wait on itself.
	return migrate(ctx, conn, ms, logger)
}

// PostgresSchema connects to dsn without migrating and returns the schema
// version the database has and the newest this binary knows: what `affinityd
// check` reports. An unreachable server is an error naming it, not the password.
func PostgresSchema(ctx context.Context, dsn string) (have, known int, err error) {
	w, r, target, err := openPostgresPools(dsn)
	if err != nil {
		return 0, 0, err
	}
	r.Close()
	defer w.Close()
	ms, err := loadMigrations(postgresMigrations, "migrations/postgres")
	if err != nil {
		return 0, 0, err
	}
	if len(ms) > 0 {
		known = ms[len(ms)-1].version
	}
	var exists bool
	if err := w.QueryRowContext(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, known, fmt.Errorf("store: postgres %s: %w", target, err)
	}
	if !exists {
		return 0, known, nil
	}
	if have, err = schemaVersion(ctx, w); err != nil {
		return 0, known, fmt.Errorf("store: postgres %s: %w", target, err)
	}
	return have, known, nil
}

// FilterNew implements Store: SQLite's FilterNew on the posts as PostgreSQL
// can hold and index them (pgPost), as Commit stores them.
func (p *Postgres) FilterNew(ctx context.Context, posts []affinity.Post) ([]affinity.Post, int, error) {
	safe := posts
	for i := range posts {
		if q := pgPost(posts[i]); q != posts[i] {
			if safe == nil || &safe[0] == &posts[0] {
				safe = slices.Clone(posts) // the caller's slice stays as given
			}
			safe[i] = q
		}
	}
	return p.SQLite.FilterNew(ctx, safe)
}

// Commit implements Store: SQLite's Commit, retried when PostgreSQL aborted
// the transaction to break a deadlock or a serialization conflict. The
// transaction rolled back whole, so a retry counts nothing twice.
func (p *Postgres) Commit(ctx context.Context, b affinity.Batch) (affinity.CommitResult, error) {
	b = pgBatch(b)
	for attempt := 1; ; attempt++ {
		res, err := p.SQLite.Commit(ctx, b)
		if err == nil || attempt == commitAttempts || !retryablePG(err) || ctx.Err() != nil {
			return res, err
		}
		p.logger.Debug("commit retried", "source", b.Source, "attempt", attempt, "err", err)
	}
}

// pgText returns s as PostgreSQL's TEXT can hold it: TEXT refuses NUL bytes
// and invalid UTF-8 (SQLSTATE 22021), which SQLite stores as given. A post
// carrying either (JSON's "\u0000", a raw byte in a replayed file or a
// header) would otherwise fail its whole batch on every retry, and its
// source would never move on. Each such byte becomes U+FFFD.
func pgText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// pgMaxKey bounds, in bytes, a text PostgreSQL indexes (ids, URLs, authors,
// terms, organisations): a btree entry holds at most 2704 bytes, and a longer
// one fails the insert (SQLSTATE 54000) where SQLite takes any length. A
// longer text keeps its first bytes and a hash of the whole, so two that
// differ only past the cut stay apart.
const pgMaxKey = 1024

// pgKey is pgText(s) cut to pgMaxKey bytes as above.
func pgKey(s string) string {
	s = pgText(s)
	if len(s) <= pgMaxKey {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	tail := "~" + hex.EncodeToString(sum[:8])
	cut := pgMaxKey - len(tail)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + tail
}

// pgKeys maps each of ss through key, cloning ss only when one changes.
func pgKeys(ss []string, key func(string) string) []string {
	for i, s := range ss {
		if key(s) != s {
			out := slices.Clone(ss)
			for j := i; j < len(out); j++ {
				out[j] = key(out[j])
			}
			return out
		}
	}
	return ss
}

// pgTerm is pgKey of a term's merge key and of its display form apart, so
// the separator stays between them.
func pgTerm(t string) string {
	key, display, ok := strings.Cut(t, termSep)
	if !ok {
		return pgKey(t)
	}
	return pgKey(key) + termSep + pgKey(display)
}

func pgPost(p affinity.Post) affinity.Post {
	for _, f := range []*string{&p.Source, &p.ID, &p.URL, &p.Author, &p.Language, (*string)(&p.Format)} {
		*f = pgKey(*f)
	}
	p.Title, p.Text = pgText(p.Title), pgText(p.Text)
	return p
}

// pgBatch is b with its texts as PostgreSQL can hold and index them (pgKey,
// pgText); the caller's slices are not touched.
func pgBatch(b affinity.Batch) affinity.Batch {
	b.Source = pgText(b.Source)
	b.Posts = slices.Clone(b.Posts)
	for i := range b.Posts {
		ap := &b.Posts[i]
		ap.Post = pgPost(ap.Post)
		a := &ap.Analysis
		a.Topics, a.Brands = pgKeys(a.Topics, pgKey), pgKeys(a.Brands, pgKey)
		a.Terms, a.Organisations = pgKeys(a.Terms, pgTerm), pgKeys(a.Organisations, pgKey)
		a.Language = pgKey(a.Language)
	}
	if b.State != nil {
		st := *b.State
		for _, f := range []*string{&st.Source, &st.Cursor, &st.ETag, &st.LastModified} {
			*f = pgText(*f)
		}
		b.State = &st
	}
	return b
}

// retryablePG reports a deadlock (40P01) or serialization failure (40001).
func retryablePG(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// Close implements Store; calls after the first return nil.
func (p *Postgres) Close() error {
	p.closeOnce.Do(func() {
		p.closeErr = errors.Join(p.r.Close(), p.w.Close())
		if p.closeErr != nil {
			p.closeErr = fmt.Errorf("store: close: %w", p.closeErr)
		}
	})
	return p.closeErr
}

// String names the database without its password.
func (p *Postgres) String() string { return "postgres " + p.target }

// rebindConnector hands out connections that rewrite ? placeholders to
// PostgreSQL's $1, $2, … before pgx sees a query.
type rebindConnector struct{ sqldriver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (sqldriver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("store: postgres: unexpected driver connection %T", conn)
	}
	return rebindConn{sc}, nil
}

// rebindConn is pgx's connection (embedded, so every optional database/sql
// interface it implements stays implemented) with the query text rebound.
type rebindConn struct{ *stdlib.Conn }

func (c rebindConn) Prepare(query string) (sqldriver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c rebindConn) PrepareContext(ctx context.Context, query string) (sqldriver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c rebindConn) ExecContext(ctx context.Context, query string, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c rebindConn) QueryContext(ctx context.Context, query string, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

// rebind numbers the ? placeholders of q as $1, $2, …, leaving string
// literals, quoted identifiers and comments alone.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		var end int // index just past a literal or comment starting at i, or 0
		switch {
		case c == '\'' || c == '"':
			if j := strings.IndexByte(q[i+1:], c); j >= 0 {
				end = i + 2 + j
			} else {
				end = len(q)
			}
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
				end = i + j
			} else {
				end = len(q)
			}
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			if j := strings.Index(q[i+2:], "*/"); j >= 0 {
				end = i + 4 + j
			} else {
				end = len(q)
			}
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		if end > 0 {
			b.WriteString(q[i:end])
			i = end - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// pwInKeyValue finds password=... in a key=value DSN, quoted or not.
var pwInKeyValue = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactDSN returns dsn with its password replaced by "xxxxx", for messages.
// Both forms libpq accepts are handled: URLs (user:password@ and
// ?password=) and key=value pairs.
func RedactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "(unparseable postgres URL)"
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return pwInKeyValue.ReplaceAllString(dsn, "${1}xxxxx")
}

// PostgresTarget names the server and database of dsn (user@host:port/db)
// for messages, never the password.
func PostgresTarget(dsn string) string {
	c, err := pgx.ParseConfig(dsn)
	if err != nil {
		return RedactDSN(dsn)
	}
	return pgTarget(c)
}
