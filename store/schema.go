package store

import (
	"context"
	"fmt"
)

// SchemaVersion returns the schema version of the database s is open on:
// what `affinityd migrate` reports after applying the pending steps.
func SchemaVersion(ctx context.Context, s Store) (int, error) {
	var lite *SQLite
	switch s := s.(type) {
	case *SQLite:
		lite = s
	case *Postgres:
		lite = s.SQLite
	default:
		return 0, fmt.Errorf("store: schema version: unknown store %T", s)
	}
	v, err := schemaVersion(ctx, lite.r)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return v, nil
}

// KnownSchemaVersion is the newest schema version this binary has
// migrations for, for driver "sqlite" or "postgres" (0 for another).
func KnownSchemaVersion(driver string) int {
	var ms []migration
	switch driver {
	case "sqlite":
		ms, _ = loadMigrations(sqliteMigrations, "migrations/sqlite")
	case "postgres":
		ms, _ = loadMigrations(postgresMigrations, "migrations/postgres")
	}
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}
