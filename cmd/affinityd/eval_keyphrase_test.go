package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeKeyphraseZip writes a set in the LIAAD layout (SET/docsutf8/NAME.txt,
// SET/keys/NAME.key) to dir/name and returns its path.
func writeKeyphraseZip(t *testing.T, dir, name string, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, body := range files {
		f, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEvalKeyphraseFlag scores a set named by --keyphrase instead of the
// public ones: --datasets points at an empty directory, so only the named zip
// can be read. Each document has one candidate phrase, so the figures follow
// by hand: "Compression." hits 1 of its 2 gold phrases (P 1, R 1/2, F1 2/3);
// "Wavelets." matches its gold "Wavelet" through the stemmer, and its gold,
// deduplicated, is {wavelet, compression} (F1 2/3 again); "Filters." misses
// (F1 0). Means over documents: P 2/3, R 1/3, F1 0.444.
func TestEvalKeyphraseFlag(t *testing.T) {
	dir := t.TempDir()
	set := writeKeyphraseZip(t, dir, "tiny.zip", map[string]string{
		"tiny/docsutf8/a.txt": "Compression.", "tiny/keys/a.key": "compression\r\nimage coding\r\n",
		"tiny/docsutf8/b.txt": "Wavelets.", "tiny/keys/b.key": "Wavelet\t\ncompression\ncompression\n",
		"tiny/docsutf8/c.txt": "Filters.", "tiny/keys/c.key": "noise\n",
	})
	var stdout, stderr bytes.Buffer
	code := run([]string{"eval", "--only", "keyphrases", "--datasets", t.TempDir(), "--keyphrase", set}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("eval exited %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "keyphrase tiny ") || !strings.Contains(out, "docs=3 F1@10=0.444 P@10=0.667 R@10=0.333") {
		t.Errorf("output lacks the tiny set's figures (docs=3 F1@10=0.444 P@10=0.667 R@10=0.333):\n%s", out)
	}
	if strings.Contains(out, "published best") {
		t.Errorf("a set of our own printed beside a published figure:\n%s", out)
	}

	// Repeatable, and the JSON output carries the same figures per set.
	other := writeKeyphraseZip(t, dir, "other.zip", map[string]string{
		"o/docsutf8/x.txt": "Compression.", "o/keys/x.key": "compression\n",
	})
	stdout.Reset()
	code = run([]string{"eval", "--only", "keyphrases", "--format", "json", "--keyphrase", set, "--keyphrase", other}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("eval --format json exited %d: %s", code, stderr.String())
	}
	var res struct {
		Keyphrases []keyphraseResult `json:"keyphrases"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if len(res.Keyphrases) != 2 || res.Keyphrases[0].Set != "tiny" || res.Keyphrases[1].Set != "other" ||
		res.Keyphrases[1].Full.F1 != 1 || res.Keyphrases[1].Full.Docs != 1 {
		t.Errorf("json = %+v, want tiny then other with F1 1", res.Keyphrases)
	}
}

func TestEvalKeyphraseErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.zip")
	if err := os.WriteFile(bad, []byte("not a zip"), 0o600); err != nil {
		t.Fatal(err)
	}
	noKeys := writeKeyphraseZip(t, dir, "nokeys.zip", map[string]string{"s/docsutf8/a.txt": "Compression."})
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no sets under --datasets", []string{"--datasets", t.TempDir()}, "datasets not found"},
		{"missing file", []string{"--keyphrase", filepath.Join(dir, "absent.zip")}, "absent.zip"},
		{"not a zip", []string{"--keyphrase", bad}, "bad.zip"},
		{"document without keys", []string{"--keyphrase", noKeys}, `nokeys.zip: keyphrase set: document "a" has no keys/a.key`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"eval", "--only", "keyphrases"}, tt.args...), &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr.String(), tt.want)
			}
		})
	}
}
