package analysis

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jdkato/prose/v2"
)

// posTagger is prose's averaged-perceptron part-of-speech tagger (a port of
// textblob-aptagger) re-implemented over prose's published weights, which
// prose exports as gob assets. prose's own tagger builds every feature as a
// concatenated string in a fresh map and scores into another map, about 30
// allocations a token, and tags its own re-tokenization of the text; this one
// hashes the same feature strings without building them, scores into a fixed
// array and tags our tokens directly. The features, the weights and the
// rules before the model (hyphen, mentions, "0", tag dictionary) are prose's,
// so the tags are prose's: TestTaggerAgreesWithProse holds it to that.
type posTagger struct {
	classes []string
	// dict is prose's tag dictionary: words seen at least 20 times in
	// training with one tag 97 % of the time skip the model.
	dict map[string]uint8
	// feats maps the FNV-1a hash of a feature string ("i suffix ing") to
	// its weights, weights[from:to] and classOf[from:to].
	feats   map[uint64]span
	weights []float64
	classOf []uint8
	// Tag indexes of the rules that precede the model.
	hyphen, noun, none, sym int
}

type span struct{ from, to uint32 }

// defaultTagger is decoded once (prose's weights are a 5 MB gob) and shared:
// tagging only reads it.
var defaultTagger = sync.OnceValues(func() (*posTagger, error) {
	return loadTagger()
})

func proseAsset(name string, v any) error {
	b, err := prose.Asset("model/AveragedPerceptron/" + name)
	if err != nil {
		return fmt.Errorf("prose tagger model: %w", err)
	}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		return fmt.Errorf("prose tagger model %s: %w", name, err)
	}
	return nil
}

func loadTagger() (*posTagger, error) {
	var classes []string
	var dict map[string]string
	var weights map[string]map[string]float64
	if err := proseAsset("classes.gob", &classes); err != nil {
		return nil, err
	}
	if err := proseAsset("tags.gob", &dict); err != nil {
		return nil, err
	}
	if err := proseAsset("weights.gob", &weights); err != nil {
		return nil, err
	}
	t := &posTagger{dict: make(map[string]uint8, len(dict)), feats: make(map[uint64]span, len(weights))}
	ids := map[string]uint8{}
	class := func(c string) (uint8, error) {
		if id, ok := ids[c]; ok {
			return id, nil
		}
		if len(t.classes) >= math.MaxUint8 {
			return 0, fmt.Errorf("prose tagger model: more than %d tags", math.MaxUint8)
		}
		ids[c] = uint8(len(t.classes))
		t.classes = append(t.classes, c)
		return ids[c], nil
	}
	for _, c := range append(classes, "-", "NN", "-NONE-", "SYM") {
		if _, err := class(c); err != nil {
			return nil, err
		}
	}
	t.hyphen, t.noun, t.none, t.sym = int(ids["-"]), int(ids["NN"]), int(ids["-NONE-"]), int(ids["SYM"])
	for w, c := range dict {
		id, err := class(c)
		if err != nil {
			return nil, err
		}
		t.dict[w] = id
	}
	for f, ws := range weights {
		h := fnvString(fnvOffset, f)
		if _, dup := t.feats[h]; dup {
			return nil, fmt.Errorf("prose tagger model: features collide on hash %x", h)
		}
		from := uint32(len(t.weights))
		for c, w := range ws {
			id, err := class(c)
			if err != nil {
				return nil, err
			}
			t.weights = append(t.weights, w)
			t.classOf = append(t.classOf, id)
		}
		t.feats[h] = span{from, uint32(len(t.weights))}
	}
	return t, nil
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

// Feature templates: the hash state after the template's name, so a feature
// costs hashing its values only.
var (
	hBias     = fnvString(fnvOffset, "bias")
	hSuffix   = fnvString(fnvOffset, "i suffix")
	hPref1    = fnvString(fnvOffset, "i pref1")
	hTag1     = fnvString(fnvOffset, "i-1 tag")
	hTag2     = fnvString(fnvOffset, "i-2 tag")
	hTag12    = fnvString(fnvOffset, "i tag+i-2 tag")
	hWord     = fnvString(fnvOffset, "i word")
	hTag1Word = fnvString(fnvOffset, "i-1 tag+i word")
	hPrevWord = fnvString(fnvOffset, "i-1 word")
	hPrevSuf  = fnvString(fnvOffset, "i-1 suffix")
	hPrev2    = fnvString(fnvOffset, "i-2 word")
	hNextWord = fnvString(fnvOffset, "i+1 word")
	hNextSuf  = fnvString(fnvOffset, "i+1 suffix")
	hNext2    = fnvString(fnvOffset, "i+2 word")
)

// feature hashes a feature's template state and its value, as prose joins
// them with a space.
func feature(h uint64, v string) uint64 {
	return fnvString((h^' ')*fnvPrime, v)
}

func feature2(h uint64, v1, v2 string) uint64 {
	return feature(feature(h, v1), v2)
}

// byteRunes[b] is string(rune(b)): what prose's "i pref1" feature makes of a
// word's first byte, a Latin-1 reading for the lead byte of a UTF-8 rune.
var byteRunes = func() (t [256]string) {
	for i := range t {
		t[i] = string(rune(i))
	}
	return t
}()

func suffix3(s string) string { return s[len(s)-min(len(s), 3):] }

// tagWords tags a sequence of words (one sentence or a whole text, as prose
// does) and writes the tag indexes into tags (len(tags) == len(words)).
// Words are as prose would see them: mentions with their "@".
func (t *posTagger) tagWords(words []string, tags []uint8) {
	ctx := make([]string, len(words)+4)
	ctx[0], ctx[1] = "-START-", "-START2-"
	for i, w := range words {
		ctx[i+2] = proseNormalize(w)
	}
	ctx[len(ctx)-2], ctx[len(ctx)-1] = "-END-", "-END2-"
	var sc scoreboard
	p1, p2 := "-START-", "-START2-"
	for i, w := range words {
		tag, ok := t.rule(w)
		if !ok {
			if id, found := t.dict[w]; found {
				tag = int(id)
			} else {
				tag = t.predict(w, ctx, i+2, p1, p2, &sc)
			}
		}
		tags[i] = uint8(tag)
		p2, p1 = p1, t.classes[tag]
	}
}

// rule applies prose's rules that precede its dictionary and model.
func (t *posTagger) rule(w string) (int, bool) {
	switch {
	case w == "-":
		return t.hyphen, true
	case proseEmoticons[w]:
		return t.sym, true
	case strings.HasPrefix(w, "@"), strings.IndexByte(w, '.') >= 0 && proseLink.MatchString(w):
		return t.noun, true
	case w == "0" || w == "*":
		return t.none, true // prose's "-NONE-" pattern; its other shapes contain "*" and are no token of ours
	}
	return 0, false
}

// scoreboard accumulates class scores; touched lists the classes scored, as
// prose only compares classes some feature gave a weight.
type scoreboard struct {
	score   [math.MaxUint8 + 1]float64
	seen    [math.MaxUint8 + 1]bool
	touched []uint8
}

// predict scores the features prose's featurize builds for word w at ctx[i]
// (ctx holds two start and two end markers around the normalized words) and
// returns the best tag; ties go to the tag listed first in the model.
func (t *posTagger) predict(w string, ctx []string, i int, p1, p2 string, sc *scoreboard) int {
	hs := [...]uint64{
		hBias,
		feature(hSuffix, suffix3(w)),
		feature(hPref1, byteRunes[w[0]]),
		feature(hTag1, p1),
		feature(hTag2, p2),
		feature2(hTag12, p1, p2),
		feature(hWord, ctx[i]),
		feature2(hTag1Word, p1, ctx[i]),
		feature(hPrevWord, ctx[i-1]),
		feature(hPrevSuf, suffix3(ctx[i-1])),
		feature(hPrev2, ctx[i-2]),
		feature(hNextWord, ctx[i+1]),
		feature(hNextSuf, suffix3(ctx[i+1])),
		feature(hNext2, ctx[i+2]),
	}
	sc.touched = sc.touched[:0]
	for _, h := range hs {
		sp, ok := t.feats[h]
		if !ok {
			continue
		}
		for k := sp.from; k < sp.to; k++ {
			c := t.classOf[k]
			if !sc.seen[c] {
				sc.seen[c] = true
				sc.score[c] = 0
				sc.touched = append(sc.touched, c)
			}
			sc.score[c] += t.weights[k]
		}
	}
	best, bestScore := 0, math.Inf(-1)
	for _, c := range sc.touched {
		if s := sc.score[c]; s > bestScore || (s == bestScore && int(c) < best) {
			best, bestScore = int(c), s
		}
		sc.seen[c] = false
	}
	return best
}

// proseEmoticons are the emoticons of prose's list that can be one token of
// ours (the others hold punctuation, which our tokenizer splits off): prose
// tags them SYM.
var proseEmoticons = setOf("8D XDD xD xDD")

// proseLink is the link pattern prose's tagger tags NN (commonregex's
// LinkPattern); among our tokens only numbers and abbreviations hold a dot.
var proseLink = regexp.MustCompile(`(?:(?:https?:\/\/)?(?:[a-z0-9.\-]+|www|[a-z0-9.\-])[.](?:[^\s()<>]+|\((?:[^\s()<>]+|(?:\([^\s()<>]+\)))*\))+(?:\((?:[^\s()<>]+|(?:\([^\s()<>]+\)))*\)|[^\s!()\[\]{};:\'".,<>?]))`)

// proseNormalize is the word form prose's tagger features use: hyphenated
// words, years and numbers collapse into classes, the rest is lower-cased.
func proseNormalize(w string) string {
	if w == "" {
		return w
	}
	switch {
	case w[0] != '-' && strings.IndexByte(w, '-') >= 0:
		return "!HYPHEN"
	case len(w) == 4 && isAtoi(w):
		return "!YEAR"
	case w[0] >= '0' && w[0] <= '9':
		return "!DIGITS"
	}
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.ToLower(w)
		}
	}
	return w
}

// isAtoi reports whether strconv.Atoi accepts s: optional sign, then digits.
func isAtoi(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
