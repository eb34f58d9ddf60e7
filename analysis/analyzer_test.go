package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

func TestAnalyze(t *testing.T) {
	a, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	p := affinity.Post{
		Language:   "en-GB",
		Title:      "Acme &amp; the <b>customer</b>",
		Text:       `<p>service was slow.</p><script>BrandK</script><p>Ask @brandkhelp https://brandk.example/customer-service</p>`,
		Engagement: affinity.Engagement{Likes: 3, Reposts: 1, Replies: 2, Score: -5},
	}
	got := a.Analyze(p)
	want := affinity.Analysis{
		Topics:     []string{"customer-service"}, // the phrase runs from title into text
		Brands:     []string{"Acme", "BrandK"},   // the script's BrandK is dropped, the handle counts
		Engagement: math.Log(1 + 3 + 2 + 2),
		// A matched post gets terms; the title ends a sentence, so the
		// topic phrase across it is two terms, and the brand is no term.
		Terms:    []string{"custom|customer", "servic|service", "ask|ask"},
		Language: "en", // the platform's en-GB, reduced to its base language
		// Near-duplicate keys of the visible words: markup, script, handle and link out.
		NearDup: NearDupKeys("", "Acme & the customer service was slow. Ask"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Analyze = %+v, want %+v", got, want)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Error("New(nil): no error")
	}
	cfg := testConfig()
	cfg.Relationships[0].Topics[0].Synonyms = append(cfg.Relationships[0].Topics[0].Synonyms, " !? ")
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), `topic "customer-service"`) {
		t.Errorf("New with a term without words: err = %v", err)
	}
}

func TestAnalyzeBatchKeepsOrderAndIsDeterministic(t *testing.T) {
	cfg, posts := benchCorpus(500, 1000, 50)
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := a.AnalyzeBatch(posts)
	matched := 0
	for i, ap := range first {
		if ap.Post.ID != posts[i].ID {
			t.Fatalf("result %d is post %s, want %s", i, ap.Post.ID, posts[i].ID)
		}
		if want := a.Analyze(posts[i]); !reflect.DeepEqual(ap.Analysis, want) {
			t.Fatalf("post %d: batch %+v, alone %+v", i, ap.Analysis, want)
		}
		if len(ap.Analysis.Topics) > 0 {
			matched++
		}
	}
	if again := a.AnalyzeBatch(posts); !reflect.DeepEqual(first, again) {
		t.Error("second run differs from the first")
	}
	// make-corpus puts a topic phrase in about 30% of template parts.
	if matched < len(posts)/5 {
		t.Errorf("only %d of %d posts match a topic", matched, len(posts))
	}
	if got := a.AnalyzeBatch(nil); len(got) != 0 {
		t.Errorf("AnalyzeBatch(nil) = %v", got)
	}
}

// Loading prose's tagger decodes megabytes of gob data (hundreds of
// thousands of allocations); a post that only tokenizes and matches needs a
// few hundred. The bound fails loudly if the model were loaded per post.
func TestAnalyzeDoesNotLoadModelPerPost(t *testing.T) {
	cfg, posts := benchCorpus(1000, 1000, 50)
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	perPost := testing.AllocsPerRun(1, func() {
		for _, p := range posts {
			a.Analyze(p)
		}
	}) / float64(len(posts))
	if perPost > 1000 {
		t.Errorf("%.0f allocations per post; prose's model is being loaded per call?", perPost)
	}
	t.Logf("%.0f allocations per post", perPost)
}

func BenchmarkAnalyze(b *testing.B) {
	cfg, posts := benchCorpus(300, 1000, 50)
	a, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defaultTagger() // decoded once per process, outside the timing
	n := 0
	for b.Loop() {
		a.Analyze(posts[n%len(posts)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
}

func BenchmarkAnalyzeBatch(b *testing.B) {
	cfg, posts := benchCorpus(300, 1000, 50)
	a, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defaultTagger() // decoded once per process, outside the timing
	n := 0
	for b.Loop() {
		a.AnalyzeBatch(posts)
		n += len(posts)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
}

// testConfig is a small config in the shape the loader produces.
func testConfig() *config.Config {
	return &config.Config{
		Brand: config.Brand{Name: "Acme", Kind: "own", Aliases: []string{"Acme Bank", "@acme_de", "#teamacme"}},
		Competitors: []config.Brand{
			{Name: "BrandK", Kind: "direct"},
			{Name: "Ford", Kind: "direct"},
			{Name: "Apple", Kind: "platform", Aliases: []string{"@AppleSupport"}},
		},
		Relationships: []config.Relationship{{
			Name: "care", Type: "personal-assistance",
			Topics: []config.Topic{
				{Name: "customer-service", Terms: []string{"customer service"},
					Synonyms: []string{"customer support", "Kundenservice", "service client", "служба поддержки"},
					Exclude:  []string{"job opening", "#hiring"}},
				{Name: "mobile-app", Terms: []string{"app"}, Synonyms: []string{"mobile banking app"}},
				{Name: "bank", Terms: []string{"bank"}},
				{Name: "refunds", Terms: []string{"refund"}, Languages: []string{"en", "de-DE"}},
				{Name: "customer-service-de", Terms: []string{"Kundenservice", "Kundendienst"}, Languages: []string{"de"}},
				{Name: "twenty-four-seven", Terms: []string{"24/7 support"}},
				{Name: "cafe", Terms: []string{"Café"}},
			},
		}},
	}
}

// benchCorpus builds a config and posts like /work/shared/bench/make-corpus.py
// (same vocabulary, templates and proportions), deterministically.
func benchCorpus(nPosts, nTopics, nBrands int) (*config.Config, []affinity.Post) {
	r := rand.New(rand.NewPCG(7, 7))
	words := strings.Fields("account advisor app banking billing branch budget card checkout community customer " +
		"dashboard delivery discount experience feature fees feedback forum help invoice loan " +
		"loyalty member mobile onboarding order outage payment plan portal price privacy refund " +
		"release review savings security service shipping signup subscription support team " +
		"tips transfer update upgrade users wallet warranty")
	adj := strings.Fields("new great terrible slow fast confusing helpful broken amazing expensive cheap friendly")
	verb := strings.Fields("love hate tried switched launched fixed broke announced cancelled recommend compared")
	fill := strings.Fields("today again finally honestly really just still never always maybe yesterday this week right now")
	emoji := []string{"🙂", "🚀", "😡", "👍", "🔥", "😂", "💸", "🤔"}
	places := []string{"London", "Berlin", "Paris", "New York", "Toronto", "Madrid", "Tokyo"}
	people := []string{"Maria Garcia", "John Smith", "Aiko Tanaka", "Lena Müller", "Omar Haddad"}
	templates := []string{
		"I {verb} the {adj} {w1} from {brand} {fill} {emoji}",
		"Why is the {w1} {w2} so {adj}? {fill} #{w1}{w2}",
		"{person} says {topic} is the next big thing in {place} {url}",
		"Anyone else having trouble with {topic}? The {w1} page keeps failing {emoji}",
		"Thread: what we learned about {topic} after {n} months with {brand} 🧵 {url}",
		"@{handle} the {adj} {w1} {verb} my {w2} {fill}",
		"Our {w1} {w2} went live in {place}. Feedback welcome! {url}",
		"{brand} vs {brand2}: who does {topic} better? {emoji}",
		"Kurzer Test: {w1} und {w2} bei {brand} sind {fill} ok",
		"Le {w1} de {brand} est {adj} {emoji}",
		"{fill} {verb} {w1} {w2} {w1} {adj} {emoji} #{w2}",
	}
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	phrase := func() string {
		n := []int{1, 2, 2, 3}[r.IntN(4)]
		p := r.Perm(len(words))[:n]
		out := make([]string, n)
		for i, j := range p {
			out[i] = words[j]
		}
		return strings.Join(out, " ")
	}

	cfg := &config.Config{}
	var topics []string
	seen := map[string]bool{}
	for len(topics) < nTopics {
		p := phrase() + " " + pick(words)
		if !seen[p] {
			seen[p] = true
			topics = append(topics, p)
		}
	}
	for i, tp := range topics {
		if i%100 == 0 {
			cfg.Relationships = append(cfg.Relationships, config.Relationship{Name: fmt.Sprintf("rel-%d", i/100)})
		}
		rel := &cfg.Relationships[len(cfg.Relationships)-1]
		rel.Topics = append(rel.Topics, config.Topic{Name: fmt.Sprintf("topic-%04d", i),
			Terms: []string{tp}, Synonyms: []string{strings.ReplaceAll(tp, " ", "-")}})
	}
	brands := []string{"Acme"}
	for i := 1; i < nBrands; i++ {
		brands = append(brands, fmt.Sprintf("Brand%c%d", "KLMNPRSTVZ"[r.IntN(10)], i))
	}
	for i, b := range brands {
		cb := config.Brand{Name: b, Kind: "direct", Aliases: []string{"@" + strings.ToLower(b)}}
		if i == 0 {
			cb.Kind = "own"
			cfg.Brand = cb
		} else {
			cfg.Competitors = append(cfg.Competitors, cb)
		}
	}

	posts := make([]affinity.Post, nPosts)
	for i := range posts {
		var parts []string
		for range []int{1, 2, 2, 3}[r.IntN(4)] {
			topic := phrase()
			if r.Float64() < 0.3 {
				topic = pick(topics)
			}
			brand := pick([]string{"the bank", "they", "my provider"})
			if r.Float64() < 0.15 {
				brand = pick(brands)
			}
			parts = append(parts, strings.NewReplacer(
				"{verb}", pick(verb), "{adj}", pick(adj), "{w1}", pick(words), "{w2}", pick(words),
				"{brand}", brand, "{brand2}", pick(brands), "{fill}", pick(fill), "{emoji}", pick(emoji),
				"{person}", pick(people), "{place}", pick(places), "{topic}", topic,
				"{url}", fmt.Sprintf("https://example.org/p/%d", r.IntN(1_000_000)+1),
				"{handle}", fmt.Sprintf("user%d", r.IntN(5000)+1), "{n}", fmt.Sprint(r.IntN(23)+2),
			).Replace(pick(templates)))
		}
		posts[i] = affinity.Post{
			Source: "bench", ID: fmt.Sprint(i), URL: fmt.Sprintf("https://example.org/post/%d", i),
			Author: fmt.Sprintf("user%d", r.IntN(5000)+1), Language: "en", Text: strings.Join(parts, " "),
			Engagement: affinity.Engagement{Likes: r.Int64N(501), Reposts: r.Int64N(51), Replies: r.Int64N(81)},
			Format:     affinity.Formats[r.IntN(3)],
		}
	}
	return cfg, posts
}

func benchPosts(n, topics, brands int) []affinity.Post {
	_, posts := benchCorpus(n, topics, brands)
	return posts
}
