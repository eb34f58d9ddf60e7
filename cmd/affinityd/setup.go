package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/affinityd/affinityd/collector"
	"github.com/affinityd/affinityd/config"
	"github.com/affinityd/affinityd/store"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
)

// globalFlags are the flags every subcommand shares.
type globalFlags struct {
	configFile  string
	storagePath string
	webFlags    *web.FlagConfig
}

// loaded is a configuration with the file system its relative paths live in.
type loaded struct {
	cfg  *config.Config
	open func(name string) (io.ReadCloser, error)
}

// loadConfig reads the configuration file, or the embedded demo when none is named.
func loadConfig(g globalFlags) (loaded, error) {
	if g.configFile == "" {
		cfg, fsys, err := config.Demo()
		if err != nil {
			return loaded{}, err
		}
		return loaded{cfg: cfg, open: func(name string) (io.ReadCloser, error) { return fsys.Open(name) }}, nil
	}
	cfg, err := config.Load(g.configFile)
	if err != nil {
		return loaded{}, err
	}
	return loaded{cfg: cfg, open: func(name string) (io.ReadCloser, error) { return os.Open(name) }}, nil
}

var _ fs.FS // config.Demo returns an fs.FS

// storagePath names the store: the SQLite file (the flag wins over the
// configuration) or, for PostgreSQL, where its DSN is read from (never the
// DSN, which carries a password).
func storagePath(g globalFlags, cfg *config.Config) string {
	if cfg.Store.Driver == "postgres" {
		return "postgres (dsn from " + cfg.Store.DSN.String() + ")"
	}
	if g.storagePath != "" {
		return g.storagePath
	}
	return cfg.Store.Path
}

// openStore opens the configured store and applies pending migrations.
func openStore(ctx context.Context, g globalFlags, cfg *config.Config, logger *slog.Logger) (store.Store, error) {
	logger = logger.With("component", "store")
	if cfg.Store.Driver == "postgres" {
		if g.storagePath != "" {
			return nil, fmt.Errorf("open store: --storage.path is for driver sqlite; the configuration uses postgres")
		}
		dsn, err := cfg.Store.DSN.Value()
		if err != nil {
			return nil, fmt.Errorf("open store postgres: dsn: %w", err)
		}
		s, err := store.OpenPostgres(ctx, dsn, logger)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	}
	path := storagePath(g, cfg)
	s, err := store.OpenSQLite(ctx, path, logger)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	return s, nil
}

// buildSources makes one collector.Source per configured source.
func buildSources(l loaded, client *collector.Client, logger *slog.Logger, now func() time.Time) ([]collector.Source, error) {
	var out []collector.Source
	for _, sc := range l.cfg.Sources {
		newSource, ok := collector.Kinds[sc.Kind]
		if !ok {
			return nil, fmt.Errorf("source %q: unknown kind %q", sc.Name, sc.Kind)
		}
		src, err := newSource(sc, collector.Options{
			Client:  client,
			Logger:  logger.With("source", sc.Name),
			Now:     now,
			Open:    l.open,
			Queries: queriesFor(l.cfg, sc),
		})
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", sc.Name, err)
		}
		out = append(out, src)
	}
	return out, nil
}

func newClient(cfg *config.Config) *collector.Client {
	return collector.NewClient(cfg.Collector, version.Version)
}

// queriesFor builds what a search source asks its platform for: each topic's
// terms and synonyms, and each brand's name and aliases, as the source's
// "queries" setting selects (default: both, so share of voice has data).
func queriesFor(cfg *config.Config, sc config.Source) []collector.Query {
	var qs []collector.Query
	if sc.Queries != "brands" {
		for _, t := range cfg.Topics() {
			// A boolean topic asks for the terms that can make it match;
			// analysis applies the rest of its query.
			qs = append(qs, collector.Query{Key: "topic:" + t.Name, Terms: t.MatchTerms()})
		}
	}
	if sc.Queries != "topics" {
		for _, b := range cfg.Brands() {
			terms := []string{b.Name}
			for _, a := range b.Aliases {
				// Handles and hashtags are searched as words; platforms match them that way.
				if a = strings.TrimLeft(a, "@#"); a != "" {
					terms = append(terms, a)
				}
			}
			qs = append(qs, collector.Query{Key: "brand:" + b.Name, Terms: dedupeFold(terms)})
		}
	}
	return qs
}

// dedupeFold drops terms that differ only in case.
func dedupeFold(terms []string) []string {
	seen := map[string]bool{}
	out := terms[:0]
	for _, t := range terms {
		k := strings.ToLower(t)
		if !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	return out
}
