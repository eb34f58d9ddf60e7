package analysis

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// TokenKind says what a token is.
type TokenKind uint8

// Token kinds. Punct covers punctuation and symbols, emoji included.
const (
	Word TokenKind = iota
	Hashtag
	Mention
	Number
	Punct
)

var kindNames = [...]string{"Word", "Hashtag", "Mention", "Number", "Punct"}

func (k TokenKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "TokenKind(?)"
}

// Token is one token of a post. Text is as written (without the # or @ of a
// hashtag or mention); Folded is its case-folded form, used for matching.
type Token struct {
	Text   string
	Folded string
	Kind   TokenKind
}

// Tokenize splits normalized text into tokens the way prose's tokenizer does
// (ported in proseSplit, see there why), then repairs what prose gets wrong
// for social posts. Found in prose v2.0.0 (iterTokenizer) and handled here:
//   - it splits on whitespace and peels ASCII affixes only, so
//     "customer-service", "great🔥", "service…", «bonjour» stay one token:
//     each prose token is split again at punctuation and symbols;
//   - a word opening with an apostrophe followed by s, m, re or ll ('sorry',
//     ‘service’) is silently dropped: text prose skipped is tokenized here;
//   - it finds contractions by indexing strings.ToLower(token) and slicing the
//     original with that index, which panics (or cuts runes) when lowering
//     changes a rune's UTF-8 length (Ⱥ's, İ's, invalid bytes): such runes are
//     lowered before prose sees them, and a panic falls back to the local split;
//   - hashtags and handles come out whole ("#CustomerService", "@acmebank:" ->
//     "@acmebank"); should prose split "#" or "@" off, it is joined back to the
//     word that follows;
//   - curly quotes become ASCII (prose's own sanitizer, applied up front so
//     prose's tokens stay substrings of our text): "Acme’s" -> Acme 's.
//   - French/Italian elisions (l'équipe, dell'app) are split after the apostrophe.
//
// Text is NFC-normalized and made valid UTF-8 first, so any string is safe.
func Tokenize(s string) []Token {
	if s == "" {
		return nil
	}
	s = norm.NFC.String(strings.ToValidUTF8(s, "\uFFFD"))
	clean := proseSafe(s)
	t := tokenizer{text: clean, toks: make([]Token, 0, len(clean)/5+1), joinAt: -1}
	if !t.prose() {
		t.toks = t.toks[:0]
		t.fallback(0, len(clean))
	}
	return t.toks
}

type tokenizer struct {
	text string
	toks []Token
	// joinAt is the offset right after a lone "#" or "@", so a word starting
	// there is joined to it.
	joinAt  int
	joinTag TokenKind
}

// prose tokenizes t.text as prose does and refines its tokens; false on a
// panic, after which the caller tokenizes without prose's rules.
func (t *tokenizer) prose() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	t.joinAt = -1
	cur := 0
	stop := false
	for field := range strings.FieldsFuncSeq(t.text, unicode.IsSpace) {
		proseSplit(field, func(pt string) {
			if stop {
				return
			}
			// prose's tokens are substrings of the text, in order, except
			// the parts it drops (see proseSplit): the first occurrence
			// after the previous token is taken, as before the port.
			i := strings.Index(t.text[cur:], pt)
			if i < 0 || pt == "" {
				stop = true
				return
			}
			t.fallback(cur, cur+i) // whatever prose skipped, usually whitespace
			t.refine(cur+i, cur+i+len(pt))
			cur += i + len(pt)
		})
		if stop {
			break
		}
	}
	t.fallback(cur, len(t.text))
	return true
}

// proseSplit is doSplit of prose v2.0.0's iterTokenizer, ported so that
// tokenizing costs no prose.Document, no *Token per token and no per-call
// cache map: it peels the prefixes $ ( " [ and the suffixes , ) " ] ! ; . ? : '
// off a whitespace-separated field, splits contractions before 'll 's 're 'm
// and n't, keeps dotted abbreviations (U.S., Mr.) whole, and yields the
// pieces in text order. It keeps prose's quirk of dropping the rest of a
// field whose remainder starts with a contraction ("'sorry'"); Tokenize
// recovers dropped text. prose's emoticon list is left out: every emoticon
// is punctuation that refine splits rune by rune either way.
func proseSplit(field string, yield func(string)) {
	lo, hi := 0, len(field) // the token is field[lo:hi]; field[hi:] are peeled suffixes, one byte each
	last := 0
	for token := field; token != "" && utf8.RuneCountInString(token) != last; token = field[lo:hi] {
		if proseAbbrev(token) {
			yield(token)
			break
		}
		last = utf8.RuneCountInString(token)
		if len(token) > 1 && strings.IndexByte("$(\"[", token[0]) >= 0 {
			yield(token[:1])
			lo++
		} else if idx := contractionIndex(token); idx > -1 {
			if idx > 0 {
				yield(token[:idx])
			}
			lo += idx
		} else if len(token) > 1 && strings.IndexByte(",)\"]!;.?:'", token[len(token)-1]) >= 0 {
			hi--
		} else {
			yield(token)
		}
	}
	for i := hi; i < len(field); i++ {
		yield(field[i : i+1])
	}
}

// contractionIndex is where prose splits a contraction off token: the first
// of 'll, 's, 're, 'm (in that order of preference), else n't, found in the
// lower-cased token and longer than the piece, or -1.
func contractionIndex(token string) int {
	if strings.IndexByte(token, '\'') < 0 {
		return -1
	}
	lower := strings.ToLower(token)
	for _, c := range [...]string{"'ll", "'s", "'re", "'m", "n't"} {
		if i := strings.Index(lower, c); i >= 0 && len(lower) > len(c) {
			return i
		}
	}
	return -1
}

// proseAbbrev is prose's internalRE: letters each followed by a dot, at least
// two (U.S., e.g.), or a capital and one or two lower-case letters and a dot
// (Mr., Inc.). ASCII only, as the pattern.
func proseAbbrev(s string) bool {
	if n := len(s); n >= 3 && n <= 4 && s[n-1] == '.' && 'A' <= s[0] && s[0] <= 'Z' {
		lower := true
		for i := 1; i < n-1; i++ {
			lower = lower && 'a' <= s[i] && s[i] <= 'z'
		}
		if lower {
			return true
		}
	}
	if len(s) < 4 || len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i += 2 {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' || s[i+1] != '.' {
			return false
		}
	}
	return true
}

// fallback tokenizes t.text[from:to] without prose: whitespace-separated
// chunks, each refined like a prose token.
func (t *tokenizer) fallback(from, to int) {
	start := -1
	for i, r := range t.text[from:to] {
		if unicode.IsSpace(r) {
			if start >= 0 {
				t.refine(start, from+i)
				start = -1
			}
			t.joinAt = -1
		} else if start < 0 {
			start = from + i
		}
	}
	if start >= 0 {
		t.refine(start, to)
	}
}

// clitics are the contraction pieces prose splits off ("do n't", "Acme 's");
// they stay one word.
var clitics = map[string]bool{"'s": true, "'ll": true, "'re": true, "'m": true, "n't": true, "'ve": true, "'d": true}

// refine splits the span t.text[from:to] (one prose token) into tokens.
func (t *tokenizer) refine(from, to int) {
	span := t.text[from:to]
	if (len(span) <= 3 && clitics[strings.ToLower(span)]) || isAbbrev(span) {
		t.emit(span, Word, from, to)
		return
	}
	for i := from; i < to; {
		r, n := utf8.DecodeRuneInString(t.text[i:to])
		switch {
		case r == '#' || r == '＃' || r == '@' || r == '＠':
			kind := Hashtag
			if r == '@' || r == '＠' {
				kind = Mention
			}
			prev, _ := utf8.DecodeLastRuneInString(t.text[from:i])
			if i > from && isWordRune(prev) { // foo@bar.com, C#: not a handle or tag
				t.emit(t.text[i:i+n], Punct, i, i+n)
			} else if end := t.handleEnd(i+n, to, kind); end > i+n {
				t.emit(t.text[i+n:end], kind, i, end)
				i = end
				continue
			} else {
				t.emit(t.text[i:i+n], Punct, i, i+n)
				if i+n == to { // prose split the marker off: join it to the next word
					t.joinAt, t.joinTag = to, kind
				}
			}
			i += n
		case isWordRune(r):
			i = t.word(i, to)
		default:
			end := symbolEnd(t.text, i, to)
			t.emit(t.text[i:end], Punct, i, end)
			i = end
		}
	}
}

// handleEnd returns where a hashtag or mention starting at from ends (from
// when there is none). Hashtags are letters, digits and "_" with at least one
// letter ("#1" is a rank, not a tag); mentions may carry an instance or
// domain (@acme@mastodon.social, @acme.bsky.social).
func (t *tokenizer) handleEnd(from, to int, kind TokenKind) int {
	end, letter := from, false
	for i := from; i < to; {
		r, n := utf8.DecodeRuneInString(t.text[i:to])
		inner := kind == Mention && (r == '.' || r == '-' || r == '@') && end > from
		if !(isWordRune(r) || r == '_' || inner) {
			break
		}
		letter = letter || unicode.IsLetter(r)
		i += n
		if !inner {
			end = i // a trailing ".", "-" or "@" is not part of the handle
		}
	}
	if !letter {
		return from
	}
	return end
}

// word emits the word or number starting at from and returns where it ends.
// Apostrophes between letters stay inside (O'Brien); "." and "," between
// digits stay inside numbers (3.5, 1,000); ZWJ/ZWNJ stay inside words.
func (t *tokenizer) word(from, to int) int {
	i, digits, letters := from, false, false
	for i < to {
		r, n := utf8.DecodeRuneInString(t.text[i:to])
		if isWordRune(r) {
			digits = digits || unicode.IsDigit(r)
			letters = letters || !unicode.IsDigit(r)
			i += n
			continue
		}
		next, _ := utf8.DecodeRuneInString(t.text[i+n : to])
		prev, _ := utf8.DecodeLastRuneInString(t.text[from:i])
		joins := (r == '\'' && unicode.IsLetter(prev) && unicode.IsLetter(next)) ||
			((r == '.' || r == ',') && unicode.IsDigit(prev) && unicode.IsDigit(next)) ||
			((r == '\u200D' || r == '\u200C') && isWordRune(next))
		if !joins || i+n >= to {
			break
		}
		if r == '\'' && elision(t.text[from:i]) {
			t.emit(t.text[from:i+n], Word, from, i+n)
			return i + n
		}
		i += n
	}
	kind := Word
	if digits && !letters {
		kind = Number
	}
	t.emit(t.text[from:i], kind, from, i)
	return i
}

// emit appends a token; a lone "#" or "@" that prose split off directly
// before a word makes that word a hashtag or mention.
func (t *tokenizer) emit(text string, kind TokenKind, from, to int) {
	if from == t.joinAt && (kind == Word || kind == Number) && len(t.toks) > 0 {
		t.toks[len(t.toks)-1] = Token{Text: text, Folded: fold(text), Kind: t.joinTag}
		t.joinAt = -1
		return
	}
	t.joinAt = -1
	t.toks = append(t.toks, Token{Text: text, Folded: fold(text), Kind: kind})
}

// isWordRune reports letters, marks and digits of every script.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r)
}

// symbolEnd returns the end of the punctuation or symbol token at i: one
// rune, or a whole emoji sequence (modifiers, variation selectors, ZWJ
// joins, flag pairs) so "👍🏽" or "👩‍💻" stays one token.
func symbolEnd(s string, i, to int) int {
	r, n := utf8.DecodeRuneInString(s[i:to])
	end := i + n
	if r == '\'' || r == '"' || unicode.IsPunct(r) {
		return end
	}
	regional := r >= 0x1F1E6 && r <= 0x1F1FF
	for end < to {
		r, n = utf8.DecodeRuneInString(s[end:to])
		switch {
		case unicode.IsMark(r), r >= 0x1F3FB && r <= 0x1F3FF, r >= 0xE0020 && r <= 0xE007F:
			end += n
		case r == '\u200D' && end+n < to:
			next, m := utf8.DecodeRuneInString(s[end+n : to])
			if !unicode.IsSymbol(next) {
				return end
			}
			end += n + m
		case regional && r >= 0x1F1E6 && r <= 0x1F1FF:
			end += n
			regional = false
		default:
			return end
		}
	}
	return end
}

// isAbbrev reports dotted abbreviations prose keeps whole (U.S., e.g.).
func isAbbrev(s string) bool {
	pairs := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsLetter(r) || i+n >= len(s) || s[i+n] != '.' {
			return false
		}
		i += n + 1
		pairs++
	}
	return pairs >= 2
}

// elisions are French and Italian articles and pronouns written joined to
// the next word with an apostrophe (l'équipe, qu'il, dell'app, un'altra).
var elisions = map[string]bool{
	"l": true, "d": true, "j": true, "m": true, "n": true, "s": true, "t": true, "c": true,
	"qu": true, "jusqu": true, "lorsqu": true, "puisqu": true, "quoiqu": true,
	"dell": true, "all": true, "dall": true, "nell": true, "sull": true, "un": true,
	"quell": true, "quest": true,
}

func elision(prefix string) bool {
	return len(prefix) <= 6 && elisions[strings.ToLower(prefix)]
}

// proseSafe applies prose's own quote sanitizer up front (so prose's tokens
// are substrings of what we hold) and lowers the few runes whose lowercase has
// another UTF-8 length, which would make prose slice out of range.
func proseSafe(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		if strings.Contains(s, "&rsquo;") {
			return strings.ReplaceAll(s, "&rsquo;", "'")
		}
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch r {
		case '\u201C', '\u201D':
			b.WriteByte('"')
		case '\u2018', '\u2019':
			b.WriteByte('\'')
		default:
			if l := unicode.ToLower(r); l != r && utf8.RuneLen(l) != utf8.RuneLen(r) {
				r = l
			}
			b.WriteRune(r)
		}
	}
	return strings.ReplaceAll(b.String(), "&rsquo;", "'")
}

// folders pools case folders: a cases.Caser keeps state and must not be shared.
var folders = sync.Pool{New: func() any { c := cases.Fold(); return &c }}

// fold is full Unicode case folding (ß→ss, final ς→σ, Σ→σ), so matching is
// case-insensitive in every cased script; ASCII takes a fast path.
func fold(s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			f := folders.Get().(*cases.Caser)
			out := f.String(s)
			folders.Put(f)
			return out
		}
		upper = upper || ('A' <= c && c <= 'Z')
	}
	if !upper {
		return s
	}
	return strings.ToLower(s)
}
