package analysis

import (
	"html"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/unicode/norm"
)

// MaxTextBytes bounds the input Normalize looks at. No post is that long; the
// cap keeps time and memory per post bounded whatever a feed delivers.
const MaxTextBytes = 1 << 20

var (
	// tagLike decides between the HTML tokenizer and plain-text handling, so
	// "I <3 Acme" or "a < b" in a plain post are not eaten as tags.
	tagLike = regexp.MustCompile(`(?i)<(?:/?[a-z][a-z0-9-]*(?:\s[^<>]*)?/?>|!--)`)
	// urlRE removes links: they are not words of the post, and their paths
	// ("/acme-bank/customer-service") would produce false matches.
	urlRE = regexp.MustCompile(`(?i)(?:\bhttps?://|\bwww\.)\S*`)
)

// Normalize turns a post's title or body (HTML or plain text) into display
// text: tags out (script, style, noscript and template content dropped, block
// elements and <br> as spaces), entities decoded, URLs removed, Unicode NFC,
// control characters out, whitespace collapsed and trimmed. Case is kept;
// matching folds it. Safe on hostile input: invalid UTF-8 is repaired first,
// input beyond MaxTextBytes is ignored, and nesting depth costs nothing
// because the HTML is tokenized, never built into a tree.
func Normalize(s string) string {
	if len(s) > MaxTextBytes {
		cut := MaxTextBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	switch {
	case strings.IndexByte(s, '<') >= 0 && tagLike.MatchString(s):
		s = htmlText(s)
	case strings.IndexByte(s, '&') >= 0:
		// Plain text from feeds often still carries entities ("AT&amp;T").
		s = html.UnescapeString(s)
	}
	if strings.Contains(s, "://") || containsFold(s, "www.") {
		s = urlRE.ReplaceAllLiteralString(s, " ")
	}
	return norm.NFC.String(cleanSpace(s))
}

// dropped are elements whose content is not text a reader sees.
var dropped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Iframe: true, atom.Noembed: true, atom.Noframes: true, atom.Object: true,
}

// inline elements continue a word ("un<b>believ</b>able"); every other tag,
// block-level or unknown, separates words like a space.
var inline = map[atom.Atom]bool{
	atom.A: true, atom.Abbr: true, atom.B: true, atom.Bdi: true, atom.Bdo: true,
	atom.Cite: true, atom.Code: true, atom.Data: true, atom.Del: true, atom.Dfn: true,
	atom.Em: true, atom.Font: true, atom.I: true, atom.Ins: true, atom.Kbd: true,
	atom.Label: true, atom.Mark: true, atom.Q: true, atom.S: true, atom.Samp: true,
	atom.Small: true, atom.Span: true, atom.Strike: true, atom.Strong: true,
	atom.Sub: true, atom.Sup: true, atom.Time: true, atom.Tt: true, atom.U: true,
	atom.Var: true, atom.Wbr: true,
}

// htmlText extracts the visible text of an HTML fragment. The tokenizer
// decodes entities in text and streams, so nesting depth costs nothing.
func htmlText(s string) string {
	z := xhtml.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	b.Grow(len(s))
	skip := 0 // depth inside dropped elements
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return b.String() // io.EOF; reading from a string fails no other way
		case xhtml.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case xhtml.StartTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if dropped[a] {
				skip++
				b.WriteByte(' ')
			} else if !inline[a] {
				b.WriteByte(' ')
			}
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if dropped[a] {
				skip = max(skip-1, 0)
				b.WriteByte(' ')
			} else if !inline[a] {
				b.WriteByte(' ')
			}
		case xhtml.SelfClosingTagToken:
			name, _ := z.TagName()
			if !inline[atom.Lookup(name)] {
				b.WriteByte(' ')
			}
		}
	}
}

// cleanSpace drops control and invisible format characters and collapses
// every run of whitespace into one space, trimming both ends.
func cleanSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r) || r == '\u200B': // zero width space is a word break
			space = b.Len() > 0
		case unicode.IsControl(r) || invisible(r):
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// invisible reports format characters that only hide or reorder text: soft
// hyphen (drop it and the word is whole again), BOM, word joiner and the
// bidi controls of "Trojan source" tricks. ZWJ/ZWNJ stay: emoji sequences
// and Indic or Persian spelling need them.
func invisible(r rune) bool {
	switch {
	case r == '\u00AD', r == '\uFEFF', r == '\u2060', r == '\u180E':
		return true
	case r >= '\u200E' && r <= '\u200F', r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// containsFold is an allocation-free, ASCII case-insensitive strings.Contains.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
