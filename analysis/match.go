package analysis

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/affinityd/affinityd/config"
)

// HandleSuffixes are what a brand's handle may add to the brand's name and
// still be the brand: @acmebank, @acme_support and @acmeuk are Acme's.
// Kept short on purpose: every entry is a way for another account to match.
var HandleSuffixes = []string{
	"bank", "inc", "corp", "co", "hq", "app", "official", "support", "help",
	"news", "us", "uk", "de", "fr", "global",
}

// A Matcher finds the configured topics and brands in a post's tokens. It is
// a whole-word gazetteer: phrases are sequences of folded words in a trie of
// words, so a post costs one map lookup per word, and one more per word of a
// phrase that matches so far, whatever the number of phrases (see
// BenchmarkMatch), and "app" can never match inside "apple".
//
// Matching happens on words, so for scripts written without spaces (Chinese,
// Japanese, Thai) a phrase only matches where the text separates it by
// spaces or punctuation: "客户服务" matches "客户服务，很好" but not "客户服务很好".
// Accents are significant: "cafe" does not match "café".
//
// A Matcher is immutable once built and safe for concurrent use.
type Matcher struct {
	topics []topicInfo
	brands []string

	phrases []phrase
	// The phrases form a trie over word ids: vocab numbers the folded words
	// of all phrases, root[word] is the root's child for a word (0: none),
	// edges[node<<32|word] the child of any other node, and ends[node] the
	// phrase a node completes (-1: none).
	vocab map[string]int32
	root  []int32
	edges map[uint64]int32
	ends  []int32

	hashtags  map[string][]target // hashtag key (folded, "_" removed) -> targets
	handles   map[string][]target // folded handle written as @alias in config -> targets
	brandKeys map[string][]int32  // brand name or alias, words concatenated -> brands

	leaves  []queryLeaf      // terms of boolean topic queries (query.go)
	leafIDs map[string]int32 // query term -> leaf
}

type topicInfo struct {
	name  string
	langs []string   // primary language subtags, folded; empty: every language
	query *queryNode // a boolean topic's query; nil for a topic of terms
}

// phrase is what a phrase of the trie (ends) matches; its words are the trie's path.
type phrase struct {
	targets []target
}

type targetKind uint8

const (
	topicTerm targetKind = iota
	topicExclude
	brandName
	queryTerm // idx is into Matcher.leaves
)

type target struct {
	kind targetKind
	idx  int32 // into Matcher.topics or Matcher.brands
}

// NewMatcher compiles the topics (terms, synonyms, exclusions, languages)
// and brands (own first, then competitors; name and aliases) of cfg.
func NewMatcher(cfg *config.Config) (*Matcher, error) {
	if cfg == nil {
		return nil, errors.New("analysis: no config")
	}
	m := &Matcher{
		vocab:     map[string]int32{},
		edges:     map[uint64]int32{},
		ends:      []int32{-1},
		hashtags:  map[string][]target{},
		handles:   map[string][]target{},
		brandKeys: map[string][]int32{},
	}
	phraseIDs := map[string]int32{}
	for _, rel := range cfg.Relationships {
		for _, t := range rel.Topics {
			ti := topicInfo{name: t.Name}
			for _, l := range t.Languages {
				if p := primaryLang(l); p != "" {
					ti.langs = append(ti.langs, p)
				}
			}
			tgt := target{kind: topicTerm, idx: int32(len(m.topics))}
			m.topics = append(m.topics, ti)
			if err := m.addTopicQuery(phraseIDs, tgt.idx, t); err != nil {
				return nil, fmt.Errorf("analysis: topic %q: query: %w", t.Name, err)
			}
			for _, term := range slices.Concat(t.Terms, t.Synonyms) {
				if err := m.add(phraseIDs, term, tgt); err != nil {
					return nil, fmt.Errorf("analysis: topic %q: %w", t.Name, err)
				}
			}
			for _, ex := range t.Exclude {
				if err := m.add(phraseIDs, ex, target{kind: topicExclude, idx: tgt.idx}); err != nil {
					return nil, fmt.Errorf("analysis: topic %q: exclude: %w", t.Name, err)
				}
			}
		}
	}
	m.indexAnchors()
	for _, b := range cfg.Brands() {
		if strings.TrimSpace(b.Name) == "" {
			return nil, errors.New("analysis: brand without a name")
		}
		tgt := target{kind: brandName, idx: int32(len(m.brands))}
		m.brands = append(m.brands, b.Name)
		for _, name := range append([]string{b.Name}, b.Aliases...) {
			if err := m.add(phraseIDs, name, tgt); err != nil {
				return nil, fmt.Errorf("analysis: brand %q: %w", b.Name, err)
			}
		}
	}
	return m, nil
}

// add compiles one term. A term written as a single #hashtag or @handle
// matches exactly that hashtag or handle; any other term is a phrase of
// words, which also matches the hashtag of its words run together.
func (m *Matcher) add(ids map[string]int32, term string, tgt target) error {
	toks := Tokenize(Normalize(term))
	if len(toks) == 1 && toks[0].Kind == Hashtag {
		m.hashtags[tagKey(toks[0].Folded)] = addTarget(m.hashtags[tagKey(toks[0].Folded)], tgt)
		return nil
	}
	if len(toks) == 1 && toks[0].Kind == Mention {
		m.handles[toks[0].Folded] = addTarget(m.handles[toks[0].Folded], tgt)
		return nil
	}
	var words []string
	for _, t := range toks {
		if t.Kind == Word || t.Kind == Number || t.Kind == Hashtag {
			words = append(words, t.Folded)
		}
	}
	if len(words) == 0 {
		return fmt.Errorf("term %q has no words", term)
	}
	key := strings.Join(words, " ")
	id, ok := ids[key]
	if !ok {
		id = int32(len(m.phrases))
		ids[key] = id
		m.phrases = append(m.phrases, phrase{})
		node := int32(0)
		for _, w := range words {
			wid, ok := m.vocab[w]
			if !ok {
				wid = int32(len(m.vocab))
				m.vocab[w] = wid
				m.root = append(m.root, 0)
			}
			child := m.child(node, wid)
			if child == 0 {
				child = int32(len(m.ends))
				m.ends = append(m.ends, -1)
				if node == 0 {
					m.root[wid] = child
				} else {
					m.edges[uint64(node)<<32|uint64(wid)] = child
				}
			}
			node = child
		}
		m.ends[node] = id
	}
	m.phrases[id].targets = addTarget(m.phrases[id].targets, tgt)
	joined := tagKey(strings.Join(words, ""))
	m.hashtags[joined] = addTarget(m.hashtags[joined], tgt)
	if tgt.kind == brandName && !slices.Contains(m.brandKeys[joined], tgt.idx) {
		m.brandKeys[joined] = append(m.brandKeys[joined], tgt.idx)
	}
	return nil
}

// child is node's child for word id wid; 0 when there is none.
func (m *Matcher) child(node, wid int32) int32 {
	if node == 0 {
		return m.root[wid]
	}
	return m.edges[uint64(node)<<32|uint64(wid)]
}

func addTarget(ts []target, t target) []target {
	if slices.Contains(ts, t) {
		return ts
	}
	return append(ts, t)
}

// tagKey is how hashtags compare: folded, underscores out, so
// #CustomerService, #customerservice and #customer_service are one tag.
func tagKey(folded string) string {
	return strings.ReplaceAll(folded, "_", "")
}

// Match returns the topics and brands the tokens mention, each once, in
// config order. lang is the post's BCP 47 language ("" when unknown): a topic
// that lists languages does not match a post in another language.
// Punctuation between words is ignored ("customer-service", a line break);
// a mention breaks a phrase.
func (m *Matcher) Match(tokens []Token, lang string) (topics []string, brands []string) {
	words := make([]int32, 0, len(tokens)) // vocab ids; -1 for a word of no phrase
	var hits []target
	word := func(folded string) int32 {
		if id, ok := m.vocab[folded]; ok {
			return id
		}
		return -1
	}
	var leaves []leafHit // where terms of boolean topics occur (query.go)
	for _, t := range tokens {
		switch t.Kind {
		case Word, Number:
			words = append(words, word(t.Folded))
		case Hashtag:
			words = append(words, word(t.Folded))
			n := len(hits)
			hits = append(hits, m.hashtags[tagKey(t.Folded)]...)
			hits = m.takeLeaves(hits, n, &leaves, len(words)-1, 1)
		case Mention:
			words = append(words, -1) // a mention breaks a phrase
			n := len(hits)
			hits = m.matchHandle(hits, t.Folded)
			hits = m.takeLeaves(hits, n, &leaves, len(words)-1, 1)
		}
	}
	for at, ts := range m.phrasesIn(words) {
		n := len(hits)
		hits = append(hits, ts...)
		hits = m.takeLeaves(hits, n, &leaves, at.first, at.last-at.first+1)
	}
	if len(hits) == 0 && len(leaves) == 0 {
		return nil, nil
	}

	var topicIDs, excluded, brandIDs []int32
	for _, h := range hits {
		switch h.kind {
		case topicTerm:
			topicIDs = append(topicIDs, h.idx)
		case topicExclude:
			excluded = append(excluded, h.idx)
		case brandName:
			brandIDs = append(brandIDs, h.idx)
		}
	}
	topicIDs = m.queryTopics(topicIDs, leaves)
	slices.Sort(topicIDs)
	slices.Sort(brandIDs)
	postLang := primaryLang(lang)
	for _, id := range slices.Compact(topicIDs) {
		t := &m.topics[id]
		if slices.Contains(excluded, id) ||
			(postLang != "" && len(t.langs) > 0 && !slices.Contains(t.langs, postLang)) {
			continue
		}
		topics = append(topics, t.name)
	}
	for _, id := range slices.Compact(brandIDs) {
		brands = append(brands, m.brands[id])
	}
	return topics, brands
}

// phraseAt is the first and last index of a phrase's occurrence in words.
type phraseAt struct{ first, last int }

// phrasesIn yields every occurrence of a configured phrase in words (vocab
// ids, -1 for a word of no phrase) and the phrase's targets.
func (m *Matcher) phrasesIn(words []int32) func(yield func(phraseAt, []target) bool) {
	return func(yield func(phraseAt, []target) bool) {
		for i := range words {
			node := int32(0)
			for j := i; j < len(words) && words[j] >= 0; j++ {
				if node = m.child(node, words[j]); node == 0 {
					break
				}
				if id := m.ends[node]; id >= 0 && !yield(phraseAt{i, j}, m.phrases[id].targets) {
					return
				}
			}
		}
	}
}

// brandTokens marks the tokens that Match reads as a brand: the words of an
// occurrence of a brand's name or alias (with any punctuation between them,
// "Acme-Bank"), and brand hashtags and handles. Organisation extraction uses
// it so that no piece of a configured brand ("Bank" of "Acme Bank" when the
// sentence-initial "Acme" is not taken for a name) counts as unconfigured.
func (m *Matcher) brandTokens(tokens []Token) []bool {
	out := make([]bool, len(tokens))
	isBrand := func(ts []target) bool {
		return slices.ContainsFunc(ts, func(t target) bool { return t.kind == brandName })
	}
	var words, at []int32 // vocab ids (-1: in no phrase) and their token indices
	for i, t := range tokens {
		id := int32(-1)
		switch t.Kind {
		case Word, Number, Hashtag:
			if v, ok := m.vocab[t.Folded]; ok {
				id = v
			}
			if t.Kind == Hashtag && isBrand(m.hashtags[tagKey(t.Folded)]) {
				out[i] = true
			}
		case Mention:
			out[i] = isBrand(m.matchHandle(nil, t.Folded))
		default:
			continue
		}
		words, at = append(words, id), append(at, int32(i))
	}
	for sp, ts := range m.phrasesIn(words) {
		if isBrand(ts) {
			for k := at[sp.first]; k <= at[sp.last]; k++ {
				out[k] = true
			}
		}
	}
	return out
}

// matchHandle adds the targets of a mention: handles configured as @alias
// match exactly; otherwise a handle is a brand's when its account name (before
// any @instance or .domain) is the brand's name or alias run together, alone
// or followed by one of HandleSuffixes.
func (m *Matcher) matchHandle(hits []target, handle string) []target {
	hits = append(hits, m.handles[handle]...)
	local := handle
	if i := strings.IndexAny(local, "@."); i > 0 {
		local = local[:i]
	}
	if local != handle {
		hits = append(hits, m.handles[local]...)
	}
	local = tagKey(local)
	add := func(ids []int32) {
		for _, id := range ids {
			hits = append(hits, target{kind: brandName, idx: id})
		}
	}
	add(m.brandKeys[local])
	for _, suf := range HandleSuffixes {
		if len(local) > len(suf) && strings.HasSuffix(local, suf) {
			add(m.brandKeys[local[:len(local)-len(suf)]])
		}
	}
	return hits
}

// primaryLang is the folded primary subtag of a BCP 47 tag ("en-GB" -> "en");
// "" for "und" (undetermined), which says no more than no tag.
func primaryLang(tag string) string {
	tag = strings.TrimSpace(tag)
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	if tag = strings.ToLower(tag); tag == Undetermined {
		return ""
	}
	return tag
}
