package analysis

import (
	"math/bits"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// Undetermined is the language of a post whose platform names none and whose
// text does not tell reliably (BCP 47's "und").
const Undetermined = "und"

// PostLanguage is the language analysis gives a post: the platform's tag when
// it names a language (reduced to its base language: "pt-BR" → "pt",
// "eng" → "en"), otherwise the language detected in its tokens when the
// detection is reliable, otherwise Undetermined.
// With nil tokens it does not detect: Undetermined stands for "not told".
func PostLanguage(platform string, tokens []Token) string {
	if l := BaseLanguage(platform); l != "" {
		return l
	}
	if tokens == nil {
		return Undetermined
	}
	return DetectLanguage(tokens)
}

// BaseLanguage reduces a BCP 47 tag to its primary language subtag, lower
// case, with ISO 639-2/3 codes that have a two-letter code mapped to it
// ("EN-us" → "en", "deu" → "de", "zh-Hant-TW" → "zh"). It returns "" for
// an empty or undetermined tag and for anything that is not a language tag
// ("English", "x-klingon"), so the caller detects instead.
func BaseLanguage(tag string) string {
	tag = strings.TrimSpace(tag)
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	if len(tag) < 2 || len(tag) > 3 {
		return ""
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i] | 0x20; c < 'a' || c > 'z' {
			return ""
		}
	}
	tag = strings.ToLower(tag)
	switch tag {
	case Undetermined, "mul", "zxx", "mis": // undetermined, multiple, no content, uncoded
		return ""
	}
	if len(tag) == 3 {
		if short, ok := iso3to1[tag]; ok {
			return short
		}
		if b, err := language.ParseBase(tag); err == nil && len(b.String()) == 2 {
			return b.String()
		}
	}
	return tag
}

// iso3to1 maps the three-letter codes a platform tag may carry that
// x/text does not reduce (ISO 639-2 bibliographic codes, and individual
// codes of a macrolanguage) to their two-letter code.
var iso3to1 = map[string]string{
	"ger": "de", "fre": "fr", "dut": "nl", "chi": "zh", "cze": "cs", "gre": "el",
	"per": "fa", "rum": "ro", "slo": "sk", "ice": "is", "wel": "cy", "arm": "hy",
	"baq": "eu", "bur": "my", "geo": "ka", "mac": "mk", "mao": "mi", "may": "ms",
	"alb": "sq", "tib": "bo", "arb": "ar", "pes": "fa", "cmn": "zh", "azj": "az",
}

const (
	// minWords is how many words a post in a script of many languages needs
	// before it gets a language: below it ("great app", "App kaputt") a
	// guess would be wrong as often as right, so it stays Undetermined.
	minWords = 4
	// maxWords bounds the words read: the opening of a long article tells
	// its language as well as the whole, and cost stays flat per post.
	maxWords = 64
	// minScriptLetters is how many letters of a script that names one
	// language (Hangul, Kana, Thai, Greek…) or of Han a post needs: two Han
	// characters are as likely a Japanese name as Chinese.
	minScriptLetters = 6
	// minWordScore and wordMargin decide a language by its common words: at
	// least one word's worth of evidence (a word shared by k languages counts
	// 1/k for each), and 1.5 times the evidence of the runner-up or a lead of
	// one word.
	minWordScore = 1.0
	wordMargin   = 1.5
	// minEnding and maxEnding bound the byte length of commonEndings.
	minEnding, maxEnding = 2, 7
)

// writingSystems are the scripts detection tells apart, in the order they
// are tried for a letter. A script with a language names it; the others
// (lang "") are written in many languages, told apart by their common words.
var writingSystems = [...]struct {
	table *unicode.RangeTable
	lang  string
}{
	{unicode.Latin, ""}, {unicode.Cyrillic, ""}, {unicode.Arabic, ""}, {unicode.Hebrew, ""},
	{unicode.Devanagari, ""},
	{unicode.Han, "zh"}, {unicode.Hiragana, "ja"}, {unicode.Katakana, "ja"}, {unicode.Hangul, "ko"},
	{unicode.Greek, "el"}, {unicode.Thai, "th"}, {unicode.Georgian, "ka"}, {unicode.Armenian, "hy"},
	{unicode.Bengali, "bn"}, {unicode.Tamil, "ta"}, {unicode.Telugu, "te"}, {unicode.Kannada, "kn"},
	{unicode.Malayalam, "ml"}, {unicode.Gujarati, "gu"}, {unicode.Gurmukhi, "pa"}, {unicode.Oriya, "or"},
	{unicode.Sinhala, "si"}, {unicode.Khmer, "km"}, {unicode.Myanmar, "my"}, {unicode.Lao, "lo"},
}

const (
	scriptLatin    = 0
	scriptHan      = 5
	scriptHiragana = 6
	scriptKatakana = 7
	noScript       = -1
)

// scriptOf is the index in writingSystems of a letter's script, or noScript.
func scriptOf(r rune) int {
	if r < utf8.RuneSelf {
		if 'a' <= r|0x20 && r|0x20 <= 'z' {
			return scriptLatin
		}
		return noScript
	}
	if !unicode.IsLetter(r) {
		return noScript
	}
	for i, ws := range writingSystems {
		if unicode.Is(ws.table, r) {
			return i
		}
	}
	return noScript
}

// wordEvidence is what one common word says: the languages that use it
// (bits of vocabulary.langs) and the weight it adds to each.
type wordEvidence struct {
	langs  uint64
	weight float64
}

// vocabulary is commonWords compiled for lookup by folded token.
type vocabulary struct {
	words   map[string]wordEvidence
	letters map[rune]wordEvidence // from commonLetters, at half a word's weight
	endings map[string]wordEvidence
	langs   []string // bit i of wordEvidence.langs is langs[i]
	script  []int    // the writingSystems index each language is written in
}

var commonVocabulary = sync.OnceValue(func() *vocabulary {
	v := &vocabulary{words: map[string]wordEvidence{}, letters: map[rune]wordEvidence{}, endings: map[string]wordEvidence{}}
	for lang := range commonWords {
		v.langs = append(v.langs, lang)
	}
	if len(v.langs) > 64 {
		panic("analysis: more than 64 languages in commonWords")
	}
	slices.Sort(v.langs) // bit order fixed, so ties break the same way every run
	for i, lang := range v.langs {
		words := strings.Fields(commonWords[lang])
		r, _ := utf8.DecodeRuneInString(words[0])
		v.script = append(v.script, scriptOf(r))
		for _, w := range words {
			w = fold(w)
			e := v.words[w]
			e.langs |= 1 << i
			v.words[w] = e
		}
	}
	for i, lang := range v.langs {
		for _, r := range commonLetters[lang] {
			e := v.letters[r]
			e.langs |= 1 << i
			v.letters[r] = e
		}
	}
	for i, lang := range v.langs {
		for _, end := range strings.Fields(commonEndings[lang]) {
			if len(end) < minEnding || len(end) > maxEnding {
				panic("analysis: ending " + end + " not of 2 to 7 bytes")
			}
			e := v.endings[end]
			e.langs |= 1 << i
			v.endings[end] = e
		}
	}
	for w, e := range v.words {
		e.weight = 1 / float64(bits.OnesCount64(e.langs))
		v.words[w] = e
	}
	for end, e := range v.endings {
		e.weight = 0.5 / float64(bits.OnesCount64(e.langs))
		v.endings[end] = e
	}
	for r, e := range v.letters {
		e.weight = 0.5 / float64(bits.OnesCount64(e.langs))
		v.letters[r] = e
	}
	return v
})

// DetectLanguage tells the language of a post's words, or Undetermined.
// Hashtags, mentions, numbers and punctuation are left out: they are not
// written in a language. A script that names one language (Hangul, Kana,
// Thai, Greek…; Han without Kana is Chinese) decides at once; in the
// scripts of many languages (Latin, Cyrillic, Arabic, Hebrew, Devanagari)
// the post's common words and letters decide (see commonWords): a post of
// fewer than four words, or whose words do not clearly favour one language,
// is Undetermined rather than guessed.
func DetectLanguage(tokens []Token) string {
	v := commonVocabulary()
	var letters [len(writingSystems)]int
	var score [64]float64
	var hits [64]int // words that gave evidence for each language
	words := 0
	for _, t := range tokens {
		if t.Kind != Word {
			continue
		}
		letter, hint := false, wordEvidence{}
		for _, r := range t.Folded {
			s := scriptOf(r)
			if s == noScript {
				continue
			}
			letters[s]++
			letter = true
			// The word's most telling letter: the one fewest languages use.
			if e, ok := v.letters[r]; ok && e.weight > hint.weight {
				hint = e
			}
		}
		if !letter {
			continue
		}
		if words++; words > maxWords {
			break
		}
		e, ok := v.words[t.Folded]
		if !ok {
			// The longest known ending a word has more than 3 letters before.
			for n := min(maxEnding, len(t.Folded)-3); n >= minEnding; n-- {
				if end, ok := v.endings[t.Folded[len(t.Folded)-n:]]; ok {
					if end.weight > hint.weight {
						hint = end
					}
					break
				}
			}
			e = hint
		}
		for set := e.langs; set != 0; set &= set - 1 {
			i := bits.TrailingZeros64(set)
			score[i] += e.weight
			hits[i]++
		}
	}
	dominant := scriptLatin
	for s, n := range letters {
		if n > letters[dominant] {
			dominant = s
		}
	}
	if letters[dominant] == 0 {
		return Undetermined
	}
	// Japanese writes with Han and Kana mixed; Chinese never uses Kana.
	if kana, cjk := letters[scriptHiragana]+letters[scriptKatakana], letters[scriptHan]+letters[scriptHiragana]+letters[scriptKatakana]; kana > 0 && cjk >= letters[dominant] {
		if cjk < minScriptLetters {
			return Undetermined
		}
		return "ja"
	}
	if lang := writingSystems[dominant].lang; lang != "" {
		if letters[dominant] < minScriptLetters {
			return Undetermined
		}
		return lang
	}
	if words < minWords {
		return Undetermined
	}
	best, second := -1, 0.0
	for i := range v.langs {
		if v.script[i] != dominant {
			continue
		}
		switch {
		case best < 0 || score[i] > score[best]:
			if best >= 0 {
				second = score[best]
			}
			best = i
		case score[i] > second:
			second = score[i]
		}
	}
	// One telling word is not enough: "les set ben tocades" (Catalan) holds
	// the Turkish "ben". Between related languages that share most common
	// words (da/nb, id/ms) a lead of one word of its own decides.
	if best < 0 || hits[best] < 2 || score[best] < minWordScore ||
		(score[best] < wordMargin*second && score[best]-second < minWordScore) {
		return Undetermined
	}
	return v.langs[best]
}
