package analysis

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"unicode"
	"unicode/utf8"
)

// Near-duplicate keys: MinHash with LSH banding over word pairs (2-word
// shingles) of the start of a post's normalized title and text. A post gets
// NearDupBands keys; two posts are near-duplicates when enough of their keys
// are equal (NearDupMatch), which estimates the Jaccard similarity of their
// shingle sets. The store indexes the keys, so a lookup is an index probe
// however many posts it holds.
//
// Chosen by measurement on analysis/testdata/neardup (TestNearDupPairs): a
// 64-bit SimHash (one indexed word per post) needed 12 differing bits to
// reach a recall of 0.92 on short posts, a distance no 4×16-bit band index
// finds, while the Jaccard similarity of word pairs separates the labelled
// pairs almost perfectly (P 0.98, R 1.0 at 0.5); these keys estimate it at
// about 1 µs a post.
const (
	// NearDupBands is the number of keys per post; each is the hash of
	// nearDupRows minimum hashes, so it matches with probability J^2.
	NearDupBands = 16
	nearDupRows  = 2
	// DefaultNearDupThreshold is the similarity (estimated Jaccard of word
	// pairs) from which two posts are copies; chosen on the labelled pairs.
	DefaultNearDupThreshold = 0.5
	// nearDupMaxWords bounds the words read: a copy is decided by its lead,
	// so a feed's summary cut with "…" still matches the full article, and
	// the cost per post is bounded whatever its length.
	nearDupMaxWords = 64
	// nearDupMinWords: shorter posts get no keys and are never collapsed.
	// "I love Acme" written by two people is two voices, not a copy; below
	// this length equal words say more about the language than about copying.
	nearDupMinWords = 6
)

// NearDupKeys returns the near-duplicate keys of a post's normalized title
// and text (see Normalize): NearDupBands keys, or nil for text of fewer than
// nearDupMinWords words, which never matches. Words are case-folded letters and digits;
// @handles and the repost markers "RT" and "via" are skipped, so a repost
// that names its original's author keeps the original's shingles.
func NearDupKeys(title, text string) []uint64 {
	var h shingler
	for i := range h.mins {
		h.mins[i] = ^uint32(0)
	}
	h.add(title)
	if h.words < nearDupMaxWords {
		h.add(text)
	}
	if h.words < nearDupMinWords {
		return nil
	}
	keys := make([]uint64, NearDupBands)
	for b := range keys {
		k := uint64(b+1) * 0x9E3779B97F4A7C15
		for r := range nearDupRows {
			k = mix64(k ^ uint64(h.mins[b*nearDupRows+r]))
		}
		keys[b] = k
	}
	return keys
}

// NearDupMatch reports how many keys a and b share at the same position.
func NearDupMatch(a, b []uint64) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] == b[i] {
			n++
		}
	}
	return n
}

// NearDupMinBands is the number of shared keys at which two posts count as
// near-duplicates for a similarity threshold in (0, 1]: a key matches with
// probability J^2, so threshold² of the bands estimates J ≥ threshold.
func NearDupMinBands(threshold float64) int {
	m := int(math.Ceil(threshold*threshold*NearDupBands - 1e-9))
	return min(max(m, 1), NearDupBands)
}

// shingler reads words and keeps, for each of the MinHash functions, the
// minimum hash of the word pairs seen.
type shingler struct {
	mins  [NearDupBands * nearDupRows]uint32
	prev  uint64 // hash of the previous word
	words int
}

// add feeds the words of s.
func (h *shingler) add(s string) {
	for i := 0; i < len(s) && h.words < nearDupMaxWords; {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		switch {
		case r == '@':
			// A handle, or an address: skip it whole.
			i += size
			for i < len(s) {
				r, size := utf8.DecodeRuneInString(s[i:])
				if !isShingleRune(r) && r != '.' && r != '@' {
					break
				}
				i += size
			}
		case isIdeograph(r):
			// Scripts written without spaces: every character is a word.
			h.word(fnvRune(fnvOffset, unicode.ToLower(r)))
			i += size
		case isShingleRune(r):
			w := uint64(fnvOffset)
			start := i
			for i < len(s) {
				r, size := rune(s[i]), 1
				if r >= utf8.RuneSelf {
					r, size = utf8.DecodeRuneInString(s[i:])
				}
				if !isShingleRune(r) || isIdeograph(r) {
					break
				}
				w = fnvRune(w, unicode.ToLower(r))
				i += size
			}
			if !repostMarker(s[start:i]) {
				h.word(w)
			}
		default:
			i += size
		}
	}
}

// repostMarker reports the words a repost adds in front of or after the
// original ("RT @x:", "via @x"), compared without case.
func repostMarker(w string) bool {
	switch len(w) {
	case 2:
		return (w[0]|0x20) == 'r' && (w[1]|0x20) == 't'
	case 3:
		return (w[0]|0x20) == 'v' && (w[1]|0x20) == 'i' && (w[2]|0x20) == 'a'
	}
	return false
}

// word adds one word: the shingle it closes with the previous word.
func (h *shingler) word(w uint64) {
	h.words++
	if h.words > 1 {
		h.shingle(h.prev*0x9E3779B97F4A7C15 ^ w)
	}
	h.prev = w
}

// shingle updates the minimums with one shingle. The hash functions are
// multiply-shift hashes of the mixed shingle, one odd multiplier each.
func (h *shingler) shingle(x uint64) {
	x = mix64(x)
	m := &h.mins
	for i, a := range &minhashMul {
		m[i] = min(m[i], uint32((x*a)>>32)) // branch-free: the compiler emits a conditional move
	}
}

// minhashMul are the odd multipliers of the MinHash functions (SplitMix64
// outputs from a fixed seed, so keys are stable across versions: stored
// keys must stay comparable).
var minhashMul = func() (m [NearDupBands * nearDupRows]uint64) {
	x := uint64(0x6166666E69747964) // "affinityd"
	for i := range m {
		x += 0x9E3779B97F4A7C15
		m[i] = mix64(x) | 1
	}
	return m
}()

// fnvRune folds r into an FNV-1a hash (fnvOffset, fnvPrime: tagger.go), one
// byte per UTF-8 byte.
func fnvRune(h uint64, r rune) uint64 {
	if r < utf8.RuneSelf {
		return (h ^ uint64(r)) * fnvPrime
	}
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	for _, c := range buf[:n] {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// mix64 is SplitMix64's finalizer: every output bit depends on every input
// bit, so the multiply-shift MinHash functions see well-spread shingles.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}

// isShingleRune reports the runes of a word for the keys. It is not
// isWordRune (tokenize.go) and must not change: stored keys depend on it.
func isShingleRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r|0x20 && r|0x20 <= 'z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// isIdeograph reports the scripts written without spaces between words.
func isIdeograph(r rune) bool {
	return r >= 0x2E80 && (unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Thai, r))
}

// NearDupPair is one labelled pair of analysis/testdata/neardup/pairs.jsonl:
// two posts (title and text as one string, HTML allowed) and whether a
// person judged them copies of one post.
type NearDupPair struct {
	A         string `json:"a"`
	B         string `json:"b"`
	Duplicate bool   `json:"duplicate"`
	Why       string `json:"why"`
	From      string `json:"from"`
}

// ReadNearDupPairs reads JSON lines of NearDupPair; blank lines are skipped.
func ReadNearDupPairs(r io.Reader) ([]NearDupPair, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	var out []NearDupPair
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var p NearDupPair
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no pairs")
	}
	return out, nil
}

// NearDupScore is how NearDupKeys at one threshold agrees with the labels.
type NearDupScore struct {
	Pairs, Duplicates           int
	TruePos, FalsePos, FalseNeg int
	Precision, Recall, F1       float64
	Threshold                   float64
	MinBands                    int
}

// ScoreNearDup scores labelled pairs at threshold; each text is normalized
// as Analyze does.
func ScoreNearDup(pairs []NearDupPair, threshold float64) NearDupScore {
	s := NearDupScore{Pairs: len(pairs), Threshold: threshold, MinBands: NearDupMinBands(threshold)}
	for _, p := range pairs {
		got := NearDupMatch(NearDupKeys("", Normalize(p.A)), NearDupKeys("", Normalize(p.B))) >= s.MinBands
		if p.Duplicate {
			s.Duplicates++
		}
		switch {
		case got && p.Duplicate:
			s.TruePos++
		case got:
			s.FalsePos++
		case p.Duplicate:
			s.FalseNeg++
		}
	}
	if s.TruePos+s.FalsePos > 0 {
		s.Precision = float64(s.TruePos) / float64(s.TruePos+s.FalsePos)
	}
	if s.TruePos+s.FalseNeg > 0 {
		s.Recall = float64(s.TruePos) / float64(s.TruePos+s.FalseNeg)
	}
	if s.Precision+s.Recall > 0 {
		s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
	}
	return s
}
