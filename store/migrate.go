package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sqliteMigrations holds the schema steps, one file per version named
// NNNN_what.sql; the PostgreSQL implementation keeps the same numbering.
//
//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// ErrSchemaTooNew is returned (wrapped) when the database was migrated by a
// newer affinityd than this one: running on would risk writing rows the newer
// schema does not expect, so the store refuses to open.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// migration is one versioned schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads dir of fsys, sorted by version; a file name without a
// numeric prefix or a version used twice is an error, caught by the tests
// rather than at a user's first start.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must start with a positive version number and '_'", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate brings db up to the newest of ms. Each step runs in its own
// transaction together with its schema_migrations row, so a crash leaves the
// database at a whole version; the version is re-read inside each transaction
// so two processes opening the same file at once do not apply a step twice.
// migrationDB is what migrate needs: a *sql.DB, or the one *sql.Conn that
// holds PostgreSQL's migration lock.
type migrationDB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func migrate(ctx context.Context, db migrationDB, ms []migration, logger *slog.Logger) error {
	// In a transaction, not autocommit: SQLite's writer begins IMMEDIATE,
	// which waits for another process creating the table at the same time;
	// an autocommit statement reads the schema first and, when the other
	// wrote meanwhile, fails at once with SQLITE_BUSY (no busy wait).
	if err := func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // no-op after Commit
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
			return err
		}
		return tx.Commit()
	}(); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	current, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if current > latest {
		return fmt.Errorf("database schema version %d, this binary knows up to %d (upgrade affinityd or restore an older database): %w",
			current, latest, ErrSchemaTooNew)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		applied, err := applyMigration(ctx, db, m)
		if err != nil {
			return err
		}
		if applied {
			logger.Info("schema migration applied", "version", m.version, "name", m.name)
		}
	}
	return nil
}

// applyMigration runs m unless another process got there first; it reports
// whether it ran.
func applyMigration(ctx context.Context, db migrationDB, m migration) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migration %d: begin: %w", m.version, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit

	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return false, err
	}
	if v >= m.version {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.version, time.Now().Unix()); err != nil {
		return false, fmt.Errorf("migration %d: record: %w", m.version, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %d: commit: %w", m.version, err)
	}
	return true, nil
}

// schemaVersion is the highest applied migration, 0 for a new database.
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
