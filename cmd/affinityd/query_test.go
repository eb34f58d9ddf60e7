package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/store"
)

const queryTestConfig = `brand:
  name: Acme Bank
relationships:
  - name: Self-service
    type: self-service
    topics:
      - name: app-reviews
        query: '("banking app" OR #acmeapp) AND NOT crypto'
      - name: fees
        terms: [fee]
      - name: app-de
        terms: [App]
        languages: [de]
sources:
  - name: news
    kind: feed
    url: https://news.example.com/feed.xml
    format: audience
`

// TestQueryBacktest fills a store through the replay path, two sources and
// two weeks, then backtests a configured boolean topic, a topic of terms and
// an ad-hoc query on it.
func TestQueryBacktest(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "affinityd.yml")
	if err := os.WriteFile(cfgPath, []byte(queryTestConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "q.db")
	// Two ISO weeks before now: the Monday of this week minus 3 and 10 days.
	now := time.Now().UTC()
	monday := now.AddDate(0, 0, -((int(now.Weekday()) + 6) % 7)).Truncate(24 * time.Hour)
	weekA, weekB := monday.AddDate(0, 0, -10), monday.AddDate(0, 0, -3)
	type rec struct {
		id, lang, text string
		at             time.Time
	}
	replay := func(source string, recs []rec) {
		t.Helper()
		var lines []string
		for _, r := range recs {
			b, err := json.Marshal(map[string]any{
				"source": source, "id": r.id, "url": "https://example.org/" + source + "/" + r.id,
				"author": "u" + r.id, "published": r.at.Format(time.RFC3339), "lang": r.lang, "text": r.text, "format": "network",
			})
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, string(b))
		}
		input := filepath.Join(dir, source+".jsonl")
		if err := os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI(t, "--config.file", cfgPath, "--storage.path", db, "--log.level", "error",
			"replay", "--input", input, "--source", source)
		if code != 0 {
			t.Fatalf("replay %s: exit %d\n%s%s", source, code, out, errOut)
		}
	}
	replay("social", []rec{
		{"1", "en", "My banking app from Acme Bank crashed again after the update, the bank never answers.", weekA},
		{"2", "en", "Loving the #AcmeApp redesign, the bank did well", weekA},
		{"3", "en", "This banking app is great for crypto trading at the bank", weekB},
		{"4", "en", "The bank charges a fee for everything, even a coffee", weekB},
		{"5", "en-GB", "Feedback on the bank: the banking app is slow.", weekB},
		{"6", "", "Die neue App der Acme Bank stürzt seit dem Update ständig ab und der Support antwortet nicht.", weekB},
	})
	replay("news", []rec{
		{"7", "en", "Bank results: fees rise, coffee prices too", weekA},
		{"8", "en", "A bank launches a banking app for students", weekB},
		{"9", "en", "Weather: rain all week", weekB},
		{"10", "en", "Bank holiday traffic on the motorway", weekB},
		{"11", "en", "The bank and its banking app: a review", weekB},
		{"12", "en", "Local bank opens a new branch", weekB},
	})

	// The stored language: the platform's reduced to its base language; a
	// post without one that matched a topic, detected.
	s, err := store.OpenSQLite(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	langs := map[string]string{}
	if err := s.StoredPosts(context.Background(), time.Time{}, func(p affinity.Post) error {
		langs[p.ID] = p.Language
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if len(langs) != 12 || langs["5"] != "en" || langs["6"] != "de" || langs["1"] != "en" {
		t.Errorf("stored languages = %v, want 12 posts, 5:en (from en-GB), 6:de (detected)", langs)
	}

	code, out, errOut := runCLI(t, "--config.file", cfgPath, "--storage.path", db, "--log.level", "error",
		"query", "--topic", "app-reviews", "--samples", "2")
	if code != 0 {
		t.Fatalf("query: exit %d\n%s%s", code, out, errOut)
	}
	yA, wA := weekA.ISOWeek()
	yB, wB := weekB.ISOWeek()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`topic app-reviews \(query: \("banking app" OR #acmeapp\) AND NOT crypto\)`),
		regexp.MustCompile(`12 stored posts since \S+ \(30d\), 5 matched \(41\.7%\)`),
		// Matches: social 1, 2 and 5 (3 mentions crypto), news 8 and 11.
		regexp.MustCompile(`(?m)^\s*news\s+6\s+2\s*$`),
		regexp.MustCompile(`(?m)^\s*social\s+6\s+3\s*$`),
		regexp.MustCompile(fmt.Sprintf(`(?m)^\s*%d-W%02d\s+2\s*$`, yA, wA)),
		regexp.MustCompile(fmt.Sprintf(`(?m)^\s*%d-W%02d\s+3\s*$`, yB, wB)),
		regexp.MustCompile(`(?m)^\s*banking app\s+5\s*$`),
		regexp.MustCompile(`(?m)^\s*#acmeapp\s+1\s*$`),
		// Newest first, the hit marked.
		regexp.MustCompile(`sample hits, newest first:\n- \S+ \S+ https://example.org/\S+\n  .*«[Bb]anking app».*\n- `),
	} {
		if !want.MatchString(out) {
			t.Errorf("query output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "warnings") {
		t.Errorf("a specific topic got warnings:\n%s", out)
	}

	// A short term inside longer words, on a topic of terms.
	_, out, _ = runCLI(t, "--config.file", cfgPath, "--storage.path", db, "--log.level", "error", "query", "--topic", "fees")
	for _, want := range []string{
		`term "fee" has only 3 letters`,
		`term "fee" also occurs inside longer words in 3 posts (e.g. "fees")`,
		"«fee»",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("fees output lacks %q:\n%s", want, out)
		}
	}

	// An ad-hoc query that matches most posts.
	code, out, errOut = runCLI(t, "--config.file", cfgPath, "--storage.path", db, "--log.level", "error", "query", "--query", `bank AND NOT weather`)
	if code != 0 {
		t.Fatalf("query --query: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"11 matched (91.7%)",
		`term "bank" occurs in 11 of 12 posts (92%): too common to mean the topic on its own`,
		"the topic matches 11 of 12 posts (92%): most likely too broad",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ad-hoc output lacks %q:\n%s", want, out)
		}
	}

	// Mistakes are told, with the query's column.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"query", "--query", `(bank OR`}, "affinityd: query: --query: column 7: OR needs a term after it"},
		{[]string{"query", "--topic", "nope"}, `affinityd: query: no topic "nope" in the configuration (topics: app-reviews, fees, app-de)`},
		{[]string{"query"}, "affinityd: query: give either --topic or --query"},
		{[]string{"query", "--topic", "fees", "--since", "soon"}, `affinityd: query: --since "soon": want a positive duration`},
	} {
		code, _, errOut := runCLI(t, append([]string{"--config.file", cfgPath, "--storage.path", db, "--log.level", "error"}, tt.args...)...)
		if code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q", tt.args, code, errOut, tt.want)
		}
	}
}
