package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestEvalNearDup(t *testing.T) {
	var out bytes.Buffer
	res, err := evalNearDupSection(evalOptions{nearDupThreshold: 0.5}, &out)
	if err != nil {
		t.Fatal(err)
	}
	r := res.(nearDupResult)
	if r.Configured.Pairs < 200 || r.Configured.Precision < 0.95 || r.Configured.Recall < 0.95 {
		t.Errorf("committed set: %+v", r.Configured)
	}
	if !regexp.MustCompile(`threshold 0\.50 \(4 of 16 keys\): precision 0\.\d{3} recall 0\.\d{3} F1 0\.\d{3}`).MatchString(out.String()) {
		t.Errorf("output:\n%s", out.String())
	}

	// Any set of the same format is scored at the configured threshold.
	own := filepath.Join(t.TempDir(), "pairs.jsonl")
	os.WriteFile(own, []byte(`{"a":"Acme Bank app is down again","b":"RT @x: Acme Bank app is down again","duplicate":true}
{"a":"Acme Bank app is down again","b":"Globex raises its savings rate","duplicate":false}
`), 0o600)
	out.Reset()
	res, err = evalNearDupSection(evalOptions{neardup: own, nearDupThreshold: 0.9}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if c := res.(nearDupResult).Configured; c.Pairs != 2 || c.Threshold != 0.9 || c.TruePos != 1 || c.FalsePos != 0 {
		t.Errorf("own set: %+v", c)
	}

	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"a\":\"x\"}\nnot json\n"), 0o600)
	for _, f := range []string{bad, filepath.Join(t.TempDir(), "missing.jsonl")} {
		if _, err := evalNearDupSection(evalOptions{neardup: f}, &out); err == nil || !strings.Contains(err.Error(), filepath.Base(f)) {
			t.Errorf("%s: err = %v", f, err)
		}
	}
}

// A repost in a replay is stored but counted once, and the summary says so.
func TestReplayNearDuplicates(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "posts.jsonl")
	lines := []string{
		`{"source":"r","id":"1","url":"https://example.org/1","author":"a","published":"2026-11-20T10:00:00Z","text":"Called the Acme Bank support hotline, sorted in five minutes. Great customer service!","format":"network"}`,
		`{"source":"r","id":"2","url":"https://example.org/2","author":"b","published":"2026-11-20T11:00:00Z","text":"RT @a: Called the Acme Bank support hotline, sorted in five minutes. Great customer service! #banking","format":"network"}`,
		`{"source":"r","id":"3","url":"https://example.org/3","author":"c","published":"2026-11-20T12:00:00Z","text":"Customer service at Acme Bank kept me on hold for an hour.","format":"network"}`,
	}
	if err := os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "--storage.path", filepath.Join(dir, "a.db"), "--log.level", "error", "replay", "--input", input)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, ": 3 posts read, 3 new, 0 duplicates, 1 near-duplicates, 3 matched") {
		t.Errorf("summary = %q", out)
	}
}
