package analysis

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/affinityd/affinityd/config"
)

func queryConfig(topics ...config.Topic) *config.Config {
	return &config.Config{
		Brand:         config.Brand{Name: "Acme", Kind: "own"},
		Competitors:   []config.Brand{{Name: "Globex", Kind: "direct"}},
		Relationships: []config.Relationship{{Name: "care", Type: "self-service", Topics: topics}},
	}
}

func TestMatchQueryTopics(t *testing.T) {
	m, err := NewMatcher(queryConfig(
		config.Topic{Name: "app", Query: `("banking app" OR "mobile banking") AND NOT (crypto OR "app store")`},
		config.Topic{Name: "reviews", Query: `(app OR application) NEAR/3 (review OR rating)`},
		config.Topic{Name: "fees", Query: `fees AND (Acme OR Globex)`, Exclude: []string{"giveaway"}},
		config.Topic{Name: "fees-de", Query: `Gebühren OR Kontoführungsgebühren`, Languages: []string{"de"}},
		config.Topic{Name: "support", Query: `@acmesupport OR #acmehelp OR "customer service"`},
		config.Topic{Name: "plain", Terms: []string{"branch"}},
		config.Topic{Name: "chain", Query: `card NEAR/1 blocked NEAR/2 travel`},
	))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text, lang string
		want       []string
	}{
		{"The Banking App is down again", "en", []string{"app"}},
		{"mobile banking, finally", "", []string{"app"}},
		{"banking app for crypto traders", "en", nil},
		{"Banking app in the App Store", "en", nil},
		{"banking apps are great", "en", nil}, // whole words: "apps" is not "app"
		{"#BankingApp of the year", "en", []string{"app"}},
		// NEAR/3: at most three words between, either order.
		{"the app got a bad review", "en", []string{"reviews"}},
		{"a rating for this new application", "en", []string{"reviews"}},
		{"the app got a really bad review", "en", nil},
		{"app review", "en", []string{"reviews"}},
		{"fees at Acme are up", "en", []string{"fees"}},
		{"fees at Acme: giveaway", "en", nil}, // exclude still vetoes
		{"fees are up", "en", nil},
		{"Acme fees", "", []string{"fees"}},
		{"Die Gebühren steigen", "de", []string{"fees-de"}},
		{"Die Gebühren steigen", "", []string{"fees-de"}}, // undetermined counts
		{"Gebühren", "en", nil},
		{"thanks @AcmeSupport for the quick fix", "en", []string{"support"}},
		{"#acme_help is useless", "en", []string{"support"}},
		{"Customer-Service was great and the branch too", "en", []string{"support", "plain"}},
		{"card blocked while I travel", "en", []string{"chain"}},
		{"card was blocked while I travel", "en", []string{"chain"}},
		{"card was really blocked while I travel", "en", nil},
		{"card blocked, and then the travel insurance was gone", "en", nil},
		{"", "en", nil},
	}
	for _, tt := range tests {
		got, _ := m.Match(Tokenize(Normalize(tt.text)), tt.lang)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Match(%q, %q) = %q, want %q", tt.text, tt.lang, got, tt.want)
		}
	}
}

// A query term shared with a brand or another topic's term keeps every
// meaning: the brand still counts, the plain topic still matches.
func TestQueryTermsShareTheGazetteer(t *testing.T) {
	m, err := NewMatcher(queryConfig(
		config.Topic{Name: "q", Query: `Globex AND outage`},
		config.Topic{Name: "plain", Terms: []string{"outage"}},
	))
	if err != nil {
		t.Fatal(err)
	}
	topics, brands := m.Match(Tokenize("Globex outage again"), "en")
	if !slices.Equal(topics, []string{"q", "plain"}) || !slices.Equal(brands, []string{"Globex"}) {
		t.Errorf("topics %q, brands %q", topics, brands)
	}
	topics, brands = m.Match(Tokenize("an outage"), "en")
	if !slices.Equal(topics, []string{"plain"}) || brands != nil {
		t.Errorf("topics %q, brands %q", topics, brands)
	}
}

// A post repeating a NEAR term thousands of times costs bounded work and
// still matches where the pair comes early.
func TestNearManyOccurrences(t *testing.T) {
	m, err := NewMatcher(queryConfig(config.Topic{Name: "q", Query: `bank NEAR/1 outage`}))
	if err != nil {
		t.Fatal(err)
	}
	// Only the first maxNearSpans occurrences of a side are compared.
	text := "bank outage " + strings.Repeat("bank bank ", 5000)
	if got, _ := m.Match(Tokenize(text), ""); !slices.Equal(got, []string{"q"}) {
		t.Errorf("Match = %q, want q", got)
	}
}

func TestProbe(t *testing.T) {
	p, err := NewProbe(config.Topic{Name: "q", Query: `("banking app" OR #acmeapp OR @acmesupport) AND NOT crypto`})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Terms(); !slices.Equal(got, []string{"banking app", "#acmeapp", "@acmesupport"}) {
		t.Errorf("Terms() = %q", got)
	}
	mark := func(text string, spans []Span) string {
		var b strings.Builder
		last := 0
		for _, s := range spans {
			b.WriteString(text[last:s.Start] + "«" + text[s.Start:s.End] + "»")
			last = s.End
		}
		return b.String() + text[last:]
	}
	tests := []struct {
		text  string
		match bool
		terms []int
		want  string
	}{
		{"My Banking App crashed, @AcmeSupport help!", true, []int{0, 2}, "My «Banking App» crashed, «@AcmeSupport» help!"},
		{"Love the #AcmeApp – best banking-app ever", true, []int{0, 1}, "Love the «#AcmeApp» – best «banking-app» ever"},
		{"banking app for crypto", false, []int{0}, "«banking app» for crypto"},
		{"banking apps", false, nil, "banking apps"},
		{"Café “banking app” über alles", true, []int{0}, "Café “«banking app»” über alles"},
	}
	for _, tt := range tests {
		text := Normalize(tt.text)
		r := p.Run(text, "en")
		if r.Match != tt.match || !slices.Equal(r.Terms, tt.terms) || mark(text, r.Spans) != tt.want {
			t.Errorf("Run(%q) = match %v terms %v %q; want %v %v %q", tt.text, r.Match, r.Terms, mark(text, r.Spans), tt.match, tt.terms, tt.want)
		}
	}
}

// BenchmarkMatchQueryTopics shows that a post's matching cost does not grow
// with the number of boolean topics: each topic has its own terms, a post
// mentions a few of them.
//
//	go test -run '^$' -bench MatchQueryTopics ./analysis/
func BenchmarkMatchQueryTopics(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		var topics []config.Topic
		for i := range n {
			topics = append(topics, config.Topic{Name: fmt.Sprintf("t%d", i),
				Query: fmt.Sprintf(`("product%d launch" OR feature%d) NEAR/5 (review OR rating) AND NOT spam%d`, i, i, i)})
		}
		m, err := NewMatcher(queryConfig(topics...))
		if err != nil {
			b.Fatal(err)
		}
		toks := Tokenize("Honest review of the product7 launch: feature3 is great, rating 4/5, but spam9 in the comments and the app store listing is confusing")
		b.Run(fmt.Sprintf("topics=%d", n), func(b *testing.B) {
			for b.Loop() {
				m.Match(toks, "en")
			}
		})
	}
}
