package config

import (
	"embed"
	"fmt"
	"io/fs"
)

// demoFiles is the offline demo: a configuration and sample posts written for
// it, so `affinityd run` with no flags shows real numbers on any machine.
//
//go:embed demo/affinityd.yml demo/posts.jsonl demo/news.xml
var demoFiles embed.FS

// DemoFile is the name the demo configuration is known by in messages.
const DemoFile = "demo/affinityd.yml"

// Demo returns the embedded demo configuration and the file system its
// replay paths are read from.
func Demo() (*Config, fs.FS, error) {
	data, err := demoFiles.ReadFile(DemoFile)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded demo: %w", err)
	}
	cfg, err := parseEmbedded(data, DemoFile)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded demo: %w", err)
	}
	sub, err := fs.Sub(demoFiles, "demo")
	if err != nil {
		return nil, nil, fmt.Errorf("embedded demo: %w", err)
	}
	return cfg, sub, nil
}

// parseEmbedded parses a configuration that does not live on disk: its
// relative paths stay relative (they name files of an embedded FS).
func parseEmbedded(data []byte, name string) (*Config, error) {
	cfg, err := parse(data, name, false)
	if err != nil {
		return nil, err
	}
	cfg.File = ""
	return cfg, nil
}
