package analysis

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/abadojack/whatlanggo"
)

// Undetermined is the language of a post whose platform names none and whose
// text does not tell reliably (BCP 47's "und").
const Undetermined = "und"

const (
	// detectBytes bounds the text the detector reads: a few sentences
	// decide as well as a whole article, and cost stays flat per post.
	detectBytes = 600
	// minTrigramLetters is how many letters a text written in a script
	// shared by many languages (Latin, Cyrillic, Arabic…) needs before its
	// trigrams are trusted: below it "great app" could be half the world.
	minTrigramLetters = 24
	// minScriptLetters is the same for scripts that name one language
	// (Hangul, Thai, Greek…) and Han: two characters of Han are as likely
	// a Japanese name as Chinese.
	minScriptLetters = 6
)

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
		if short, ok := iso3to1()[tag]; ok {
			return short
		}
	}
	return tag
}

// languageCodes maps the detector's languages to the codes PostLanguage
// returns: ISO 639-1 where one exists, else ISO 639-3. whatlanggo builds a
// map on every Iso6391 call, so the table is built once.
var languageCodes = sync.OnceValue(func() []string {
	codes := make([]string, len(whatlanggo.Langs))
	for l := range whatlanggo.Langs {
		if int(l) < 0 || int(l) >= len(codes) {
			continue
		}
		codes[l] = l.Iso6391()
		if codes[l] == "" {
			codes[l] = l.Iso6393()
		}
	}
	return codes
})

// iso3to1 maps three-letter codes to two-letter ones, for platform tags:
// the detector's ISO 639-3 codes plus the bibliographic 639-2 codes a feed
// may carry.
var iso3to1 = sync.OnceValue(func() map[string]string {
	m := map[string]string{
		"ger": "de", "fre": "fr", "dut": "nl", "chi": "zh", "cze": "cs", "gre": "el",
		"per": "fa", "rum": "ro", "slo": "sk", "ice": "is", "wel": "cy", "arm": "hy",
		"baq": "eu", "bur": "my", "geo": "ka", "mac": "mk", "mao": "mi", "may": "ms",
		"alb": "sq", "tib": "bo", "ara": "ar", "zho": "zh", "fas": "fa", "msa": "ms",
		"nor": "no", "est": "et", "lav": "lv", "aze": "az", "uzb": "uz", "kur": "ku",
	}
	for l := range whatlanggo.Langs {
		if short, long := l.Iso6391(), l.Iso6393(); short != "" && long != "" {
			m[long] = short
		}
	}
	return m
})

// DetectLanguage detects the language of a post's words with whatlanggo
// (trigram profiles of 84 languages, pure Go). Hashtags, mentions, numbers and
// punctuation are left out: they are not written in a language. It returns
// Undetermined when the text is too short or the detector is not confident.
func DetectLanguage(tokens []Token) string {
	var b strings.Builder
	letters, scriptLetters := 0, 0
	for _, t := range tokens {
		if t.Kind != Word {
			continue
		}
		if b.Len()+len(t.Text) > detectBytes {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.Text)
		for _, r := range t.Text {
			if unicode.IsLetter(r) {
				letters++
				if r >= utf8.RuneSelf && !unicode.In(r, unicode.Latin, unicode.Cyrillic, unicode.Arabic, unicode.Devanagari, unicode.Hebrew, unicode.Ethiopic) {
					scriptLetters++
				}
			}
		}
	}
	if letters < minScriptLetters {
		return Undetermined
	}
	info := whatlanggo.Detect(b.String())
	if info.Lang < 0 || !info.IsReliable() {
		return Undetermined
	}
	// A language told by its script alone needs fewer letters than one told
	// by trigrams among its script's many languages.
	if scriptLetters*2 < letters && letters < minTrigramLetters {
		return Undetermined
	}
	if codes := languageCodes(); int(info.Lang) < len(codes) && codes[info.Lang] != "" {
		return codes[info.Lang]
	}
	return Undetermined
}
