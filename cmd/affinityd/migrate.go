package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/affinityd/affinityd/config"
	"github.com/affinityd/affinityd/store"
)

// storeCheckTimeout bounds how long `check` waits for the database.
const storeCheckTimeout = 10 * time.Second

// runMigrate is `affinityd migrate`: apply the pending schema migrations of
// the configured store (start-up does the same) and print the version.
func runMigrate(g globalFlags, logger *slog.Logger, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := loadConfig(g)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	st, err := openStore(ctx, g, l.cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: migrate: %v\n", err)
		return 1
	}
	defer st.Close()
	v, err := store.SchemaVersion(ctx, st)
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: migrate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: schema version %d (up to date)\n", storeName(g, l.cfg), v)
	return 0
}

// storeName names the configured store for a person: the SQLite file or the
// PostgreSQL server and database, never a password.
func storeName(g globalFlags, cfg *config.Config) string {
	if cfg.Store.Driver == "postgres" {
		if dsn, err := cfg.Store.DSN.Value(); err == nil {
			return "postgres " + store.PostgresTarget(dsn)
		}
	}
	return cfg.Store.Driver + " " + storagePath(g, cfg)
}

// checkStore is the store part of `affinityd check`: a PostgreSQL it cannot
// reach, or whose schema is newer than this binary, is an error; pending
// migrations are reported (start-up or `affinityd migrate` applies them).
// SQLite creates its file on first start, so there is nothing to reach.
func checkStore(g globalFlags, cfg *config.Config, stdout io.Writer) error {
	if cfg.Store.Driver != "postgres" {
		fmt.Fprintf(stdout, "  store: %s\n", storeName(g, cfg))
		return nil
	}
	dsn, err := cfg.Store.DSN.Value()
	if err != nil {
		return fmt.Errorf("store: postgres: dsn: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeCheckTimeout)
	defer cancel()
	target := store.PostgresTarget(dsn)
	have, known, err := store.PostgresSchema(ctx, dsn)
	switch {
	case err != nil:
		return fmt.Errorf("store: cannot reach postgres %s: %w", target, err)
	case have > known:
		return fmt.Errorf("store: postgres %s: schema version %d is newer than this binary knows (%d): upgrade affinityd: %w",
			target, have, known, store.ErrSchemaTooNew)
	case have < known:
		fmt.Fprintf(stdout, "  store: postgres %s: reachable, schema version %d of %d (start-up or `affinityd migrate` applies the rest)\n", target, have, known)
	default:
		fmt.Fprintf(stdout, "  store: postgres %s: reachable, schema version %d (up to date)\n", target, have)
	}
	return nil
}
