package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/html"
)

// hostile is a post as an attacker would write it: every field a page shows
// carries markup, and the URL is a script.
var hostile = affinity.Post{
	Source: "demo-social", ID: "x", URL: "javascript:alert(3)", Author: `<script>alert(1)</script>`,
	Title:     `"><img src=x onerror=alert(4)>`,
	Text:      `Beware: <script>alert('xss')</script> <img src=x onerror=alert(2)> the Acme mobile app has a phishing clone! &lt;img src=y onerror=alert(5)&gt;`,
	Published: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), Format: affinity.FormatNetwork,
	Engagement: affinity.Engagement{Likes: 1}, Copies: 1,
}

func testPosts() []affinity.Post {
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	return []affinity.Post{
		hostile,
		{Source: "news", ID: "1", URL: "https://news.example/a?x=1&y=2", Author: "ann", Title: "Quiet news",
			Published: day.Add(-time.Hour), Format: affinity.FormatAudience},
		{Source: "forum", ID: "2", URL: "https://forum.example/t/2", Author: "bob", Text: "Popular thread",
			Published: day.Add(-2 * time.Hour), Format: affinity.FormatCommunity,
			Engagement: affinity.Engagement{Likes: 10, Reposts: 5, Replies: 3, Score: 40}, Copies: 3},
		{Source: "forum", ID: "3", URL: "", Author: "", Text: "No link at all",
			Published: day.Add(-3 * time.Hour), Format: affinity.FormatCommunity, Engagement: affinity.Engagement{Replies: 2}},
	}
}

func testScoring() ScoringInfo {
	return ScoringInfo{
		Weights:           ScoreWeights{Mentions: 0.4, Authors: 0.3, Engagement: 0.2, Formats: 0.1},
		References:        ScoreReferences{Mentions: 50, Authors: 25, Engagement: 100},
		OccupiedThreshold: 0.5, OccupiedMinMentions: 5,
		RelationshipPriority: map[string]string{"support": "high"},
		Topics: map[string]TopicDefinition{
			"customer-service": {Terms: []string{"customer service", "support hotline"}, Synonyms: []string{"helpdesk"},
				Exclude: []string{"job offer"}, Languages: []string{"en", "de"}},
			// A query is configuration, but it is shown on a page: escaped like everything else.
			"quiet": {Query: `("wait time" OR queue) AND NOT "<b>job</b>"`, Terms: []string{"unused-term"}},
		},
	}
}

type pageEnv struct {
	evidence EvidenceFunc
	terms    TermsFunc
	scoring  func() ScoringInfo
	snapshot *affinity.Snapshot
	history  *History
}

func (e pageEnv) handler() http.Handler {
	m := NewMetrics(prometheus.NewRegistry())
	m.SetSources([]SourceInfo{{Name: "feed", Kind: "feed", Format: "audience"}, {Name: "social", Kind: "mastodon", Format: "network"}})
	m.ObserveFetch(Fetch{Source: "feed", Start: time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC), Duration: time.Second, Scanned: 12, New: 4,
		NearDuplicates: 3, RateLimitRemaining: -1, NextRun: time.Date(2026, 11, 23, 11, 15, 0, 0, time.UTC)})
	m.ObserveFetch(Fetch{Source: "social", Start: time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC), Duration: time.Second,
		Err: errors.New(`collector: mastodon: HTTP 401 <b>unauthorized</b>`), Reason: "http_4xx", RateLimitRemaining: -1})
	snap := e.snapshot
	return Handler(Options{Gatherer: prometheus.NewRegistry(), Snapshot: func() *affinity.Snapshot { return snap },
		Metrics: m, Evidence: e.evidence, Terms: e.terms, Scoring: e.scoring, History: e.history})
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestPages(t *testing.T) {
	evidence := func(_ context.Context, _ string, limit int) ([]affinity.Post, error) {
		if limit != evidencePool {
			return nil, errors.New("unexpected limit")
		}
		return testPosts(), nil
	}
	history := NewHistory(0, 0)
	s := testSnapshot()
	drifted := testSnapshot() // its score 0.61 is not what the formula gives
	// The formula's score of customer-service (m=10, a=8, e=12.5, f=2), so the
	// page's contributions add up to it.
	_, s.Topics[0].Score = components(s.Topics[0], testScoring(), true)
	for i := 3; i >= 0; i-- {
		old := *s
		old.Computed = s.Computed.Add(-time.Duration(i) * 24 * time.Hour)
		history.Record(&old)
	}
	full := pageEnv{evidence: evidence, scoring: testScoring, snapshot: s, history: history,
		terms: func(context.Context, string) (TopicTerms, error) {
			return TopicTerms{Top: []TermCount{{Term: "hold music", Count: 7}}, Emerging: []TermCount{{Term: "<b>chatbot</b>", Count: 3}},
				Organisations: []TermCount{{Term: "Umbrella Corp", Count: 2}}}, nil
		}}
	bare := pageEnv{snapshot: s}
	// A snapshot stored before brand sentiment existed: shares, no sentiments.
	older := testSnapshot()
	older.Topics[0].BrandSentiment = nil
	for _, c := range []struct {
		name    string
		env     pageEnv
		path    string
		code    int
		want    []string
		notWant []string
	}{
		{"status groups topics by relationship", full, "/", 200, []string{
			`<h2 id="rel-0">support</h2>`, "personal-assistance", "priority <strong>high</strong>", "retail, smb",
			`href="topics/customer-service"`, "0.63", "Globex (75%)", "occupied by Globex", "network 7", "audience 3",
			"2.00×", "&#43;0.40", `<polyline points=`, `aria-label="Affinity score over the last 28 days: 0.63 on Nov 20, 0.63 now (4 points)"`,
			"2 sources: 1 up", `<span class="bad">down</span>`,
		}, nil},
		{"status without history or scoring info", bare, "/", 200, []string{"No score history", "priority <strong>not known</strong>"},
			[]string{"<polyline", "occupied by"}},
		{"status before the first pass", pageEnv{}, "/", 200, []string{"No scores computed yet"}, nil},
		{"topic page components add up", full, "/topics/customer-service", 200, []string{
			"How the score adds up", "<td class=\"num\">10</td>", "<td class=\"num\">0.244</td>", "<td class=\"num\">0.067</td>", "0.626",
			"Share of voice", `class="bar sov-bar"`, `style="width: 75%"`, `style="width: 25%"`, `<span class="badge bad">occupies</span>`,
			"hold music", "&lt;b&gt;chatbot&lt;/b&gt;", "Umbrella Corp",
			"Latest posts", "Most engaging posts", `href="https://news.example/a?x=1&amp;y=2"`, "open post",
			"&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;",
			"&lt;script&gt;alert(1)&lt;/script&gt;", "<code>javascript:alert(3)</code>", "no link", "40 points",
			// brand sentiment beside each share, in numbers and words
			`<th scope="col" class="num">Sentiment</th>`,
			`<td class="num brand-sentiment"><span class="bad">-0.50 negative</span></td>`,
			`<td class="num brand-sentiment"><span class="good">&#43;0.25 positive</span></td>`,
			// near-duplicates collapsed into evidence posts
			`<span class="badge copies" title="Near-duplicates (reposts, cross-posts, syndicated copies) collapse into this post: they count as one mention">&#43;3 copies`,
			`&#43;1 copy<span class="vh"> collapsed into this post as near-duplicates</span>`, "“+N copies”: near-duplicates",
			// the definition: terms, synonyms, exclusions, languages
			"<dt>Terms</dt><dd>customer service, support hotline</dd>", "<dt>Synonyms</dt><dd>helpdesk</dd>",
			"<dt>Excluded</dt><dd>job offer</dd>", "<dd>only posts in en, de</dd>",
		}, []string{"<script", "<img", `href="javascript`, "not available yet", "formula differ", "<dt>Query</dt>", "not mentioned"}},
		{"topic page of a boolean topic shows its query, escaped", full, "/topics/quiet", 200, []string{
			`<dt>Query</dt><dd><code class="query">(&#34;wait time&#34; OR queue) AND NOT &#34;&lt;b&gt;job&lt;/b&gt;&#34;</code></dd>`,
			"<dd>every language</dd>", `<span class="muted">– not mentioned</span>`,
		}, []string{"<b>job", "<dt>Terms</dt>", "unused-term", "brand-sentiment\"><span class=\"good"}},
		{"topic page of a snapshot without brand sentiment", pageEnv{snapshot: older, scoring: testScoring},
			"/topics/customer-service", 200, []string{`<span class="muted">– not available</span>`}, []string{"-0.50 negative", "neutral"}},
		{"topic page flags a score its components do not add up to", pageEnv{snapshot: drifted, scoring: testScoring},
			"/topics/customer-service", 200, []string{"add up to 0.626, not to the score"}, nil},
		{"topic page without providers", bare, "/topics/customer-service", 200, []string{
			"not available yet", "weights not available", "Evidence posts are not available",
			"The topic's definition is not available",
		}, []string{"copies"}},
		{"topic page with failing providers", pageEnv{snapshot: s,
			evidence: func(context.Context, string, int) ([]affinity.Post, error) { return nil, errors.New("db gone") },
			terms:    func(context.Context, string) (TopicTerms, error) { return TopicTerms{}, errors.New("no terms") }},
			"/topics/customer-service", 200, []string{"Evidence could not be loaded", "Terms could not be loaded"}, nil},
		{"topic page of an empty topic", pageEnv{snapshot: s, scoring: testScoring,
			evidence: func(context.Context, string, int) ([]affinity.Post, error) { return nil, nil },
			terms:    func(context.Context, string) (TopicTerms, error) { return TopicTerms{}, nil }},
			"/topics/quiet", 200, []string{"None in this window", "No posts matched this topic yet", "0.000"}, []string{"formula differ", "copies"}},
		{"unknown topic", full, "/topics/nope", 404, []string{"There is no configured topic"}, nil},
		{"topic before the first pass", pageEnv{}, "/topics/customer-service", 503, []string{"No scores computed yet"}, nil},
		{"sources page", full, "/sources", 200, []string{
			`<th scope="row" data-label="Source">feed</th>`, "2026-11-23 11:00 UTC", "2026-11-23 11:15 UTC", "4 / 12", "1 / 0",
			`<th scope="col" class="num">Near-duplicates</th>`, `<td data-label="Near-duplicates" class="num near-dup">3</td>`,
			`<td data-label="Near-duplicates" class="num near-dup">0</td>`,
			"http_4xx", "HTTP 401 &lt;b&gt;unauthorized&lt;/b&gt;", "not scheduled", "never", `aria-current="page">Sources`,
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := get(t, c.env.handler(), c.path)
			if rec.Code != c.code {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, c.code, rec.Body)
			}
			body := rec.Body.String()
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page contains %q", w)
				}
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP = %q", csp)
			}
			checkAccessible(t, body)
			if t.Failed() {
				t.Logf("page:\n%s", body)
			}
		})
	}
}

// checkAccessible parses the page as a browser would and checks what holds
// on every page: landmarks, a language, header cells with a scope, no element
// that runs or loads anything, and links that go nowhere dangerous.
func checkAccessible(t *testing.T, body string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var walk func(n *html.Node, inThead bool)
	walk = func(n *html.Node, inThead bool) {
		if n.Type == html.ElementNode {
			seen[n.Data]++
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("<%s> has an event handler %s=%q", n.Data, a.Key, a.Val)
				}
			}
			switch n.Data {
			case "script", "img", "iframe", "object", "embed", "link":
				t.Errorf("page has a <%s> element", n.Data)
			case "th":
				if inThead && attr["scope"] != "col" {
					t.Errorf("header cell without scope=col: %v", attr)
				}
			case "a":
				if h := attr["href"]; strings.Contains(h, ":") && !strings.HasPrefix(h, "http://") && !strings.HasPrefix(h, "https://") {
					t.Errorf("link to %q", h)
				}
			case "html":
				if attr["lang"] == "" {
					t.Error("no lang on <html>")
				}
			case "svg":
				if attr["role"] != "img" || attr["aria-label"] == "" {
					t.Errorf("svg without role=img and a label: %v", attr)
				}
			}
			inThead = inThead || n.Data == "thead"
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inThead)
		}
	}
	walk(doc, false)
	for _, landmark := range []string{"header", "nav", "main", "footer", "h1"} {
		if seen[landmark] == 0 {
			t.Errorf("page has no <%s>", landmark)
		}
	}
}

func TestComponentsAddUp(t *testing.T) {
	info := testScoring()
	for _, c := range []struct {
		name string
		t    affinity.TopicScore
		want float64
	}{
		{"nothing", affinity.TopicScore{}, 0},
		{"at every reference", affinity.TopicScore{Mentions: 50, Authors: 25, Engagement: 100, FormatsPresent: 3}, 1},
		{"past the references", affinity.TopicScore{Mentions: 500, Authors: 250, Engagement: 1e4, FormatsPresent: 3}, 1},
		{"some", affinity.TopicScore{Mentions: 10, Authors: 8, Engagement: 12.5, FormatsPresent: 2},
			0.4*math.Log(11)/math.Log(51) + 0.3*math.Log(9)/math.Log(26) + 0.2*math.Log(13.5)/math.Log(101) + 0.1*2/3},
	} {
		t.Run(c.name, func(t *testing.T) {
			cs, sum := components(c.t, info, true)
			if len(cs) != 4 {
				t.Fatalf("%d components", len(cs))
			}
			if math.Abs(sum-c.want) > 1e-12 {
				t.Errorf("sum = %v, want %v", sum, c.want)
			}
		})
	}
}

func TestSafeHref(t *testing.T) {
	for _, c := range []struct {
		in   string
		ok   bool
		want string
	}{
		{"https://example.org/a?b=1", true, "https://example.org/a?b=1"},
		{"http://example.org", true, "http://example.org"},
		{" HTTPS://Example.org/x ", true, "https://Example.org/x"},
		{"javascript:alert(1)", false, ""},
		{"JaVaScRiPt:alert(1)", false, ""},
		{"data:text/html,<script>alert(1)</script>", false, ""},
		{"//evil.example/x", false, ""},
		{"/relative", false, ""},
		{"https:///nohost", false, ""},
		{"", false, ""},
	} {
		got, ok := safeHref(c.in)
		if ok != c.ok || got != c.want {
			t.Errorf("safeHref(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestEvidenceViews(t *testing.T) {
	latest, engaging := evidenceViews(testPosts())
	if len(latest) != 4 || latest[0].Source != "demo-social" {
		t.Errorf("latest = %+v, want the store's newest-first order", latest)
	}
	var order []string
	for _, v := range engaging {
		order = append(order, v.Source+"/"+v.Text)
	}
	// bob's thread (10+10+3+40), then the reply-only post (2), then the hostile one (1 like); the quiet news post has none.
	if len(engaging) != 3 || engaging[0].Author != "bob" || engaging[1].Weight != 2 || engaging[2].Weight != 1 {
		t.Errorf("engaging order = %q", order)
	}
	many := make([]affinity.Post, 50)
	for i := range many {
		many[i] = affinity.Post{ID: string(rune('a' + i%26)), Engagement: affinity.Engagement{Likes: int64(i)}}
	}
	latest, engaging = evidenceViews(many)
	if len(latest) != evidenceShown || len(engaging) != evidenceShown || engaging[0].Weight != 49 {
		t.Errorf("got %d latest, %d engaging (top %d)", len(latest), len(engaging), engaging[0].Weight)
	}
	for _, c := range []struct{ title, text, want string }{
		{"", "<p>Acme says its <b>customer service</b> &amp; help desk&#8217;s hours grow.</p>", "Acme says its customer service & help desk’s hours grow."},
		{"Title", "<div class=x>body<br/>next</div>", "Title — body next"},
		{"", `<a href="javascript:alert(1)">click</a>`, "click"},
		{"", `Beware <script>alert('xss')</script> <img src=x onerror=alert(2)>`, `Beware <script>alert('xss')</script> <img src=x onerror=alert(2)>`},
		{"", "&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>"},
	} {
		if got := newPostView(affinity.Post{Title: c.title, Text: c.text}).Text; got != c.want {
			t.Errorf("text of %q = %q, want %q", c.text, got, c.want)
		}
	}
	if v := newPostView(affinity.Post{Text: strings.Repeat("é", 400)}); len([]rune(v.Text)) != excerptRunes+1 {
		t.Errorf("excerpt has %d runes", len([]rune(v.Text)))
	}
}

func TestNewSparkline(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	span := 28 * 24 * time.Hour
	for _, c := range []struct {
		name       string
		pts        []ScorePoint
		wantPoints string
		single     bool
	}{
		{"no history", nil, "", false},
		{"only points outside the span", []ScorePoint{{now.Add(-40 * 24 * time.Hour), 1}}, "", false},
		{"one point at now, top of the axis", []ScorePoint{{now, 1}}, "117.0,3.0", true},
		{"start and end, bottom to top", []ScorePoint{{now.Add(-span), 0}, {now, 1}}, "3.0,25.0 117.0,3.0", false},
		{"scores are clamped to [0, 1]", []ScorePoint{{now.Add(-span), -1}, {now, 2}}, "3.0,25.0 117.0,3.0", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp := newSparkline(c.pts, now, span, sparkWidth, sparkHeight)
			if sp.Points != c.wantPoints || sp.Single != c.single || sp.HasHistory != (c.wantPoints != "") || sp.Label == "" {
				t.Errorf("sparkline = %+v", sp)
			}
		})
	}
}
