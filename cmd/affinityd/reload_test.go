package main

import (
	"context"
	"github.com/affinityd/affinityd/config"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReload(t *testing.T) {
	body, err := os.ReadFile(e2eFeed)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := feedServer(t, body)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "affinityd.yml")
	write := func(cfg string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(strings.ReplaceAll(cfg, "URL", srv.URL+"/feed.xml")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(e2eConfig)
	d, h := startDaemon(t, cfgFile, filepath.Join(dir, "a.db"))
	defer d.close()
	d.metrics.ConfigLoaded(true, d.now())
	cycle(t, d)

	// Rename selinux to kernel and the source blog to blog2: old series go, new ones come at once.
	write(strings.NewReplacer(`name: selinux`, `name: kernel`, `["SELinux"]`, `["kernel"]`, `name: blog`, `name: blog2`).Replace(e2eConfig))
	if err := d.reload(context.Background()); err != nil {
		t.Fatalf("valid reload refused: %v", err)
	}
	fams := scrape(t, h)
	if got := value(t, fams, "affinity_config_last_reload_successful", nil); got != 1 {
		t.Errorf("last_reload_successful = %v, want 1", got)
	}
	for _, m := range fams["affinity_topic_score"].GetMetric() {
		if m.GetLabel()[0].GetValue() == "selinux" {
			t.Errorf("removed topic selinux still exported")
		}
	}
	if got := value(t, fams, "affinity_topic_mentions", map[string]string{"topic": "kernel"}); got != 0 {
		t.Errorf("new topic kernel = %v, want 0 until its posts are matched", got)
	}
	if got := value(t, fams, "affinity_topic_mentions", map[string]string{"topic": "proxmox"}); got != 2 {
		t.Errorf("kept topic proxmox = %v, want 2 (history kept across reload)", got)
	}
	for _, m := range fams["affinity_source_up"].GetMetric() {
		if m.GetLabel()[0].GetValue() == "blog" {
			t.Errorf("removed source blog still exported")
		}
	}
	value(t, fams, "affinity_source_up", map[string]string{"source": "blog2"})

	// An invalid file is refused; the running configuration stays.
	write("brand: [unclosed")
	err = d.reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), cfgFile+":") {
		t.Fatalf("invalid reload: err = %v, want a file:line error", err)
	}
	fams = scrape(t, h)
	if got := value(t, fams, "affinity_config_last_reload_successful", nil); got != 0 {
		t.Errorf("last_reload_successful = %v, want 0 after a refused reload", got)
	}
	value(t, fams, "affinity_topic_score", map[string]string{"topic": "kernel"})
	if d.gen.Load().cfg.Sources[0].Name != "blog2" {
		t.Errorf("running config changed by a refused reload")
	}
}

func TestQueriesFor(t *testing.T) {
	cfg, _, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	all := queriesFor(cfg, config.Source{Queries: "all"})
	if len(all) != len(cfg.Topics())+len(cfg.Brands()) {
		t.Fatalf("all: %d queries, want %d", len(all), len(cfg.Topics())+len(cfg.Brands()))
	}
	if all[0].Key != "topic:customer-service" || all[0].Search() != `"customer service" OR "support hotline" OR "customer support" OR "help desk"` {
		t.Errorf("first topic query = %s %q", all[0].Key, all[0].Search())
	}
	own := all[len(cfg.Topics())]
	if own.Key != "brand:Acme Bank" || own.Search() != `"Acme Bank" OR Acme OR acmebank` {
		t.Errorf("own brand query = %s %q (handles as words, case duplicates dropped)", own.Key, own.Search())
	}
	if n := len(queriesFor(cfg, config.Source{Queries: "topics"})); n != len(cfg.Topics()) {
		t.Errorf("topics only: %d", n)
	}
	if n := len(queriesFor(cfg, config.Source{Queries: "brands"})); n != len(cfg.Brands()) {
		t.Errorf("brands only: %d", n)
	}
}
