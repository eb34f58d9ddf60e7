package store

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// rawDB opens path without the store, to look at or tamper with the schema.
func rawDB(t testing.TB, path string) *sql.DB {
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
	forEachDriver(t, func(t *testing.T, d driver) {
		ms, err := d.migrations()
		if err != nil {
			t.Fatal(err)
		}
		// Versions run 1, 2, 3, … so the two drivers' sets mirror one to one.
		for i, m := range ms {
			if m.version != i+1 {
				t.Errorf("migration %q has version %d, want %d", m.name, m.version, i+1)
			}
		}
	})
}

// TestMigrationsMirrored holds the PostgreSQL migrations level with SQLite's:
// a step added to one driver only fails here, not at a user's first start.
func TestMigrationsMirrored(t *testing.T) {
	lite, err := loadMigrations(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	pgms, err := loadMigrations(postgresMigrations, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	name := func(ms []migration) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	if !slices.Equal(name(lite), name(pgms)) {
		t.Errorf("migrations differ:\n sqlite:   %v\n postgres: %v", name(lite), name(pgms))
	}
}

func TestOpenIsIdempotent(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d driver) {
		dsn := d.newDSN(t)
		for range 3 {
			s, err := d.open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		ms, _ := d.migrations()
		var want []int
		for _, m := range ms {
			want = append(want, m.version)
		}
		if got := appliedVersions(t, d.raw(t, dsn)); !slices.Equal(got, want) {
			t.Errorf("applied versions = %v, want %v (each once)", got, want)
		}
	})
}

// TestOpenConcurrently starts several stores on one new database at once, as
// replicas do: each migration is applied once and every open succeeds.
func TestOpenConcurrently(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d driver) {
		dsn := d.newDSN(t)
		errs := make(chan error, 4)
		for range cap(errs) {
			go func() {
				s, err := d.open(context.Background(), dsn)
				if err == nil {
					err = s.Close()
				}
				errs <- err
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		ms, _ := d.migrations()
		if got := appliedVersions(t, d.raw(t, dsn)); len(got) != len(ms) {
			t.Errorf("applied versions = %v, want %d, each once", got, len(ms))
		}
	})
}

func TestNewerSchemaRefused(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d driver) {
		dsn := d.newDSN(t)
		s, err := d.open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		db := d.raw(t, dsn)
		if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
			t.Fatal(err)
		}
		db.Close()

		_, err = d.open(context.Background(), dsn)
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Fatalf("open of a newer schema: err = %v, want ErrSchemaTooNew", err)
		}
		if !strings.Contains(err.Error(), "9999") {
			t.Errorf("error %q does not name the database's version", err)
		}
	})
}

func TestMigrateInOrderAndAtomically(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d driver) {
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
		db := d.raw(t, d.newDSN(t))
		if err := d.migrate(ctx, db, ms, discard()); err != nil {
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
		if err := d.migrate(ctx, db, ms, discard()); err != nil {
			t.Fatal(err)
		}
		db.QueryRow(`SELECT SUM(v) FROM a`).Scan(&sum)
		if sum != 3 {
			t.Errorf("second run changed data: sum = %d", sum)
		}

		// A failing step leaves nothing of itself behind, and no version row.
		fsys["m/0011_bad.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE half (v INTEGER); INSERT INTO missing VALUES (1);`)}
		ms, _ = loadMigrations(fsys, "m")
		if err := d.migrate(ctx, db, ms, discard()); err == nil || !strings.Contains(err.Error(), "0011_bad.sql") {
			t.Fatalf("failing migration: err = %v, want one naming the file", err)
		}
		if got := appliedVersions(t, db); !slices.Equal(got, []int{1, 2, 10}) {
			t.Errorf("applied after failure = %v", got)
		}
		n := -1
		if err := db.QueryRow(d.tableCount, "half").Scan(&n); err != nil || n != 0 {
			t.Errorf("table of the failed migration: count = %d, err = %v; want 0", n, err)
		}
	})
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
