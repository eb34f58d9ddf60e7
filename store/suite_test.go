package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/affinityd/affinityd/store/pgtest"
)

// pg is the PostgreSQL the tests run against: AFFINITY_TEST_PG_DSN's, or a
// throwaway server TestMain started; nil (tests skip) only outside CI when
// neither is available.
var (
	pg      *pgtest.Server
	pgError error
)

func TestMain(m *testing.M) {
	pg, pgError = pgtest.Start(context.Background())
	if pgError != nil {
		if pgtest.Required() {
			fmt.Fprintf(os.Stderr, "store tests: PostgreSQL is required in CI (CI=true): %v\n", pgError)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "store tests: PostgreSQL tests skipped: %v\n", pgError)
	}
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "store tests: stop PostgreSQL: %v\n", err)
	}
	os.Exit(code)
}

var postgresDriver = driver{
	name: "postgres",
	newDSN: func(t testing.TB) string {
		t.Helper()
		if pg == nil {
			t.Skipf("no PostgreSQL: %v", pgError)
		}
		dsn, drop, err := pg.CreateDatabase(context.Background(), "store_"+t.Name())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := drop(); err != nil {
				t.Errorf("drop test database: %v", err)
			}
		})
		return dsn
	},
	open: func(ctx context.Context, dsn string) (Store, error) {
		return OpenPostgres(ctx, dsn, nil)
	},
	raw: func(t testing.TB, dsn string) *sql.DB {
		t.Helper()
		c, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*c)})
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	},
	migrations: func() ([]migration, error) { return loadMigrations(postgresMigrations, "migrations/postgres") },
	migrate:    migratePostgres,
	tableCount: `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?`,
}

// setCommitHook sets the function every write transaction of s runs just
// before COMMIT.
func setCommitHook(t *testing.T, s Store, fn func()) {
	t.Helper()
	switch s := s.(type) {
	case *SQLite:
		s.testHookBeforeCommit = fn
	case *Postgres:
		s.SQLite.testHookBeforeCommit = fn
	default:
		t.Fatalf("no commit hook for %T", s)
	}
}

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c IN (?,?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2,$3)`},
		{`SELECT '?', "a?b", ? -- why?
FROM t /* really? */ WHERE x = ?`, `SELECT '?', "a?b", $1 -- why?
FROM t /* really? */ WHERE x = $2`},
		{`SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{`SELECT 'unterminated ?`, `SELECT 'unterminated ?`},
		{`-- only a comment?`, `-- only a comment?`},
	}
	for _, tt := range tests {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/affinity?sslmode=require", "postgres://app:xxxxx@db:5432/affinity?sslmode=require"},
		{"postgresql://app@db/affinity?password=s3cret", "postgresql://app@db/affinity?password=xxxxx"},
		{"host=db user=app password=s3cret dbname=affinity", "host=db user=app password=xxxxx dbname=affinity"},
		{"host=db password = 'with space' dbname=a", "host=db password = xxxxx dbname=a"},
		{"host=db PASSWORD='it\\'s' dbname=a", "host=db PASSWORD=xxxxx dbname=a"},
		{"host=db user=app", "host=db user=app"},
	}
	for _, tt := range tests {
		if got := RedactDSN(tt.in); got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPostgresOpenNamesServerNotPassword: an unreachable server is reported
// with its address, never the password.
func TestPostgresOpenNamesServerNotPassword(t *testing.T) {
	// A port nothing listens on: the one of a listener just closed.
	dsn := "postgres://app:s3cret-pw@127.0.0.1:1/affinity?sslmode=disable&connect_timeout=2"
	_, err := OpenPostgres(context.Background(), dsn, nil)
	if err == nil {
		t.Fatal("open of an unreachable server succeeded")
	}
	if msg := err.Error(); !containsAll(msg, "app@127.0.0.1:1/affinity") || containsAll(msg, "s3cret") {
		t.Errorf("error %q: want it to name app@127.0.0.1:1/affinity and not the password", msg)
	}
	if _, _, err := PostgresSchema(context.Background(), dsn); err == nil || containsAll(err.Error(), "s3cret") {
		t.Errorf("PostgresSchema of an unreachable server: err = %v", err)
	}
	if _, err := OpenPostgres(context.Background(), "postgres://app:s3cret-pw@[bad", nil); err == nil || containsAll(err.Error(), "s3cret") {
		t.Errorf("unparseable dsn: err = %v, want one without the password", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestSchemaVersion(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		dsn := d.newDSN(t)
		known := KnownSchemaVersion(d.name)
		if ms, _ := d.migrations(); known != ms[len(ms)-1].version {
			t.Fatalf("KnownSchemaVersion(%q) = %d, want the embedded migrations' newest", d.name, known)
		}
		if d.name == "postgres" {
			// check on a new database: reachable, nothing applied yet.
			if have, k, err := PostgresSchema(ctx, dsn); have != 0 || k != known || err != nil {
				t.Errorf("PostgresSchema before open = %d, %d, %v; want 0, %d", have, k, err, known)
			}
		}
		s := d.mustOpen(t, dsn)
		if v, err := SchemaVersion(ctx, s); v != known || err != nil {
			t.Errorf("SchemaVersion of an opened store = %d, %v; want %d", v, err, known)
		}
		if d.name == "postgres" {
			if have, k, err := PostgresSchema(ctx, dsn); have != known || k != known || err != nil {
				t.Errorf("PostgresSchema after open = %d, %d, %v; want %d, %d", have, k, err, known, known)
			}
		}
	})
}
