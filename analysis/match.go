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
// a whole-word gazetteer: phrases are sequences of folded words, indexed by
// their first word, so a post costs about one map lookup per word whatever
// the number of phrases, and "app" can never match inside "apple".
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
	first   map[string][]int32 // first folded word -> phrases starting with it

	hashtags  map[string][]target // hashtag key (folded, "_" removed) -> targets
	handles   map[string][]target // folded handle written as @alias in config -> targets
	brandKeys map[string][]int32  // brand name or alias, words concatenated -> brands
}

type topicInfo struct {
	name  string
	langs []string // primary language subtags, folded; empty: every language
}

type phrase struct {
	words   []string // folded; words[0] is the index key
	targets []target
}

type targetKind uint8

const (
	topicTerm targetKind = iota
	topicExclude
	brandName
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
		first:     map[string][]int32{},
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
		m.phrases = append(m.phrases, phrase{words: words})
		m.first[words[0]] = append(m.first[words[0]], id)
	}
	m.phrases[id].targets = addTarget(m.phrases[id].targets, tgt)
	joined := tagKey(strings.Join(words, ""))
	m.hashtags[joined] = addTarget(m.hashtags[joined], tgt)
	if tgt.kind == brandName && !slices.Contains(m.brandKeys[joined], tgt.idx) {
		m.brandKeys[joined] = append(m.brandKeys[joined], tgt.idx)
	}
	return nil
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
	words := make([]string, 0, len(tokens))
	var hits []target
	for _, t := range tokens {
		switch t.Kind {
		case Word, Number:
			words = append(words, t.Folded)
		case Hashtag:
			words = append(words, t.Folded)
			hits = append(hits, m.hashtags[tagKey(t.Folded)]...)
		case Mention:
			words = append(words, "") // matches no phrase word
			hits = m.matchHandle(hits, t.Folded)
		}
	}
	for i, w := range words {
		for _, id := range m.first[w] {
			p := &m.phrases[id]
			if len(p.words) <= len(words)-i && slices.Equal(p.words[1:], words[i+1:i+len(p.words)]) {
				hits = append(hits, p.targets...)
			}
		}
	}
	if len(hits) == 0 {
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

// primaryLang is the folded primary subtag of a BCP 47 tag ("en-GB" -> "en").
func primaryLang(tag string) string {
	tag = strings.TrimSpace(tag)
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	return strings.ToLower(tag)
}
