package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/affinityd/affinityd/config"
)

// ensurePromtool installs Debian's promtool through the project's script when
// it is missing; a test that needs it fails loudly rather than skipping.
func ensurePromtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	out, err := exec.Command("bash", "../../deploy/scripts/install-test-tools.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool is missing and could not be installed: %v\n%s", err, out)
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool still missing after the install script:\n%s", out)
	}
	return p
}

// TestLiveMetricsPassPromtool scrapes a daemon configured with every source
// kind (the demo's examples uncommented) and lints the exposition.
func TestLiveMetricsPassPromtool(t *testing.T) {
	promtool := ensurePromtool(t)
	demo, err := os.ReadFile("../../config/demo/affinityd.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "affinityd.yml")
	cfg := strings.ReplaceAll(string(demo), "#| ", "")
	// The demo's replay files live beside the embedded config; point at them.
	abs, _ := filepath.Abs("../../config/demo")
	cfg = strings.NewReplacer("path: posts.jsonl", "path: "+abs+"/posts.jsonl", "path: news.xml", "path: "+abs+"/news.xml").Replace(cfg)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "reddit"), []byte("not-a-real-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MASTODON_TOKEN", "not-a-real-token")
	t.Setenv("BLUESKY_APP_PASSWORD", "not-a-real-password")

	d, h := startDaemon(t, cfgFile, filepath.Join(dir, "a.db"))
	defer d.close()
	kinds := map[string]bool{}
	for _, s := range d.gen.Load().cfg.Sources {
		kinds[s.Kind] = true
	}
	for _, k := range config.SourceKinds {
		if !kinds[k] {
			t.Fatalf("kind %q not configured", k)
		}
	}
	d.metrics.ConfigLoaded(true, d.now())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
