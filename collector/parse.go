package collector

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// ParseFeed parses an RSS, Atom or JSON Feed document. gofeed gives up on
// invalid UTF-8 and on UTF-16/32, so the body is first decoded to valid UTF-8
// (see toUTF8) and its XML declaration rewritten to say so. Errors are
// *FetchError with reason "parse"; a panic inside gofeed becomes one too.
func ParseFeed(body []byte, contentType string) (feed *gofeed.Feed, err error) {
	feed, _, err = parseFeed(body, contentType)
	return feed, err
}

// parseFeed is ParseFeed that also reports whether items past maxFeedItems
// were dropped, so the feed source can say so in its log.
func parseFeed(body []byte, contentType string) (feed *gofeed.Feed, truncated bool, err error) {
	doc := toUTF8(body, contentType)
	if len(doc) == 0 {
		return nil, false, parseError(errors.New("empty document"))
	}
	// gofeed's memory grows with depth and element count far beyond the
	// body's size (a 7 MB nest of 10^6 elements peaks near 600 MB): check
	// both before it sees the document, and keep the first maxFeedItems.
	if doc[0] == '<' {
		cut, open, err := scanXML(doc)
		if err != nil {
			return nil, false, parseError(err)
		}
		if cut > 0 {
			doc, truncated = closeElements(doc[:cut], open), true
		}
	}
	if doc[0] == '{' && len(doc) > 3*maxFeedItems { // shorter cannot hold that many "{},"
		doc, truncated = limitJSONItems(doc)
	}
	feed, err = parseFeedDoc(doc)
	return feed, truncated, err
}

// limitJSONItems keeps the first maxFeedItems items of a JSON Feed: gofeed
// spends about 1 KB and 13 µs on each, so 3 million "{}" in 10 MB would
// take a minute. A document it cannot read is returned as it is, for gofeed
// to report.
func limitJSONItems(doc []byte) ([]byte, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(doc, &top) != nil {
		return doc, false
	}
	d := json.NewDecoder(bytes.NewReader(top["items"]))
	if t, err := d.Token(); err != nil || t != json.Delim('[') {
		return doc, false
	}
	for n := 0; d.More(); n++ {
		if n == maxFeedItems {
			items := append(bytes.Clone(top["items"][:d.InputOffset()]), ']')
			top["items"] = items
			out, err := json.Marshal(top)
			if err != nil {
				return doc, false
			}
			return out, true
		}
		if err := d.Decode(new(json.RawMessage)); err != nil {
			return doc, false
		}
	}
	return doc, false
}

func parseFeedDoc(doc []byte) (feed *gofeed.Feed, err error) {
	defer func() {
		if p := recover(); p != nil {
			feed, err = nil, parseError(fmt.Errorf("feed parser panicked: %v", p))
		}
	}()
	feed, err = gofeed.NewParser().Parse(bytes.NewReader(doc))
	if errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
		// gofeed looks for the root in the first 4 KiB only; long comments
		// or a DOCTYPE before it hide a good feed.
		if fixed, ok := hoistRoot(doc); ok {
			feed, err = gofeed.NewParser().Parse(bytes.NewReader(fixed))
		}
	}
	if err != nil && !errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
		// A truncated or broken tail: keep the items before it.
		if fixed, ok := closeTruncated(doc); ok {
			if f, err2 := gofeed.NewParser().Parse(bytes.NewReader(fixed)); err2 == nil {
				feed, err = f, nil
			}
		}
	}
	if err != nil {
		if errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
			if looksLikeHTML(doc) {
				return nil, parseError(errors.New("got an HTML page, not a feed"))
			}
			return nil, parseError(errors.New("not a feed: no rss, RDF, Atom feed or JSON Feed at the top"))
		}
		return nil, parseError(err)
	}
	demoronizeFeed(feed)
	return feed, nil
}

// demoronizeFeed replaces C1 control characters (U+0080-U+009F) in the text
// fields with the windows-1252 characters they stand for: feeds that pasted
// cp1252 text into UTF-8, or wrote &#146; for an apostrophe, mean ’ not a
// control code. Nobody puts real C1 controls in a post.
func demoronizeFeed(f *gofeed.Feed) {
	f.Title, f.Description = demoronize(f.Title), demoronize(f.Description)
	for _, it := range f.Items {
		if it == nil {
			continue
		}
		it.Title = demoronize(it.Title)
		it.Description = demoronize(it.Description)
		it.Content = demoronize(it.Content)
		for _, a := range it.Authors {
			if a != nil {
				a.Name = demoronize(a.Name)
			}
		}
	}
}

func demoronize(s string) string {
	if !strings.ContainsFunc(s, isC1) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isC1(r) {
			return charmap.Windows1252.DecodeByte(byte(r))
		}
		return r
	}, s)
}

func isC1(r rune) bool { return r >= 0x80 && r <= 0x9F }

// closeTruncated cuts doc after its last well-formed token and closes the
// elements still open there, so a feed cut mid-way (or broken near its end)
// yields the items it completed. ok is false when there is nothing to repair.
func closeTruncated(doc []byte) ([]byte, bool) {
	if len(doc) == 0 || doc[0] != '<' {
		return nil, false
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false
	var (
		open []string
		good int64
	)
	for {
		tok, err := d.RawToken()
		if err != nil {
			if err == io.EOF && len(open) == 0 {
				return nil, false // complete: the problem is elsewhere
			}
			break
		}
		good = d.InputOffset()
		switch t := tok.(type) {
		case xml.StartElement:
			open = append(open, qualified(t.Name))
		case xml.EndElement:
			// Pop to the matching start; a stray end tag closes nothing.
			name := qualified(t.Name)
			for i := len(open) - 1; i >= 0; i-- {
				if open[i] == name {
					open = open[:i]
					break
				}
			}
		}
	}
	if len(open) == 0 {
		return nil, false
	}
	out := bytes.Clone(doc[:good])
	for i := len(open) - 1; i >= 0; i-- {
		out = append(out, "</"+open[i]+">"...)
	}
	return out, true
}

// Limits on a feed document, checked before gofeed builds it in memory.
// Real feeds nest fewer than 30 elements deep and have about one element per
// 100 bytes (a 10 MB feed: ~100,000); a feed that lists more than
// maxFeedItems items is cut after them (feeds list the newest first).
const (
	maxXMLDepth    = 256
	maxXMLElements = 200_000
	maxFeedItems   = 10_000
)

// scanXML walks the markup of doc without building anything: it fails when
// the nesting or the element count passes the limits, and when the document
// holds more than maxFeedItems items (RSS item, Atom entry) it returns the
// offset just after the last one to keep and the elements open there.
// Markup it cannot follow (an unterminated comment) ends the walk without an
// error: gofeed then gives the precise one.
func scanXML(doc []byte) (cut int, open [][]byte, err error) {
	var stack [][]byte
	elements, items := 0, 0
	for i := 0; ; {
		j := bytes.IndexByte(doc[i:], '<')
		if j < 0 || i+j+1 >= len(doc) {
			return 0, nil, nil
		}
		i += j + 1
		var end int // offset of the markup's last byte; < 0 when unterminated
		var closed []byte
		switch {
		case bytes.HasPrefix(doc[i:], []byte("!--")):
			end = indexFrom(doc, i+3, "-->") + 2
		case bytes.HasPrefix(doc[i:], []byte("![CDATA[")):
			end = indexFrom(doc, i+8, "]]>") + 2
		case doc[i] == '!': // DOCTYPE, perhaps with an internal subset in brackets
			end = tagEnd(doc, i)
			if k := bytes.IndexByte(doc[i:max(end, i)], '['); k >= 0 {
				if end = indexFrom(doc, i+k, "]"); end >= 0 {
					end = tagEnd(doc, end)
				}
			}
		case doc[i] == '?':
			end = indexFrom(doc, i, "?>") + 1
		case doc[i] == '/':
			if end = tagEnd(doc, i); end >= 0 {
				closed = tagName(doc[i+1 : end])
				// Pop to the matching start tag: unclosed HTML (<br>) inside
				// an element ends with it; a stray end tag closes nothing.
				for k := len(stack) - 1; k >= 0; k-- {
					if bytes.Equal(stack[k], closed) {
						stack = stack[:k]
						break
					}
				}
			}
		default:
			if end = tagEnd(doc, i); end < 0 {
				break
			}
			if elements++; elements > maxXMLElements {
				return 0, nil, fmt.Errorf("more than %d XML elements", maxXMLElements)
			}
			name := tagName(doc[i:end])
			if doc[end-1] == '/' {
				closed = name // <item/>
				break
			}
			if stack = append(stack, name); len(stack) > maxXMLDepth {
				return 0, nil, fmt.Errorf("XML nested more than %d elements deep", maxXMLDepth)
			}
		}
		if end < 0 {
			return 0, nil, nil
		}
		i = end + 1
		// Items sit at depth 2 (Atom entry, RSS 1.0 item) or 3 (RSS item).
		if closed != nil && len(stack) <= 2 && isItem(closed) {
			if items++; items == maxFeedItems && moreItems(doc[i:]) {
				return i, stack, nil
			}
		}
	}
}

// moreItems reports whether another item or entry may follow.
func moreItems(rest []byte) bool {
	return bytes.Contains(rest, []byte("item")) || bytes.Contains(rest, []byte("entry"))
}

// closeElements appends end tags for the open elements, innermost first.
func closeElements(doc []byte, open [][]byte) []byte {
	out := bytes.Clone(doc)
	for i := len(open) - 1; i >= 0; i-- {
		out = append(append(append(out, "</"...), open[i]...), '>')
	}
	return out
}

func isItem(name []byte) bool {
	if k := bytes.LastIndexByte(name, ':'); k >= 0 {
		name = name[k+1:]
	}
	return string(name) == "item" || string(name) == "entry"
}

// tagName is the name at the start of a tag's inside ("item x='1'" → "item").
func tagName(b []byte) []byte {
	n := bytes.IndexAny(b, " \t\r\n/>")
	if n < 0 {
		return b
	}
	return b[:n]
}

// tagEnd is the offset of the '>' closing the tag that starts at i, skipping
// quoted attribute values; -1 when there is none.
func tagEnd(doc []byte, i int) int {
	var quote byte
	for ; i >= 0 && i < len(doc); i++ {
		switch c := doc[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i
		}
	}
	return -1
}

// indexFrom is the offset of sep in doc at or after i; -1 (or less) when absent.
func indexFrom(doc []byte, i int, sep string) int {
	k := bytes.Index(doc[i:], []byte(sep))
	if k < 0 {
		return -len(sep) - 1
	}
	return i + k
}

// hoistRoot drops what stands between the XML declaration and a feed root
// element (rss, RDF, feed) that starts beyond the first 4 KiB. ok is false
// when there is no such root.
func hoistRoot(doc []byte) ([]byte, bool) {
	if len(doc) <= 4096 || doc[0] != '<' {
		return nil, false
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false
	for {
		start := d.InputOffset()
		tok, err := d.RawToken()
		if err != nil {
			return nil, false
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch strings.ToLower(se.Name.Local) {
			case "rss", "rdf", "feed":
				if start <= 4096 {
					return nil, false // gofeed saw it: the problem is elsewhere
				}
				out := make([]byte, 0, len(utf8Decl)+len(doc)-int(start))
				return append(append(out, utf8Decl...), doc[start:]...), true
			}
			return nil, false
		}
	}
}

func qualified(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

func parseError(err error) *FetchError { return &FetchError{Reason: ReasonParse, Err: err} }

var (
	htmlStart = regexp.MustCompile(`(?i)<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])`)
	// prolog is the XML declaration; it is replaced whole once the text is UTF-8.
	prolog   = regexp.MustCompile(`^<\?xml[^>]*\?>`)
	encAttr  = regexp.MustCompile(`(?i)\bencoding\s*=\s*["']\s*([A-Za-z0-9._:-]+)\s*["']`)
	utf8Decl = []byte(`<?xml version="1.0" encoding="UTF-8"?>`)
)

// looksLikeHTML reports an HTML page where a feed was expected (a login
// wall, an error page, a site's home page instead of its feed).
func looksLikeHTML(doc []byte) bool {
	return htmlStart.Match(doc[:min(len(doc), 4096)])
}

// toUTF8 returns the document as valid UTF-8 without BOM, leading
// whitespace or an encoding declaration gofeed could act on again.
//
// Which encoding the bytes are in, first match wins:
//  1. a byte order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE);
//  2. the zero bytes of UTF-16/32 around the first characters (XML 1.0 appendix F);
//  3. valid UTF-8: taken as UTF-8 whatever the declaration says — valid
//     multi-byte UTF-8 by accident in a legacy charset is very rare, while
//     servers and templates that declare ISO-8859-1 over UTF-8 are common;
//     7-bit stateful charsets (ISO-2022-*) are the exception and are honoured;
//  4. the declaration's encoding, then the Content-Type charset (when known
//     and not a UTF label, which step 3 already disproved);
//  5. no usable label: mostly-UTF-8 bytes stay UTF-8 (bad bytes replaced),
//     otherwise windows-1252, the charset of most unlabelled legacy feeds.
func toUTF8(body []byte, contentType string) []byte {
	doc, enc := sniffUnicode(body)
	utf8BOM := len(doc) < len(body) && enc == nil
	if enc != nil {
		if d, err := enc.NewDecoder().Bytes(doc); err == nil {
			doc = d
		} else {
			doc = bytes.ToValidUTF8(doc, nil)
		}
	}
	doc = trimLeadingSpace(doc)
	if enc == nil && !utf8BOM { // a UTF-8 BOM is trusted: bad bytes get replaced below
		doc = decodeLegacy(doc, declaredEncoding(doc), mediaCharset(contentType))
	}
	doc = trimLeadingSpace(doc)
	if loc := prolog.FindIndex(doc); loc != nil {
		rest := doc[loc[1]:]
		out := make([]byte, 0, len(utf8Decl)+len(rest))
		out = append(append(out, utf8Decl...), rest...)
		doc = out
	}
	return cleanXMLChars(bytes.ToValidUTF8(doc, []byte("\uFFFD")))
}

// sniffUnicode finds a BOM or the zero-byte pattern of UTF-16/32 and returns
// the body without BOM and the decoder to use; nil for ASCII-compatible bodies.
func sniffUnicode(b []byte) ([]byte, encoding.Encoding) {
	switch {
	case bytes.HasPrefix(b, []byte{0x00, 0x00, 0xFE, 0xFF}):
		return b[4:], utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM)
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE, 0x00, 0x00}):
		return b[4:], utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM)
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		return b[3:], nil
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return b[2:], unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return b[2:], unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	}
	if len(b) < 4 {
		return b, nil
	}
	z := func(i int) bool { return b[i] == 0 }
	switch {
	case z(0) && z(1) && z(2) && !z(3):
		return b, utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM)
	case !z(0) && z(1) && z(2) && z(3):
		return b, utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM)
	case z(0) && !z(1) && z(2) && !z(3):
		return b, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	case !z(0) && z(1) && !z(2) && z(3):
		return b, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	}
	return b, nil
}

// decodeLegacy decodes an ASCII-compatible body following steps 3-5 of toUTF8.
func decodeLegacy(doc []byte, labels ...string) []byte {
	valid := utf8.Valid(doc)
	for _, label := range labels {
		if label == "" {
			continue
		}
		enc, name := charset.Lookup(label)
		if enc == nil {
			continue // "bogus", "u16", python-only aliases: fall through to sniffing
		}
		stateful7bit := strings.HasPrefix(name, "iso-2022-")
		if valid && !stateful7bit {
			return doc // step 3
		}
		if strings.HasPrefix(name, "utf-") {
			continue
		}
		if d, err := enc.NewDecoder().Bytes(doc); err == nil {
			return d
		}
	}
	if valid || mostlyUTF8(doc) {
		return doc
	}
	if d, err := charmap.Windows1252.NewDecoder().Bytes(doc); err == nil {
		return d
	}
	return doc
}

// mostlyUTF8 reports whether valid multi-byte sequences outnumber invalid
// bytes: a UTF-8 feed with a few stray bytes, not a legacy-charset one.
func mostlyUTF8(b []byte) bool {
	good, bad := 0, 0
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n == 1:
			bad++
		case n > 1:
			good++
		}
		b = b[n:]
	}
	return good > bad
}

// declaredEncoding is the encoding named in the XML declaration, if any.
func declaredEncoding(doc []byte) string {
	decl := prolog.Find(doc)
	if decl == nil {
		return ""
	}
	if m := encAttr.FindSubmatch(decl); m != nil {
		return string(m[1])
	}
	return ""
}

// mediaCharset is the charset parameter of a Content-Type header.
func mediaCharset(contentType string) string {
	if contentType == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return params["charset"]
}

// trimLeadingSpace drops whitespace and stray BOMs before the first markup:
// an XML declaration must come first, and real feeds often start with a newline.
func trimLeadingSpace(b []byte) []byte {
	for {
		switch {
		case bytes.HasPrefix(b, []byte("\uFEFF")):
			b = b[3:]
		case len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n'):
			b = b[1:]
		default:
			return b
		}
	}
}

// cleanXMLChars drops the characters XML 1.0 forbids (C0 controls other
// than tab, LF, CR; U+FFFE, U+FFFF), which make encoding/xml stop dead.
// It returns b itself when there is nothing to drop.
func cleanXMLChars(b []byte) []byte {
	bad := func(r rune) bool {
		return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF
	}
	if bytes.IndexFunc(b, bad) < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if !bad(r) {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}
