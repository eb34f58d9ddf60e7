package analysis

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

func TestNearDupKeys(t *testing.T) {
	const orig = "Called the Acme Bank support hotline this morning, sorted in five minutes. Great customer service!"
	tests := []struct {
		name string
		a, b string
		dup  bool
	}{
		{"identical", orig, orig, true},
		{"retweet", orig, "RT @maria_g: " + orig, true},
		{"via handle", orig, orig + " via @fintechdaily", true},
		{"case and punctuation", orig, strings.ToLower(strings.ReplaceAll(orig, ",", "")), true},
		{"html copy", orig, "<p>" + strings.ReplaceAll(orig, ". ", ".<br>") + "</p>", true},
		{"truncated", orig, "Called the Acme Bank support hotline this morning, sorted in five…", true},
		{"same opening, other story", orig, "Called the Acme Bank support hotline about my mortgage: the advisor explained the new fixed rates, and I am switching next month.", false},
		{"same topic", orig, "Customer service at Acme Bank is ok, nothing special.", false},
		{"same boilerplate, different episode",
			"Taverncast 62. Welcome to the show, grab a drink and join us. This week: time travel, where would you go and why would you go, Bryce has customer service issues and Mike buys a dog.",
			"Taverncast 61. Welcome to the show, grab a drink and join us. This week: our tenth anniversary, life for the cast at forty-something, League of Legends, and Mike goes dark.", false},
	}
	minBands := NearDupMinBands(DefaultNearDupThreshold)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := NearDupKeys("", Normalize(tt.a)), NearDupKeys("", Normalize(tt.b))
			if got := NearDupMatch(ka, kb) >= minBands; got != tt.dup {
				t.Errorf("duplicate = %v (%d of %d keys shared), want %v", got, NearDupMatch(ka, kb), NearDupBands, tt.dup)
			}
		})
	}
}

func TestNearDupKeysEdges(t *testing.T) {
	for _, s := range []string{"", "   ", "🙂🙂", "@someone @else", "!!!"} {
		if k := NearDupKeys("", s); k != nil {
			t.Errorf("NearDupKeys(%q) = %v, want nil (no words: never a copy)", s, k)
		}
	}
	// Short posts get no keys: two people writing "I love Acme" are two
	// voices, not a copy (exact duplicates are still caught by id and URL).
	for _, s := range []string{"Hello", "I love Acme", "Acme bank is down again"} {
		if k := NearDupKeys("", s); k != nil {
			t.Errorf("NearDupKeys(%q) has keys; posts under %d words never collapse", s, nearDupMinWords)
		}
	}
	if k := NearDupKeys("", "Acme bank is down again today"); len(k) != NearDupBands {
		t.Errorf("%d words: %d keys, want %d", nearDupMinWords, len(k), NearDupBands)
	}
	if NearDupMatch(NearDupKeys("Acme outage", "app down since 9am"), NearDupKeys("", "Acme outage: app down since 9am")) != NearDupBands {
		t.Error("title + text differs from the same words as one text")
	}
	// Scripts without spaces are read character by character.
	ja, jb := NearDupKeys("", "という経緯でFolding@homeの存在を知った。"), NearDupKeys("", "RT という経緯でFolding@homeの存在を知った")
	if NearDupMatch(ja, jb) < NearDupMinBands(DefaultNearDupThreshold) {
		t.Error("a Japanese repost is not a copy")
	}
	// Keys are stable across versions: stored keys must stay comparable.
	if k := NearDupKeys("", "instant payment arrived in two seconds"); k[0] != NearDupKeys("", "Instant Payment arrived in TWO seconds!")[0] {
		t.Error("keys depend on case or punctuation")
	}
}

func TestNearDupMinBands(t *testing.T) {
	for _, tt := range []struct {
		threshold float64
		want      int
	}{{0.5, 4}, {1, 16}, {0.01, 1}, {0.75, 9}} {
		if got := NearDupMinBands(tt.threshold); got != tt.want {
			t.Errorf("NearDupMinBands(%g) = %d, want %d", tt.threshold, got, tt.want)
		}
	}
}

// TestNearDupPairs holds the quality measured on the labelled pairs (the
// threshold was chosen on this same set; see the README).
func TestNearDupPairs(t *testing.T) {
	f, err := os.Open("testdata/neardup/pairs.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pairs, err := ReadNearDupPairs(f)
	if err != nil {
		t.Fatal(err)
	}
	s := ScoreNearDup(pairs, DefaultNearDupThreshold)
	if s.Pairs < 200 || s.Duplicates < 80 || s.Pairs-s.Duplicates < 80 {
		t.Fatalf("set too small: %d pairs, %d duplicates", s.Pairs, s.Duplicates)
	}
	t.Logf("threshold %.2f (%d of %d keys): precision %.3f recall %.3f F1 %.3f (tp %d fp %d fn %d)",
		s.Threshold, s.MinBands, NearDupBands, s.Precision, s.Recall, s.F1, s.TruePos, s.FalsePos, s.FalseNeg)
	if s.Precision < 0.95 || s.Recall < 0.95 {
		t.Errorf("precision %.3f, recall %.3f: want both >= 0.95", s.Precision, s.Recall)
	}
	for _, p := range pairs {
		if p.Why == "" || p.From == "" || p.A == "" || p.B == "" {
			t.Errorf("pair without text, why or from: %+v", p)
		}
	}
}

func TestReadNearDupPairsErrors(t *testing.T) {
	if _, err := ReadNearDupPairs(strings.NewReader("{\"a\":\"x\"}\nnot json\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: err = %v", err)
	}
	if _, err := ReadNearDupPairs(strings.NewReader("")); err == nil {
		t.Error("empty input: no error")
	}
}

// BenchmarkNearDupSignature is the cost per post of the near-duplicate keys
// on a typical social post and on a long article (read up to its lead).
func BenchmarkNearDupSignature(b *testing.B) {
	post := Normalize("Fintech Daily: real-time payments are the new battleground. Globex and Hooli Pay lead, Acme Bank lags. #fintech via @fintechdaily")
	article := Normalize(strings.Repeat("Acme Bank will cut about 300 jobs in Berlin by the end of next year as it closes a third of its branches. ", 40))
	for _, bc := range []struct{ name, text string }{{"post", post}, {"article", article}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NearDupKeys("", bc.text)
			}
		})
	}
}

// The analyzer hands the store the configured rule.
func TestAnalyzerNearDupRule(t *testing.T) {
	for _, tt := range []struct {
		nd   config.NearDuplicates
		want affinity.NearDupRule
	}{
		{config.DefaultNearDuplicates, affinity.NearDupRule{MinBands: 4, Horizon: 7 * 24 * time.Hour}},
		{config.NearDuplicates{Enabled: true, Threshold: 0.8, Horizon: config.DefaultNearDuplicates.Horizon / 7}, affinity.NearDupRule{MinBands: 11, Horizon: 24 * time.Hour}},
		{config.NearDuplicates{Enabled: false, Threshold: 0.5, Horizon: config.DefaultNearDuplicates.Horizon}, affinity.NearDupRule{}},
	} {
		cfg := testConfig()
		cfg.Analysis.NearDuplicates = tt.nd
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.NearDupRule(); got != tt.want {
			t.Errorf("%+v: rule %+v, want %+v", tt.nd, got, tt.want)
		}
	}
}
