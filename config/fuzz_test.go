package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad: whatever the file holds, Load returns a configuration or
// errors, never panics, and every error is a *Error naming the file (with a
// line and field where it has them), as `affinityd check` prints them. CI
// replays the seeds (every testdata file and the demo); run it long with
//
//	go test -fuzz=FuzzLoad -fuzztime=10m ./config/
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	files = append(files, "demo/affinityd.yml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{"", "---", "brand: [", "a: &a [*a]", "\xff\xfe", "brand:\n  name: \"\\ud800\"\n",
		"relationships: " + strings.Repeat("[", 5000)} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "affinityd.yml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			if cfg != nil {
				t.Fatalf("both a configuration and an error: %v", err)
			}
			errs := Errors(err)
			if len(errs) == 0 {
				t.Fatalf("error is no *Error: %v", err)
			}
			for _, e := range errs {
				if e.File != path || e.Msg == "" {
					t.Fatalf("error does not name the file or says nothing: %+v", e)
				}
			}
			return
		}
		if cfg.File != path {
			t.Fatalf("File = %q, want %q", cfg.File, path)
		}
		seen := map[string]bool{}
		for _, tp := range cfg.Topics() {
			if tp.Name == "" || seen[tp.Name] {
				t.Fatalf("valid configuration with an empty or repeated topic name %q", tp.Name)
			}
			seen[tp.Name] = true
		}
		if len(cfg.Sources) == 0 {
			t.Fatal("valid configuration without sources")
		}
	})
}
