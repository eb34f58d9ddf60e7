package analysis

import (
	"reflect"
	"testing"

	"github.com/affinityd/affinityd/config"
)

func TestExtractTerms(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		wantTerms []string // "key|display"
		wantOrgs  []string
	}{
		{
			"noun phrases, hashtag, handle and evaluative adjective out",
			"Great customer service from Acme Bank today! Their new mobile app is fast. #CustomerService @acme",
			[]string{"custom servic|customer service", "acm bank|acme bank", "mobil app|mobile app", "#customerservice|#CustomerService"},
			[]string{"Acme Bank"},
		},
		{
			"variants merge on the stem, the most frequent form shows",
			"The refunds were slow, but the support team of Umbrella Corp helped. Refunds take weeks. A refund came.",
			[]string{"refund|refunds", "support team|support team", "umbrella corp|umbrella corp"},
			[]string{"Umbrella Corp"},
		},
		{
			"sentence-initial capital is no name unless seen mid-sentence or camel-cased",
			"Thanks Initech! PayPal is down again, the customer-service line is busy.",
			[]string{"initech|initech", "paypal|paypal", "custom servic line|customer service line"},
			[]string{"Initech", "PayPal"},
		},
		{
			"a name at a sentence start counts when it recurs mid-sentence",
			"Globex raised fees. I left Globex.",
			[]string{"globex|globex", "fee|fees"},
			[]string{"Globex"},
		},
		{
			"headline in Title Case gives no organisations",
			"Globex Launches New Mobile Banking App For Small Businesses",
			[]string{"new mobil bank app|new mobile banking app", "small busi|small businesses"},
			nil,
		},
		{
			"numbers, URLs, weekdays and acronyms out",
			"I love the #OpenBanking API of Globex since Monday, 3 stars, see https://x.example",
			[]string{"#openbanking|#OpenBanking", "api|api", "globex|globex", "star|stars"},
			[]string{"Globex"},
		},
		{"empty", "", nil, nil},
		{"punctuation only", "?! …", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			terms, orgs := ExtractTerms(Normalize(tt.text))
			if !equalOrEmpty(terms, tt.wantTerms) {
				t.Errorf("terms = %q, want %q", terms, tt.wantTerms)
			}
			if !equalOrEmpty(orgs, tt.wantOrgs) {
				t.Errorf("orgs = %q, want %q", orgs, tt.wantOrgs)
			}
		})
	}
}

func equalOrEmpty(a, b []string) bool {
	return (len(a) == 0 && len(b) == 0) || reflect.DeepEqual(a, b)
}

func TestCollectTermsCapsPerPost(t *testing.T) {
	// More distinct nouns than the cap; the last one thrice: it is kept
	// (most frequent first), then the earliest.
	var tg []tagged
	// Consonant suffixes, so no two words share a Porter stem.
	const cons = "bcdfghjkmnpqrtvwxz"
	word := func(i int) string { return "noun" + string(cons[i/len(cons)]) + string(cons[i%len(cons)]) }
	for i := range 3 * MaxTermsPerPost {
		tg = append(tg, tagged{Token: Token{Text: word(i), Folded: word(i), Kind: Word}, tag: "NN"},
			tagged{Token: Token{Text: ",", Folded: ",", Kind: Punct}, tag: ","})
	}
	last := tg[len(tg)-2]
	tg = append(tg, last, tg[1], last, tg[1])
	terms := collectTerms(tg, true)
	if len(terms) != MaxTermsPerPost {
		t.Fatalf("%d terms, want the cap %d", len(terms), MaxTermsPerPost)
	}
	if want := Stem(last.Text) + TermSep + last.Text; terms[0] != want {
		t.Errorf("first term %q, want the most frequent %q", terms[0], want)
	}
	if want := Stem(word(0)) + TermSep + word(0); terms[1] != want {
		t.Errorf("second term %q, want the earliest %q", terms[1], want)
	}
}

func TestPostTerms(t *testing.T) {
	a, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, title, text, lang string
		wantTerms, wantOrgs     []string
	}{
		{
			"configured brands and topic terms are no organisations, brand names no terms",
			"", "I moved from Acme Bank and Apple Pay to Globex and Initech. Their Customer Service is fast.", "en",
			[]string{"appl pai|apple pay", "globex|globex", "initech|initech", "custom servic|customer service"},
			[]string{"Globex", "Initech"},
		},
		{
			"title and text are separate sentences",
			"Refund policy", "Globex changed it again", "",
			[]string{"refund polici|refund policy", "globex|globex"}, nil, // "Globex" opens the text
		},
		{
			"non-English post keeps hashtags only",
			"", "Le service client de Globex est lent #SAV #Globex", "fr-FR",
			[]string{"#sav|#SAV", "#globex|#Globex"}, nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			terms, orgs := a.postTerms(Tokenize(Normalize(tt.title)), Tokenize(Normalize(tt.text)), tt.lang)
			if !equalOrEmpty(terms, tt.wantTerms) {
				t.Errorf("terms = %q, want %q", terms, tt.wantTerms)
			}
			if !equalOrEmpty(orgs, tt.wantOrgs) {
				t.Errorf("orgs = %q, want %q", orgs, tt.wantOrgs)
			}
		})
	}
}

// demoBrandsConfig has the embedded demo's brands: names of two words whose
// first word is an alias too, as the reviewer's demo run had them.
func demoBrandsConfig() *config.Config {
	return &config.Config{
		Brand: config.Brand{Name: "Acme Bank", Kind: "own", Aliases: []string{"Acme", "@acmebank", "#acmebank"}},
		Competitors: []config.Brand{
			{Name: "Globex", Kind: "direct", Aliases: []string{"Globex Bank", "@globex"}},
			{Name: "Hooli Pay", Kind: "platform", Aliases: []string{"Hooli", "@hoolipay"}},
			{Name: "Fintech Daily", Kind: "media"},
		},
		Relationships: []config.Relationship{{
			Name: "support", Type: "personal-assistance",
			Topics: []config.Topic{
				{Name: "customer-service", Terms: []string{"customer service", "support hotline"}, Synonyms: []string{"customer support", "help desk"}},
				{Name: "open-banking", Terms: []string{"open banking"}},
			},
		}},
	}
}

// TestPostTermsBrandPieces: no word of a configured brand's name or alias,
// where the matcher read it as the brand, comes back as an unconfigured
// organisation, whole or in pieces ("Bank" of a sentence-initial "Acme Bank").
func TestPostTermsBrandPieces(t *testing.T) {
	a, err := New(demoBrandsConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, title, text string
		wantOrgs          []string
	}{
		{"brand mid-sentence", "", "Customer support at Acme Bank kept me on hold for an hour.", nil},
		{"brand opens the text", "", "Acme Bank mobile app update: instant payment requests. Nice!", nil},
		{"brand opens title and text", "Acme Bank extends its support hotline to evenings",
			"Acme Bank says its customer service team will answer the support hotline until 10 pm.", nil},
		{"possessive", "", "Hooli Pay's app is fine. Hooli Pay help desk is a bot that loops forever.", nil},
		{"media brand before a colon", "", "Fintech Daily: real-time payments are the new battleground. Globex and Hooli Pay lead, Acme Bank lags.", nil},
		{"alias of two words", "", "Switched to Globex Bank last week, better than my old one.", nil},
		{"hyphenated brand", "", "Why does Acme-Bank never answer?", nil},
		{"brand with a suffix is the brand", "", "I wrote to Acme Bank Europe twice.", nil},
		{"brand handle and hashtag", "", "@hoolipay is down again #acmebank Monzo works", []string{"Monzo"}},
		{"unconfigured organisation beside brands stays", "", "I moved from Hooli Pay to Revolut, and Fintech Daily says Monzo is next.",
			[]string{"Revolut", "Monzo"}},
		{"ID is no organisation", "", "Acme Bank mobile app update: Face ID login and instant payment requests, like Revolut.", []string{"Revolut"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, orgs := a.postTerms(Tokenize(Normalize(tt.title)), Tokenize(Normalize(tt.text)), "en")
			if !equalOrEmpty(orgs, tt.wantOrgs) {
				t.Errorf("orgs = %q, want %q", orgs, tt.wantOrgs)
			}
		})
	}
}

// BenchmarkExtractTerms reports the cost of term extraction of one matched
// post (tokenize, tag with prose, candidates, organisations).
func BenchmarkExtractTerms(b *testing.B) {
	_, posts := benchCorpus(300, 1000, 50)
	texts := make([]string, len(posts))
	for i, p := range posts {
		texts[i] = Normalize(p.Title + " " + p.Text)
	}
	defaultTagger() // loaded once, outside the timing
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		ExtractTerms(texts[n%len(texts)])
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/post")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
}
