package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// fixtures is the shared read-only corpus of real feeds (see its README).
const fixtures = "../../shared/fixtures/feeds"

// fixtureFiles lists every regular file under dir, failing when there is none.
func fixtureFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	if len(files) == 0 {
		t.Fatalf("no fixtures under %s", dir)
	}
	return files
}

var (
	xmlComment = regexp.MustCompile(`(?s)<!--.*?-->`)
	xmlCDATA   = regexp.MustCompile(`(?s)<!\[CDATA\[.*?\]\]>`)
	itemStart  = regexp.MustCompile(`<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]`)
)

// countItems counts a fixture's items without ParseFeed: JSON Feed "items",
// or <item>/<entry> start tags outside comments and CDATA. Markup is ASCII in
// every encoding the fixtures use, so dropping NUL bytes turns UTF-16/32
// markup into countable ASCII.
func countItems(t *testing.T, raw []byte) int {
	t.Helper()
	trimmed := bytes.TrimLeft(raw, "\xef\xbb\xbf \t\r\n")
	if bytes.HasPrefix(trimmed, []byte("{")) {
		var doc struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(trimmed, &doc); err != nil {
			t.Fatalf("fixture is not JSON: %v", err)
		}
		return len(doc.Items)
	}
	ascii := bytes.ReplaceAll(raw, []byte{0}, nil)
	ascii = xmlComment.ReplaceAll(ascii, nil)
	ascii = xmlCDATA.ReplaceAll(ascii, nil)
	return len(itemStart.FindAll(ascii, -1))
}

// parseWithDeadline runs ParseFeed and fails the test if it takes over 10s:
// a hang on a broken feed would stall a source forever.
func parseWithDeadline(t *testing.T, body []byte, contentType string) (*gofeed.Feed, error) {
	t.Helper()
	type result struct {
		feed *gofeed.Feed
		err  error
	}
	done := make(chan result, 1)
	go func() {
		f, err := ParseFeed(body, contentType)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		return r.feed, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("ParseFeed did not return within 10s")
		return nil, nil
	}
}

// Wellformed fixtures that are not feeds, and what ParseFeed must say.
var wellformedExceptions = map[string]string{
	// An XML "note" document kept by miniflux to test charset decoding, not a feed.
	"miniflux-encoding/iso88591.xml": "not a feed",
}

func TestParseFeedWellformed(t *testing.T) {
	dir := filepath.Join(fixtures, "wellformed")
	for _, path := range fixtureFiles(t, dir) {
		rel, _ := filepath.Rel(dir, path)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			feed, err := parseWithDeadline(t, raw, "")
			if want, ok := wellformedExceptions[filepath.ToSlash(rel)]; ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("ParseFeed error = %v, want one containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFeed: %v", err)
			}
			if got, want := len(feed.Items), countItems(t, raw); got != want {
				t.Errorf("got %d items, the file has %d", got, want)
			}
		})
	}
}

func TestParseFeedMalformed(t *testing.T) {
	dir := filepath.Join(fixtures, "malformed")
	for _, path := range fixtureFiles(t, dir) {
		rel, _ := filepath.Rel(dir, path)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			feed, err := parseWithDeadline(t, raw, "")
			if err != nil {
				// A clear error: counted as parse, prefixed, saying something.
				if ReasonOf(err) != ReasonParse || !strings.HasPrefix(err.Error(), "collector: parse: ") {
					t.Fatalf("error %q (reason %q), want a collector parse error", err, ReasonOf(err))
				}
				t.Logf("error: %v", err)
				return
			}
			t.Logf("%d items", len(feed.Items))
			for i, it := range feed.Items {
				if it == nil {
					t.Fatalf("item %d is nil", i)
				}
			}
		})
	}
}

// The undefined-html-entities fixtures carry feedparser's oracle, e.g.
// "Expect: feed['title'] == 'testing \xa0 entity'"; the title must match it.
func TestParseFeedEntityOracles(t *testing.T) {
	expect := regexp.MustCompile(`Expect:\s+feed\['title'\] == '(.*)'`)
	pyHex := regexp.MustCompile(`\\x([0-9a-fA-F]{2})`)
	files := fixtureFiles(t, filepath.Join(fixtures, "malformed", "undefined-html-entities"))
	checked := 0
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m := expect.FindSubmatch(raw)
		if m == nil {
			continue
		}
		// Python's '\xa0' is a code point, Go's "\xa0" a byte: rewrite as \u00a0.
		want, err := strconv.Unquote(`"` + pyHex.ReplaceAllString(string(m[1]), `\u00$1`) + `"`)
		if err != nil {
			t.Fatalf("%s: oracle %q: %v", path, m[1], err)
		}
		checked++
		t.Run(filepath.Base(path), func(t *testing.T) {
			feed, err := ParseFeed(raw, "")
			if err != nil {
				t.Fatalf("ParseFeed: %v", err)
			}
			if feed.Title != want {
				t.Errorf("title %q, want %q", feed.Title, want)
			}
		})
	}
	if checked < 10 {
		t.Fatalf("only %d oracles found", checked)
	}
}

func TestParseFeedEncodings(t *testing.T) {
	tests := []struct {
		file      string
		feedTitle string
		itemTitle string // of the first item; "" to skip
		itemText  string // description of the first item; "" to skip
	}{
		{"miniflux-encoding/iso-8859-1.xml", "Café", "", ""},
		{"miniflux-encoding/windows-1252.xml", "Euro €", "", ""},
		{"miniflux-encoding/koi8r.xml", "Пример RSS ленты", "Первая новость", ""},
		{"miniflux-encoding/utf8.xml", "테스트 피드", "Café", ""},
		{"feedparser-encoding/euc-kr.xml", "\ub144", "", ""},
		{"feedparser-encoding/euc-kr-item.xml", "", "", "\ub144"},
		{"feedparser-encoding/demoronize-1.xml", "", "", "don\u2019t"},
		{"../malformed/bad-encoding-declaration/miniflux__utf8-incorrect-prolog.xml", "테스트 피드", "Café", ""},
		{"../malformed/bad-encoding-declaration/miniflux__windows-1252-incorrect-prolog.xml", "Euro €", "", ""},
		{"../malformed/bad-encoding-declaration/miniflux__invalid-prolog.xml", "테스트 피드", "Café", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(fixtures, "wellformed", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			feed, err := ParseFeed(raw, "")
			if err != nil {
				t.Fatalf("ParseFeed: %v", err)
			}
			if tt.feedTitle != "" && feed.Title != tt.feedTitle {
				t.Errorf("feed title %q, want %q", feed.Title, tt.feedTitle)
			}
			if tt.itemTitle == "" && tt.itemText == "" {
				return
			}
			if len(feed.Items) == 0 {
				t.Fatal("no items")
			}
			if tt.itemTitle != "" && feed.Items[0].Title != tt.itemTitle {
				t.Errorf("item title %q, want %q", feed.Items[0].Title, tt.itemTitle)
			}
			if tt.itemText != "" && strings.TrimSpace(feed.Items[0].Description) != tt.itemText {
				t.Errorf("item description %q, want %q", feed.Items[0].Description, tt.itemText)
			}
		})
	}
}

// The UTF-16/32 fixtures hold no text; the same feed is encoded here in
// every Unicode form, with and without BOM, and must read back the same.
func TestParseFeedUnicodeForms(t *testing.T) {
	const title = "Grüße, Привет, 年"
	doc := `<?xml version="1.0" encoding="ENC"?>` + "\n" +
		`<rss version="2.0"><channel><title>` + title + `</title><item><title>` + title + `</title></item></channel></rss>`
	utf16be := unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	utf16le := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	utf32be := utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM)
	utf32le := utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM)
	cases := []struct {
		name, label, bom string
		encode           func([]byte) ([]byte, error)
	}{
		{"utf-8 bom", "utf-8", "\xef\xbb\xbf", func(b []byte) ([]byte, error) { return b, nil }},
		{"utf-16be bom", "utf-16", "\xfe\xff", utf16be.NewEncoder().Bytes},
		{"utf-16le bom", "utf-16", "\xff\xfe", utf16le.NewEncoder().Bytes},
		{"utf-16be no bom", "utf-16be", "", utf16be.NewEncoder().Bytes},
		{"utf-16le no bom", "utf-16", "", utf16le.NewEncoder().Bytes},
		{"utf-32be bom", "utf-32", "\x00\x00\xfe\xff", utf32be.NewEncoder().Bytes},
		{"utf-32le bom", "utf-32", "\xff\xfe\x00\x00", utf32le.NewEncoder().Bytes},
		{"utf-32be no bom", "utf-32be", "", utf32be.NewEncoder().Bytes},
		{"utf-32le no bom", "utf-32", "", utf32le.NewEncoder().Bytes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, err := c.encode([]byte(strings.Replace(doc, "ENC", c.label, 1)))
			if err != nil {
				t.Fatal(err)
			}
			feed, err := ParseFeed(append([]byte(c.bom), body...), "")
			if err != nil {
				t.Fatalf("ParseFeed: %v", err)
			}
			if feed.Title != title || len(feed.Items) != 1 || feed.Items[0].Title != title {
				t.Errorf("got title %q and %d items, want %q and 1", feed.Title, len(feed.Items), title)
			}
		})
	}
}

func TestParseFeedCharsetSources(t *testing.T) {
	latin1 := "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>Caf\xe9</title></channel></rss>"
	tests := []struct {
		name, body, contentType, want string
	}{
		{"content-type charset when the prolog is silent", latin1, "text/xml; charset=ISO-8859-1", "Café"},
		{"prolog wins over a generic utf-8 content type", strings.Replace(latin1, `"1.0"`, `"1.0" encoding="iso-8859-1"`, 1), "application/rss+xml; charset=utf-8", "Café"},
		{"unlabelled legacy bytes read as windows-1252", latin1, "", "Café"},
		{"bad byte after a UTF-8 BOM is replaced", "\xef\xbb\xbf<rss version=\"2.0\"><channel><title>\xd1\xa8 Espa\xf1a</title></channel></rss>", "", "\u0468 Espa\uFFFDa"},
		{"stray bad byte in UTF-8 is replaced", "<rss version=\"2.0\"><channel><title>Grüße \xff ok</title></channel></rss>", "", "Grüße \uFFFD ok"},
		{"leading whitespace before the declaration", "\n\n  <?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>ok</title></channel></rss>", "", "ok"},
		{"control characters dropped", "<rss version=\"2.0\"><channel><title>a\x01b\x0bc</title></channel></rss>", "", "abc"},
		{"root after a long comment", "<?xml version=\"1.0\"?>\n<!-- " + strings.Repeat("generator noise ", 400) + "-->\n<rss version=\"2.0\"><channel><title>late root</title></channel></rss>", "", "late root"},
		{"json feed passes through", `{"version":"https://jsonfeed.org/version/1.1","title":"Grüße","items":[]}`, "application/feed+json", "Grüße"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			feed, err := ParseFeed([]byte(tt.body), tt.contentType)
			if err != nil {
				t.Fatalf("ParseFeed: %v", err)
			}
			if feed.Title != tt.want {
				t.Errorf("title %q, want %q", feed.Title, tt.want)
			}
		})
	}
}

func TestParseFeedErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", "", "collector: parse: empty document"},
		{"whitespace only", " \n\t", "collector: parse: empty document"},
		{"html page", "<!DOCTYPE html>\n<html><head><title>Login</title></head><body></body></html>", "collector: parse: got an HTML page, not a feed"},
		{"xhtml page", `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>`, "collector: parse: got an HTML page, not a feed"},
		{"other xml", `<?xml version="1.0"?><note><to>x</to></note>`, "collector: parse: not a feed"},
		{"plain text", "hello", "collector: parse: not a feed"},
		{"broken json", `{"version": "https://jsonfeed.org/version/1", "items": [`, "collector: parse: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFeed([]byte(tt.body), "")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want prefix %q", err, tt.want)
			}
			var fe *FetchError
			if !errors.As(err, &fe) || fe.Reason != ReasonParse {
				t.Errorf("error %#v is not a parse FetchError", err)
			}
		})
	}
}

// A feed cut anywhere must give its complete items or a parse error, in
// bounded time, never a panic.
func TestParseFeedTruncated(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixtures, "wellformed", "miniflux-realworld", "large_rss.xml"))
	if err != nil {
		t.Fatal(err)
	}
	full, err := ParseFeed(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 40; i++ {
		cut := raw[:len(raw)*i/40]
		feed, err := parseWithDeadline(t, cut, "")
		if err != nil {
			if ReasonOf(err) != ReasonParse {
				t.Errorf("cut at %d: %v", len(cut), err)
			}
			continue
		}
		if len(feed.Items) > len(full.Items) {
			t.Errorf("cut at %d: %d items, more than the whole feed's %d", len(cut), len(feed.Items), len(full.Items))
		}
		if i >= 20 && len(feed.Items) == 0 {
			t.Errorf("cut at %d of %d: no items recovered", len(cut), len(raw))
		}
	}
}

// Documents that would make gofeed's memory explode are refused, and a feed
// with more than maxFeedItems items keeps the first ones (newest first).
func TestParseFeedLimits(t *testing.T) {
	rssItems := func(n int) string {
		return `<rss version="2.0"><channel><title>t</title>` +
			strings.Repeat(`<item><title>x</title><description>a<br>b</description></item>`, n) + `</channel></rss>`
	}
	tests := []struct {
		name      string
		body      string
		items     int
		truncated bool
		err       string
	}{
		{"deep nesting", `<rss version="2.0"><channel><item><title>x</title>` +
			strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000) + `</item></channel></rss>`, 0, false,
			"collector: parse: XML nested more than 256 elements deep"},
		{"nesting at the limit", `<rss version="2.0"><channel><item><title>x</title>` +
			strings.Repeat("<a>", maxXMLDepth-3) + strings.Repeat("</a>", maxXMLDepth-3) + `</item></channel></rss>`, 1, false, ""},
		{"too many elements", `<rss version="2.0"><channel><item><title>x</title>` +
			strings.Repeat(`<a xmlns="u"/>`, maxXMLElements) + `</item></channel></rss>`, 0, false,
			"collector: parse: more than 200000 XML elements"},
		{"unclosed HTML inside items is not depth", rssItems(300), 300, false, ""},
		{"items at the limit", rssItems(maxFeedItems), maxFeedItems, false, ""},
		{"items past the limit", rssItems(maxFeedItems + 1), maxFeedItems, true, ""},
		{"atom entries past the limit", `<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>` +
			strings.Repeat(`<entry><title>x</title><id>i</id></entry>`, maxFeedItems+5) + `</feed>`, maxFeedItems, true, ""},
		{"json feed items past the limit", `{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[` +
			strings.Repeat(`{"id":"1"},`, maxFeedItems) + `{"id":"2"}]}`, maxFeedItems, true, ""},
		{"entities are not expanded", `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">` +
			`<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><rss version="2.0"><channel><item><title>&c;</title></item></channel></rss>`, 1, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			feed, truncated, err := parseFeed([]byte(tt.body), "")
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || ReasonOf(err) != ReasonParse {
					t.Fatalf("error %v, want %q (reason parse)", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(feed.Items) != tt.items || truncated != tt.truncated {
				t.Errorf("%d items, truncated %v; want %d, %v", len(feed.Items), truncated, tt.items, tt.truncated)
			}
			if strings.Contains(feed.Items[0].Title, "aaaa") {
				t.Errorf("entity expanded: %q", feed.Items[0].Title)
			}
		})
	}
}
