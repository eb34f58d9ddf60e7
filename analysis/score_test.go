package analysis

import (
	"math"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
	"github.com/prometheus/common/model"
)

func defaultScoring() config.Scoring {
	return config.Scoring{
		Window:   model.Duration(7 * 24 * time.Hour),
		Baseline: model.Duration(28 * 24 * time.Hour),
		Weights:  config.Weights{Mentions: 0.4, Authors: 0.3, Engagement: 0.2, Formats: 0.1},
		References: config.References{
			Mentions: 50, Authors: 25, Engagement: 100,
		},
	}
}

func TestSaturate(t *testing.T) {
	for _, c := range []struct {
		x, x0, want float64
	}{
		{0, 50, 0},
		{50, 50, 1},
		{500, 50, 1}, // saturates, never above 1
		{-3, 50, 0},
		{1, 0, 0}, // a zero reference is refused by config; never divide by ln(1)
		{7, 63, math.Log(8) / math.Log(64)},
	} {
		if got := Saturate(c.x, c.x0); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Saturate(%v, %v) = %v, want %v", c.x, c.x0, got, c.want)
		}
	}
}

func TestAffinityScore(t *testing.T) {
	s := defaultScoring()
	for _, c := range []struct {
		name     string
		m, a     int64
		e        float64
		f        int
		want     float64
		tolerant bool
	}{
		{"nothing", 0, 0, 0, 0, 0, false},
		{"at every reference and all formats", 50, 25, 100, 3, 1, false},
		{"far past the references", 5000, 2500, 1e6, 3, 1, false},
		{"formats only", 0, 0, 0, 3, 0.1, false},
		{"one post, one author, one format", 1, 1, 0, 1,
			0.4*math.Log(2)/math.Log(51) + 0.3*math.Log(2)/math.Log(26) + 0.1/3, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := AffinityScore(s, c.m, c.a, c.e, c.f); math.Abs(got-c.want) > 1e-12 {
				t.Errorf("AffinityScore = %v, want %v", got, c.want)
			}
		})
	}
}

func TestMomentum(t *testing.T) {
	w, b := 7*24*time.Hour, 28*24*time.Hour
	for _, c := range []struct {
		name  string
		m, mB int64
		want  float64
	}{
		{"same rate as the baseline", 10, 40, 1},
		{"twice the rate", 20, 40, 2},
		{"half the rate", 5, 40, 0.5},
		{"nothing now", 0, 40, 0},
		{"new topic: empty baseline counts as one", 3, 0, 12},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Momentum(c.m, c.mB, w, b); math.Abs(got-c.want) > 1e-9 {
				t.Errorf("Momentum(%d, %d) = %v, want %v", c.m, c.mB, got, c.want)
			}
		})
	}
}

func TestScoreSnapshot(t *testing.T) {
	cfg := &config.Config{
		Brand:       config.Brand{Name: "Acme", Kind: "own"},
		Competitors: []config.Brand{{Name: "Globex", Kind: "direct"}, {Name: "Initech", Kind: "media"}},
		Relationships: []config.Relationship{{
			Name: "support", Type: "personal-assistance", Priority: "high", Segments: []string{"retail"},
			Topics: []config.Topic{
				{Name: "service", Priority: "high", Terms: []string{"customer service"}},
				{Name: "quiet", Priority: "low", Terms: []string{"nothing here"}},
			},
		}},
		Scoring: defaultScoring(),
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cur := map[string]affinity.TopicWindow{
		"service": {
			Topic: "service", Mentions: 10, Authors: 8, Engagement: 12.5, Positive: 6, Negative: 2,
			Formats: map[affinity.Format]int64{affinity.FormatNetwork: 7, affinity.FormatAudience: 3},
			Brands:  map[string]int64{"Acme": 2, "Globex": 6},
			// Acme: 2 posts, both negative; Globex: 6 posts, 3 positive, 1 negative.
			BrandPositive: map[string]int64{"Globex": 3},
			BrandNegative: map[string]int64{"Acme": 2, "Globex": 1},
		},
	}
	base := map[string]affinity.TopicWindow{"service": {Topic: "service", Mentions: 20}}
	totals := map[string]map[affinity.Format]int64{"service": {affinity.FormatNetwork: 40}}
	s := Score(cfg, now, cur, base, totals)

	if len(s.Topics) != 2 {
		t.Fatalf("topics = %d, want 2 (every configured topic, even without mentions)", len(s.Topics))
	}
	svc := s.Topics[0]
	if svc.Topic != "service" || svc.Relationship != "support" || svc.RelationshipType != "personal-assistance" {
		t.Errorf("topic meta = %+v", svc)
	}
	if svc.FormatsPresent != 2 {
		t.Errorf("formats present = %d, want 2", svc.FormatsPresent)
	}
	if got, want := svc.Momentum, (10.0/7)/(20.0/28); math.Abs(got-want) > 1e-9 {
		t.Errorf("momentum = %v, want %v", got, want)
	}
	if got := svc.Sentiment; math.Abs(got-0.4) > 1e-12 {
		t.Errorf("sentiment = %v, want (6-2)/10 = 0.4", got)
	}
	if got := svc.ShareOfVoice["Globex"]; got != 0.75 {
		t.Errorf("SoV Globex = %v, want 6/8", got)
	}
	if got := svc.ShareOfVoice["Acme"]; got != 0.25 {
		t.Errorf("SoV Acme = %v, want 2/8", got)
	}
	if _, ok := svc.ShareOfVoice["Initech"]; !ok || svc.ShareOfVoice["Initech"] != 0 {
		t.Errorf("SoV Initech must be exported as 0, got %v", svc.ShareOfVoice)
	}
	for brand, want := range map[string]float64{"Acme": -1, "Globex": (3.0 - 1) / 6, "Initech": 0} {
		if got, ok := svc.BrandSentiment[brand]; !ok || math.Abs(got-want) > 1e-12 {
			t.Errorf("brand sentiment %s = %v (present %v), want %v", brand, got, ok, want)
		}
	}
	if svc.Leader != "Globex" {
		t.Errorf("leader = %q, want Globex", svc.Leader)
	}
	quiet := s.Topics[1]
	if quiet.Score != 0 || quiet.Mentions != 0 || quiet.Leader != "" || len(quiet.ShareOfVoice) != 3 ||
		len(quiet.BrandSentiment) != 3 || quiet.BrandSentiment["Acme"] != 0 {
		t.Errorf("quiet topic = %+v, want zeros with every brand present", quiet)
	}
	if s.MentionTotals["service"][affinity.FormatNetwork] != 40 || s.MentionTotals["quiet"] == nil {
		t.Errorf("mention totals = %v", s.MentionTotals)
	}
	if !s.Window.To.Equal(now) || s.Window.Duration() != 7*24*time.Hour || !s.Baseline.To.Equal(s.Window.From) {
		t.Errorf("windows = %+v / %+v", s.Window, s.Baseline)
	}
}
