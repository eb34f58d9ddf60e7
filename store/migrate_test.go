package store

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// rawDB opens path without the store, to look at or tamper with the schema.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func appliedVersions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestEmbeddedMigrationsNumbered(t *testing.T) {
	ms, err := loadMigrations(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	// Versions run 1, 2, 3, … so the PostgreSQL set can mirror them one to one.
	for i, m := range ms {
		if m.version != i+1 {
			t.Errorf("migration %q has version %d, want %d", m.name, m.version, i+1)
		}
	}
}

func TestOpenIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	for range 3 {
		s, err := OpenSQLite(context.Background(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := loadMigrations(sqliteMigrations, "migrations/sqlite")
	var want []int
	for _, m := range ms {
		want = append(want, m.version)
	}
	if got := appliedVersions(t, rawDB(t, path)); !slices.Equal(got, want) {
		t.Errorf("applied versions = %v, want %v (each once)", got, want)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := rawDB(t, path)
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, err = OpenSQLite(context.Background(), path, nil)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open of a newer schema: err = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "9999") {
		t.Errorf("error %q does not name the database's version", err)
	}
}

func TestMigrateInOrderAndAtomically(t *testing.T) {
	ctx := context.Background()
	fsys := fstest.MapFS{
		// Listed out of order and with a gap: applied by number.
		"m/0010_c.sql":    {Data: []byte(`INSERT INTO a (v) SELECT v + 1 FROM a;`)},
		"m/0002_b.sql":    {Data: []byte(`INSERT INTO a (v) VALUES (1);`)},
		"m/0001_a.sql":    {Data: []byte(`CREATE TABLE a (v INTEGER);`)},
		"m/README.md":     {Data: []byte(`not a migration`)},
		"m/0003_x.sql.gz": {Data: []byte(`ignored`)},
	}
	ms, err := loadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, filepath.Join(t.TempDir(), "m.db"))
	if err := migrate(ctx, db, ms, discard()); err != nil {
		t.Fatal(err)
	}
	if got := appliedVersions(t, db); !slices.Equal(got, []int{1, 2, 10}) {
		t.Errorf("applied = %v, want [1 2 10]", got)
	}
	var sum int
	db.QueryRow(`SELECT SUM(v) FROM a`).Scan(&sum)
	if sum != 3 { // 1 from 0002, then 2 from 0010: each ran once, in order
		t.Errorf("sum = %d, want 3", sum)
	}
	// Running again changes nothing.
	if err := migrate(ctx, db, ms, discard()); err != nil {
		t.Fatal(err)
	}
	db.QueryRow(`SELECT SUM(v) FROM a`).Scan(&sum)
	if sum != 3 {
		t.Errorf("second run changed data: sum = %d", sum)
	}

	// A failing step leaves nothing of itself behind, and no version row.
	fsys["m/0011_bad.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE half (v INTEGER); INSERT INTO missing VALUES (1);`)}
	ms, _ = loadMigrations(fsys, "m")
	if err := migrate(ctx, db, ms, discard()); err == nil || !strings.Contains(err.Error(), "0011_bad.sql") {
		t.Fatalf("failing migration: err = %v, want one naming the file", err)
	}
	if got := appliedVersions(t, db); !slices.Equal(got, []int{1, 2, 10}) {
		t.Errorf("applied after failure = %v", got)
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'`).Scan(&n)
	if n != 0 {
		t.Errorf("table of the failed migration exists")
	}
}

func TestLoadMigrationsRejects(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"no version", fstest.MapFS{"m/init.sql": {}}, "must start with a positive version"},
		{"zero version", fstest.MapFS{"m/0000_init.sql": {}}, "must start with a positive version"},
		{"no underscore", fstest.MapFS{"m/0001.sql": {}}, "must start with a positive version"},
		{"duplicate version", fstest.MapFS{"m/0001_a.sql": {}, "m/01_b.sql": {}}, "share version 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadMigrations(tt.fsys, "m")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
