package analysis

import (
	"reflect"
	"slices"
	"testing"

	"github.com/affinityd/affinityd/config"
)

func TestMatch(t *testing.T) {
	m, err := NewMatcher(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		text   string
		lang   string
		topics []string
		brands []string
	}{
		// phrases
		{name: "phrase", text: "Their customer service is great", topics: []string{"customer-service"}},
		{name: "case insensitive", text: "CUSTOMER Service", topics: []string{"customer-service"}},
		{name: "across a hyphen", text: "customer-service desk", topics: []string{"customer-service"}},
		{name: "across a line break and period", text: "our customer\nservice.", topics: []string{"customer-service"}},
		{name: "across html", text: "<p>customer</p><p>service</p>", topics: []string{"customer-service"}},
		{name: "words apart do not match", text: "customer happy service", topics: nil},
		{name: "multi-word synonym", text: "Called customer support twice", topics: []string{"customer-service"}},
		{name: "three-word synonym", text: "the mobile banking app crashed", topics: []string{"mobile-app"}},
		{name: "numbers and punctuation in a term", text: "They offer 24/7 support", topics: []string{"twenty-four-seven"}},

		// hashtags
		{name: "camel case hashtag", text: "#CustomerService fail", topics: []string{"customer-service"}},
		{name: "lower case hashtag", text: "#customerservice", topics: []string{"customer-service"}},
		{name: "underscore hashtag", text: "#customer_service", topics: []string{"customer-service"}},
		{name: "one-word hashtag", text: "#Refund please", topics: []string{"refunds"}},
		{name: "longer hashtag is another tag", text: "#CustomerServiceFail", topics: nil},
		{name: "hashtag words in sequence", text: "great #customer #service", topics: []string{"customer-service"}},

		// word boundaries
		{name: "app is not apple", text: "I bought an apple", topics: nil, brands: []string{"Apple"}},
		{name: "app matches app", text: "the app crashed", topics: []string{"mobile-app"}},
		{name: "app in a hyphenated word", text: "in-app purchases", topics: []string{"mobile-app"}},
		{name: "ford is not afford", text: "I cannot afford it", topics: nil, brands: nil},
		{name: "ford matches Ford", text: "Ford recalls cars", brands: []string{"Ford"}},
		{name: "bank is not banking", text: "online banking is down", topics: nil},
		{name: "bank is bank", text: "my bank is down", topics: []string{"bank"}},

		// exclusions
		{name: "exclusion phrase", text: "customer service job opening in Berlin", topics: nil},
		{name: "exclusion as hashtag", text: "customer service team #hiring", topics: nil},
		{name: "exclusion only hits its topic", text: "customer service job opening at the bank", topics: []string{"bank"}},

		// languages
		{name: "listed language", text: "refund now", lang: "en", topics: []string{"refunds"}},
		{name: "region subtag ignored", text: "refund now", lang: "de-AT", topics: []string{"refunds"}},
		{name: "other language filtered", text: "refund now", lang: "fr", topics: nil},
		{name: "unknown language counts", text: "refund now", lang: "", topics: []string{"refunds"}},
		{name: "topic without languages takes all", text: "customer service", lang: "ja", topics: []string{"customer-service"}},

		// non-English
		{name: "german compound", text: "Der Kundenservice war super", lang: "de", topics: []string{"customer-service", "customer-service-de"}},
		{name: "german filtered for english post", text: "Kundenservice", lang: "en", topics: []string{"customer-service"}},
		{name: "french", text: "Le service client de l'entreprise", lang: "fr", topics: []string{"customer-service"}},
		{name: "russian", text: "Служба поддержки не отвечает", lang: "ru", topics: []string{"customer-service"}},
		{name: "russian upper case", text: "СЛУЖБА ПОДДЕРЖКИ!", topics: []string{"customer-service"}},
		{name: "accents fold by case, not away", text: "CAFÉ and cafe", topics: []string{"cafe"}},
		{name: "accents are significant", text: "cafe", topics: nil},
		{name: "decomposed accents match", text: "Cafe\u0301", topics: []string{"cafe"}},

		// brands
		{name: "brand word", text: "Acme again", brands: []string{"Acme"}},
		{name: "brand possessive", text: "Acme's app", topics: []string{"mobile-app"}, brands: []string{"Acme"}},
		{name: "brand alias phrase", text: "acme bank", topics: []string{"bank"}, brands: []string{"Acme"}},
		{name: "handle with corporate suffix", text: "@acmebank help", brands: []string{"Acme"}},
		{name: "handle equal to name", text: "@ACME", brands: []string{"Acme"}},
		{name: "handle with underscore and suffix", text: "@acme_support", brands: []string{"Acme"}},
		{name: "handle on an instance", text: "@acmeuk@mastodon.social", brands: []string{"Acme"}},
		{name: "handle with another suffix is not the brand", text: "@acmefanclub", brands: nil},
		{name: "handle inside a longer name is not the brand", text: "@theacme", brands: nil},
		{name: "configured handle alias exactly", text: "@acme_de", brands: []string{"Acme"}},
		{name: "configured handle alias case insensitive", text: "@applesupport", brands: []string{"Apple"}},
		{name: "configured hashtag alias", text: "#TeamAcme", brands: []string{"Acme"}},
		{name: "brand name as hashtag", text: "#acme", brands: []string{"Acme"}},
		{name: "email domain is a word", text: "write to help@acme.com", brands: []string{"Acme"}},
		{name: "mention breaks a phrase", text: "customer @acme service", brands: []string{"Acme"}},

		// several at once, config order
		{name: "brand and topic in one post", text: "@brandkhelp your customer service is slow, switching to Acme", topics: []string{"customer-service"}, brands: []string{"Acme", "BrandK"}},
		{name: "config order, deduplicated", text: "bank app, Ford, refund, Apple, app, Acme, customer service, Ford", topics: []string{"customer-service", "mobile-app", "bank", "refunds"}, brands: []string{"Acme", "Ford", "Apple"}},
		{name: "nothing", text: "just a sunny day 🌞"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topics, brands := m.Match(Tokenize(Normalize(tt.text)), tt.lang)
			if !slices.Equal(topics, tt.topics) || !slices.Equal(brands, tt.brands) {
				t.Errorf("Match(%q, %q)\n got topics %q brands %q\nwant topics %q brands %q",
					tt.text, tt.lang, topics, brands, tt.topics, tt.brands)
			}
		})
	}
}

func TestMatchIsDeterministic(t *testing.T) {
	m, err := NewMatcher(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	toks := Tokenize("Ford refund Acme bank app customer service Apple @brandk")
	topics, brands := m.Match(toks, "en")
	for range 100 {
		t2, b2 := m.Match(toks, "en")
		if !reflect.DeepEqual(t2, topics) || !reflect.DeepEqual(b2, brands) {
			t.Fatalf("Match changed: %q %q, then %q %q", topics, brands, t2, b2)
		}
	}
	if want := []string{"Acme", "BrandK", "Ford", "Apple"}; !slices.Equal(brands, want) {
		t.Errorf("brands %q, want config order %q", brands, want)
	}
}

func TestNewMatcherErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  *config.Config
	}{
		{"nil config", nil},
		{"brand without name", &config.Config{}},
		{"term without words", &config.Config{Brand: config.Brand{Name: "Acme"},
			Relationships: []config.Relationship{{Topics: []config.Topic{{Name: "t", Terms: []string{"--"}}}}}}},
		{"alias without words", &config.Config{Brand: config.Brand{Name: "Acme", Aliases: []string{"&amp;"}}}},
	}
	for _, tt := range tests {
		if _, err := NewMatcher(tt.cfg); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
