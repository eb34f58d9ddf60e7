package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
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

// storagePath is the database file: the flag wins over the configuration.
func storagePath(g globalFlags, cfg *config.Config) string {
	if g.storagePath != "" {
		return g.storagePath
	}
	return cfg.Store.Path
}

func openStore(ctx context.Context, g globalFlags, cfg *config.Config, logger *slog.Logger) (store.Store, error) {
	path := storagePath(g, cfg)
	s, err := store.OpenSQLite(ctx, path, logger.With("component", "store"))
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
			Client: client,
			Logger: logger.With("source", sc.Name),
			Now:    now,
			Open:   l.open,
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
