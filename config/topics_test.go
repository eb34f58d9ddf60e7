package config

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestTopicsBrandsAndLookup(t *testing.T) {
	c, err := Load("testdata/valid.yml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, topic := range c.Topics() {
		names = append(names, topic.Relationship+"/"+topic.Name)
	}
	want := []string{
		"Mortgage advice/mortgage-rates", "Mortgage advice/home-buying",
		"Mobile banking/mobile-app", "Mobile banking/instant-payments",
		"Money community/budgeting", "Money community/financial-literacy",
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("Topics() = %q, want %q", names, want)
	}

	var brands []string
	for _, b := range c.Brands() {
		brands = append(brands, b.Kind+":"+b.Name)
	}
	wantBrands := []string{"own:Acme Bank", "direct:Globex Bank", "media:MoneyTalk Magazine", "platform:Paywise"}
	if !reflect.DeepEqual(brands, wantBrands) {
		t.Errorf("Brands() = %q, want %q", brands, wantBrands)
	}

	topic, rel, ok := c.Topic("instant-payments")
	if !ok || topic.Name != "instant-payments" || rel.Name != "Mobile banking" || rel.Type != "self-service" {
		t.Errorf("Topic(instant-payments) = %+v, %+v, %v", topic, rel, ok)
	}
	if _, _, ok := c.Topic("nope"); ok {
		t.Error("Topic(nope) found a topic")
	}
}

func TestQueryHash(t *testing.T) {
	base := Topic{
		Name:      "mortgage-rates",
		Terms:     []string{"mortgage rate", "fixed-rate mortgage"},
		Synonyms:  []string{"home loan rate"},
		Exclude:   []string{"reverse mortgage"},
		Languages: []string{"en", "de"},
	}
	h := base.QueryHash()
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(h) {
		t.Fatalf("QueryHash() = %q, want 12 hex digits", h)
	}

	same := []struct {
		name  string
		topic Topic
	}{
		{"terms reordered", Topic{Terms: []string{"fixed-rate mortgage", "mortgage rate"}, Synonyms: base.Synonyms, Exclude: base.Exclude, Languages: base.Languages}},
		{"case and spaces", Topic{Terms: []string{" Mortgage Rate", "FIXED-RATE MORTGAGE "}, Synonyms: []string{"Home Loan Rate"}, Exclude: []string{"Reverse Mortgage"}, Languages: []string{"EN", "de"}}},
		{"languages reordered", Topic{Terms: base.Terms, Synonyms: base.Synonyms, Exclude: base.Exclude, Languages: []string{"de", "en"}}},
		{"a synonym moved to terms", Topic{Terms: []string{"mortgage rate", "fixed-rate mortgage", "home loan rate"}, Exclude: base.Exclude, Languages: base.Languages}},
		{"a duplicate term", Topic{Terms: []string{"mortgage rate", "fixed-rate mortgage", "Mortgage rate"}, Synonyms: base.Synonyms, Exclude: base.Exclude, Languages: base.Languages}},
		{"name, priority and relationship", Topic{Name: "rates", Priority: "high", Relationship: "x", Terms: base.Terms, Synonyms: base.Synonyms, Exclude: base.Exclude, Languages: base.Languages}},
	}
	for _, tt := range same {
		if got := tt.topic.QueryHash(); got != h {
			t.Errorf("%s: QueryHash() = %s, want unchanged %s", tt.name, got, h)
		}
	}

	changed := []struct {
		name  string
		topic Topic
	}{
		{"a term added", Topic{Terms: []string{"mortgage rate", "fixed-rate mortgage", "mortgage"}, Synonyms: base.Synonyms, Exclude: base.Exclude, Languages: base.Languages}},
		{"a term edited", Topic{Terms: []string{"mortgage rates", "fixed-rate mortgage"}, Synonyms: base.Synonyms, Exclude: base.Exclude, Languages: base.Languages}},
		{"a synonym removed", Topic{Terms: base.Terms, Exclude: base.Exclude, Languages: base.Languages}},
		{"an exclusion removed", Topic{Terms: base.Terms, Synonyms: base.Synonyms, Languages: base.Languages}},
		{"an exclusion turned into a term", Topic{Terms: []string{"mortgage rate", "fixed-rate mortgage", "reverse mortgage"}, Synonyms: base.Synonyms, Languages: base.Languages}},
		{"a language removed", Topic{Terms: base.Terms, Synonyms: base.Synonyms, Exclude: base.Exclude, Languages: []string{"en"}}},
		{"terms split differently", Topic{Terms: []string{"mortgage", "rate fixed-rate mortgage"}, Synonyms: base.Synonyms, Exclude: base.Exclude, Languages: base.Languages}},
	}
	for _, tt := range changed {
		if got := tt.topic.QueryHash(); got == h {
			t.Errorf("%s: QueryHash() = %s, want a different hash", tt.name, got)
		}
	}
}

// TestDemoSourceExamples keeps the commented-out example sources of the demo
// configuration valid: uncommented, the whole file must still load.
func TestDemoSourceExamples(t *testing.T) {
	data, err := demoFiles.ReadFile(DemoFile)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "#| ", "")
	if text == string(data) {
		t.Fatal("the demo has no example sources")
	}
	cfg, err := parse([]byte(text), DemoFile, false)
	if err != nil {
		t.Fatalf("example sources do not load:\n%v", err)
	}
	kinds := map[string]bool{}
	for _, s := range cfg.Sources {
		kinds[s.Kind] = true
	}
	for _, k := range SourceKinds {
		if !kinds[k] {
			t.Errorf("no example of kind %q in the demo configuration", k)
		}
	}
}
