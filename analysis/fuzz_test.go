package analysis

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedFeeds adds the shared fixture feeds as seeds: real HTML-in-XML, broken
// entities and odd encodings are what Normalize meets in production.
func seedFeeds(f *testing.F) {
	files, _ := filepath.Glob("../../shared/fixtures/feeds/*/*/*")
	for i, p := range files {
		if i%4 != 0 { // a quarter of them keeps the seed corpus quick to replay in CI
			continue
		}
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
			f.Add(string(b))
		}
	}
	for _, s := range []string{"", "<script>alert(1)</script>", "&amp;&#8217;&eacute;&bogus;", "#CustomerService @acmebank",
		"<div><div><div>" + strings.Repeat("<b>", 1000), "\xff\xfe invalid", "İ's Ⱥ's l'équipe", "👨‍👩‍👧 🇩🇪"} {
		f.Add(s)
	}
}

// FuzzNormalize: any input gives valid, trimmed UTF-8 with whitespace
// collapsed. (Not idempotent, rightly: text inside <title> is raw text, so
// a literal "<A>" there is post text that a second pass would strip.)
func FuzzNormalize(f *testing.F) {
	seedFeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if !utf8.ValidString(n) {
			t.Fatalf("invalid UTF-8 from %q", s)
		}
		if strings.Contains(n, "  ") || strings.TrimSpace(n) != n {
			t.Fatalf("whitespace not collapsed: %q", n)
		}
	})
}

// FuzzTokenizeMatch: tokenizing never panics, tokens are non-empty valid
// UTF-8, and matching a gazetteer over them is deterministic.
func FuzzTokenizeMatch(f *testing.F) {
	seedFeeds(f)
	m, err := NewMatcher(testConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks := Tokenize(Normalize(s))
		for _, tok := range toks {
			if tok.Text == "" || !utf8.ValidString(tok.Text) || !utf8.ValidString(tok.Folded) {
				t.Fatalf("bad token %+v from %q", tok, s)
			}
		}
		t1, b1 := m.Match(toks, "en")
		t2, b2 := m.Match(toks, "en")
		if strings.Join(t1, ",") != strings.Join(t2, ",") || strings.Join(b1, ",") != strings.Join(b2, ",") {
			t.Fatalf("matching not deterministic on %q", s)
		}
	})
}
