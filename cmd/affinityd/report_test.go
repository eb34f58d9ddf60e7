package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/affinityd/affinityd/server"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// demoDaemon is the embedded demo, fetched once and scored, on a fixed
// clock: the demo's replay sources shift their posts to end at "now", so
// every number is the same on every run.
func demoDaemon(t *testing.T) *daemon {
	t.Helper()
	d, _ := startDaemon(t, "", filepath.Join(t.TempDir(), "demo.db"))
	t.Cleanup(func() { _ = d.close() })
	cycle(t, d)
	return d
}

// TestReportGolden renders the demo's work template in every format and
// compares it with testdata/report.*; run with -update after checking a diff.
func TestReportGolden(t *testing.T) {
	d := demoDaemon(t)
	rep, err := buildReport(context.Background(), d, d.gen.Load().cfg, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ format, golden string }{
		{"markdown", "testdata/report.md"},
		{"csv", "testdata/report.csv"},
		{"json", "testdata/report.json"},
	} {
		t.Run(c.format, func(t *testing.T) {
			var out bytes.Buffer
			if err := writeReport(&out, c.format, rep); err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(c.golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(c.golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				t.Errorf("%s differs from %s (run go test -run TestReportGolden -update after checking):\n%s", c.format, c.golden, out.String())
			}
		})
	}
	// What a strategist reads in it: the demo's customer-service topic is
	// present and Globex leads it.
	var cs reportTopic
	for _, r := range rep.Relationships {
		for _, tp := range r.Topics {
			if tp.Topic == "customer-service" {
				cs = tp
			}
		}
	}
	if cs.Mentions == 0 || cs.Affinity <= 0 || cs.LeadingBrand == "" || len(cs.FormatsPresent) == 0 {
		t.Errorf("customer-service = %+v, want mentions, an affinity, a leading brand and formats", cs)
	}
}

// TestReportBrandSentiment checks the report's sentiments are the scored
// brand sentiments of the leader and of our brand, and that a brand no post
// of the topic mentions reads as "not mentioned", not as neutral.
func TestReportBrandSentiment(t *testing.T) {
	d := demoDaemon(t)
	cfg := d.gen.Load().cfg
	rep, err := buildReport(context.Background(), d, cfg, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := scoreWindow(context.Background(), d, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OwnBrand != cfg.Brand.Name {
		t.Fatalf("own brand %q, want %q", rep.OwnBrand, cfg.Brand.Name)
	}
	check := func(topic, brand string, got *float64) {
		t.Helper()
		ts, _ := snap.Topic(topic)
		if ts.ShareOfVoice[brand] == 0 {
			if got != nil {
				t.Errorf("%s: %s is not mentioned, sentiment %v, want none", topic, brand, *got)
			}
			return
		}
		if got == nil || *got != ts.BrandSentiment[brand] {
			t.Errorf("%s: sentiment of %s = %v, want %v", topic, brand, got, ts.BrandSentiment[brand])
		}
	}
	distinct := false
	for _, r := range rep.Relationships {
		for _, tp := range r.Topics {
			check(tp.Topic, tp.LeadingBrand, tp.LeadingSentiment)
			check(tp.Topic, rep.OwnBrand, tp.OwnSentiment)
			if tp.LeadingSentiment != nil && tp.OwnSentiment != nil && *tp.LeadingSentiment != *tp.OwnSentiment {
				distinct = true
			}
		}
	}
	// The demo has a topic a competitor leads (open-banking): there the two differ.
	if !distinct {
		t.Error("no topic where the leader's and our sentiment differ: the report may show one brand's twice")
	}
}

// TestReportWindow checks --since: a shorter window sees fewer mentions,
// and the report says which window it covers.
func TestReportWindow(t *testing.T) {
	d := demoDaemon(t)
	cfg := d.gen.Load().cfg
	mentions := func(window time.Duration) (int64, *workReport) {
		rep, err := buildReport(context.Background(), d, cfg, window, nil)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, r := range rep.Relationships {
			for _, tp := range r.Topics {
				n += tp.Mentions
			}
		}
		return n, rep
	}
	week, wrep := mentions(0)
	day, drep := mentions(24 * time.Hour)
	if wrep.WindowLength != "7d" || drep.WindowLength != "1d" {
		t.Errorf("window lengths %q and %q, want 7d and 1d", wrep.WindowLength, drep.WindowLength)
	}
	if !(day < week) || day == 0 {
		t.Errorf("mentions over 1d = %d, over the 7d window = %d: want 0 < 1d < 7d on the demo", day, week)
	}
	if got := d.snapshot.Load().Window.Duration(); got != 7*24*time.Hour {
		t.Errorf("the report changed the daemon's snapshot window to %v", got)
	}
}

// TestReportEscapes feeds the renderers names and terms an attacker could
// choose (terms come from posts) and checks each format keeps them inert.
func TestReportEscapes(t *testing.T) {
	negative := -0.25
	rep := &workReport{
		Window:            reportWindow{From: time.Unix(0, 0), To: time.Unix(86400, 0)},
		WindowLength:      "1d",
		OccupiedThreshold: 0.5, OccupiedMinMentions: 5, OwnBrand: "Acme <b>Bank</b>",
		Relationships: []reportRelationship{{Name: "support | team", Type: "personal-assistance", Priority: "high", Segments: []string{"retail"},
			Topics: []reportTopic{{Topic: "t", Priority: "low", Mentions: 9, LeadingBrand: "Globex", LeadingBrandKind: "direct", LeadingShare: 0.6,
				Occupied: true, OccupiedBy: "Globex", FormatsPresent: []string{"network"}, LeadingSentiment: &negative,
				EmergingTerms: []string{"=HYPERLINK(\"http://evil\")", "<img src=x onerror=alert(1)>", "a|b\nc"}}}}},
	}
	for _, c := range []struct {
		format  string
		want    []string
		notWant []string
	}{
		{"markdown", []string{`\<img src=x onerror=alert(1)\>`, `a\|b c`, `support \| team`, "**yes**, by Globex",
			// our brand is not mentioned: "–", not a neutral 0
			"| 60 % | -0.25 negative | – | **yes**", `Ours is Acme \<b\>Bank\</b\>.`},
			[]string{" <img", "a|b", "<b>"}},
		{"csv", []string{`"'=HYPERLINK(""http://evil"");<img src=x onerror=alert(1)>;a|b c"`, "support | team",
			",0.6000,-0.2500,Acme <b>Bank</b>,,true,Globex,"}, nil},
		{"json", []string{`"emerging_terms": [`, `"\u003cimg src=x onerror=alert(1)\u003e"`, `"occupied": true`,
			`"leading_brand_sentiment": -0.25`, `"own_brand_sentiment": null`, `"own_brand": "Acme \u003cb\u003eBank\u003c/b\u003e"`}, []string{"<img", "<b>"}},
	} {
		t.Run(c.format, func(t *testing.T) {
			var out bytes.Buffer
			if err := writeReport(&out, c.format, rep); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("contains %q:\n%s", w, out.String())
				}
			}
		})
	}
	if err := writeReport(&bytes.Buffer{}, "pdf", rep); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestReportTermsAndOccupation(t *testing.T) {
	d := demoDaemon(t)
	terms := func(_ context.Context, topic string) (server.TopicTerms, error) {
		return server.TopicTerms{Emerging: []server.TermCount{{Term: "new-" + topic, Count: 2}}}, nil
	}
	rep, err := buildReport(context.Background(), d, d.gen.Load().cfg, 0, terms)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Relationships {
		for _, tp := range r.Topics {
			if len(tp.EmergingTerms) != 1 || tp.EmergingTerms[0] != "new-"+tp.Topic {
				t.Errorf("%s: emerging terms %v", tp.Topic, tp.EmergingTerms)
			}
			// Occupied is the documented rule, applied to what the report shows.
			want := tp.Mentions >= occupiedMinMentions && tp.LeadingBrandKind != "own" && tp.LeadingShare >= rep.OccupiedThreshold
			if tp.Occupied != want || (tp.Occupied && tp.OccupiedBy != tp.LeadingBrand) {
				t.Errorf("%s: occupied=%v by %q, want %v (mentions %d, leader %s %s %.2f)", tp.Topic, tp.Occupied, tp.OccupiedBy, want,
					tp.Mentions, tp.LeadingBrand, tp.LeadingBrandKind, tp.LeadingShare)
			}
		}
	}
}

// TestReportCommand runs scan and report as a user would, on one store.
func TestReportCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	if code, out, errOut := runCLI(t, "--storage.path", db, "--log.level", "error", "scan"); code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, out, errOut)
	}
	for _, c := range []struct {
		name  string
		db    string // "" is the scanned store
		args  []string
		code  int
		check func(t *testing.T, out, errOut string)
	}{
		{"markdown by default", "", []string{"report"}, 0, func(t *testing.T, out, _ string) {
			for _, w := range []string{"# Customer relationships – topics – social media affinity", "## support",
				"Type: personal-assistance · priority: high · customer segments: retail, small-business", "| customer-service | high |"} {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%s", w, out)
				}
			}
		}},
		{"csv", "", []string{"report", "--format", "csv"}, 0, func(t *testing.T, out, _ string) {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil || len(rows) != 7 || rows[0][0] != "relationship" {
				t.Errorf("csv: %d rows, %v:\n%s", len(rows), err, out)
			}
		}},
		{"json over a day", "", []string{"report", "--format", "json", "--since", "1d"}, 0, func(t *testing.T, out, _ string) {
			var r workReport
			if err := json.Unmarshal([]byte(out), &r); err != nil || r.WindowLength != "1d" || len(r.Relationships) != 4 {
				t.Errorf("json: %v, window %q, %d relationships", err, r.WindowLength, len(r.Relationships))
			}
		}},
		{"bad since", "", []string{"report", "--since", "soon"}, 1, func(t *testing.T, _, errOut string) {
			if !strings.Contains(errOut, `--since "soon"`) {
				t.Errorf("stderr = %q", errOut)
			}
		}},
		{"bad format", "", []string{"report", "--format", "pdf"}, 2, nil},
		{"empty store warns", filepath.Join(t.TempDir(), "empty.db"), []string{"report"}, 0, func(t *testing.T, _, errOut string) {
			if !strings.Contains(errOut, "no mentions in the window") {
				t.Errorf("stderr = %q", errOut)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := db
			if c.db != "" {
				store = c.db
			}
			args := append([]string{"--storage.path", store, "--log.level", "error"}, c.args...)
			code, out, errOut := runCLI(t, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, c.code, out, errOut)
			}
			if c.check != nil {
				c.check(t, out, errOut)
			}
		})
	}
}
