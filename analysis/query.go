package analysis

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/affinityd/affinityd/config"
)

// Boolean topics. The terms of the topics' queries go into the Matcher's
// gazetteer like plain terms (whole words, phrases also as hashtags,
// @handles), each distinct term once, as a leaf target. Match records where
// each leaf occurs. A topic is evaluated only when the post holds one of its
// anchors: a set of its terms the query cannot match without (all of an OR's
// sides, the rarest side of an AND or NEAR, never a NOT's). Picking the side
// whose terms fewest topics share keeps a common word ("review") in many
// queries from making every one of them a candidate, so a post costs about
// what it mentions, not the number of topics. config.ParseQuery guarantees
// every query has anchors.

// queryNode is a compiled config.Query: leaves are indexes into
// Matcher.leaves.
type queryNode struct {
	op   config.QueryOp
	leaf int32
	dist int32
	args []queryNode
}

// queryLeaf is one distinct term of the topics' queries.
type queryLeaf struct {
	topics   int32   // how many query topics use it
	anchorOf []int32 // topics (into Matcher.topics) evaluated when it occurs
}

// leafHit is where a leaf occurs in a post: words [start, end) of the word
// sequence Match builds.
type leafHit struct {
	leaf       int32
	start, end int32
}

// maxNearSpans bounds the positions NEAR compares on each side, so a post
// repeating a term thousands of times costs no more than a normal one.
const maxNearSpans = 64

// addQuery compiles a query: every distinct term becomes one leaf, a target
// of its words in the gazetteer; seen holds the leaves this topic already uses.
func (m *Matcher) addQuery(ids map[string]int32, q *config.Query, seen map[int32]bool) (queryNode, error) {
	if q.Op == config.QueryTerm {
		key := strings.ToLower(q.Term)
		if q.Phrase {
			key = `"` + key + `"`
		}
		leaf, ok := m.leafIDs[key]
		if !ok {
			leaf = int32(len(m.leaves))
			if err := m.add(ids, q.Term, target{kind: queryTerm, idx: leaf}); err != nil {
				return queryNode{}, err
			}
			m.leaves = append(m.leaves, queryLeaf{})
			m.leafIDs[key] = leaf
		}
		if !seen[leaf] {
			seen[leaf] = true
			m.leaves[leaf].topics++
		}
		return queryNode{op: q.Op, leaf: leaf}, nil
	}
	n := queryNode{op: q.Op, dist: int32(q.Distance), args: make([]queryNode, len(q.Args))}
	for i, a := range q.Args {
		var err error
		if n.args[i], err = m.addQuery(ids, a, seen); err != nil {
			return queryNode{}, err
		}
	}
	return n, nil
}

// indexAnchors registers every query topic with its anchors, once all
// topics are compiled and it is known how many share each term.
func (m *Matcher) indexAnchors() {
	for id := range m.topics {
		if q := m.topics[id].query; q != nil {
			anchors, _ := m.anchors(q)
			for _, l := range slices.Compact(slices.Sorted(slices.Values(anchors))) {
				m.leaves[l].anchorOf = append(m.leaves[l].anchorOf, int32(id))
			}
		}
	}
}

// anchors returns terms n cannot hold without, and their cost (how many
// topics share them); ok is false for a NOT, which has none.
func (m *Matcher) anchors(n *queryNode) (leaves []int32, cost int) {
	switch n.op {
	case config.QueryTerm:
		return []int32{n.leaf}, int(m.leaves[n.leaf].topics)
	case config.QueryOr:
		for i := range n.args {
			l, c := m.anchors(&n.args[i])
			leaves, cost = append(leaves, l...), cost+c
		}
		return leaves, cost
	case config.QueryAnd, config.QueryNear:
		for i := range n.args {
			if l, c := m.anchors(&n.args[i]); l != nil && (leaves == nil || c < cost) {
				leaves, cost = l, c
			}
		}
		return leaves, cost
	}
	return nil, 0 // NOT
}

// takeLeaves moves the query-leaf targets of hits[from:] out of hits into
// *leaves, at n words from start, and returns the rest of hits. Without
// boolean topics it returns hits as they are.
func (m *Matcher) takeLeaves(hits []target, from int, leaves *[]leafHit, start, n int) []target {
	if len(m.leaves) == 0 {
		return hits
	}
	end := start + n
	kept := hits[:from]
	for _, h := range hits[from:] {
		if h.kind == queryTerm {
			*leaves = append(*leaves, leafHit{leaf: h.idx, start: int32(start), end: int32(end)})
		} else {
			kept = append(kept, h)
		}
	}
	return kept
}

// queryTopics appends to topicIDs the query topics whose query holds given
// the leaf hits of one post.
func (m *Matcher) queryTopics(topicIDs []int32, leaves []leafHit) []int32 {
	if len(leaves) == 0 {
		return topicIDs
	}
	slices.SortFunc(leaves, func(a, b leafHit) int {
		return cmp.Or(cmp.Compare(a.leaf, b.leaf), cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end))
	})
	leaves = slices.Compact(leaves)
	var candidates []int32
	for i, l := range leaves {
		if i == 0 || leaves[i-1].leaf != l.leaf {
			candidates = append(candidates, m.leaves[l.leaf].anchorOf...)
		}
	}
	slices.Sort(candidates)
	occ := occurrences(leaves)
	for _, id := range slices.Compact(candidates) {
		if m.topics[id].query.holds(occ) {
			topicIDs = append(topicIDs, id)
		}
	}
	return topicIDs
}

// occurrences returns where a leaf occurs, from hits sorted by leaf.
func occurrences(hits []leafHit) func(leaf int32) []leafHit {
	return func(leaf int32) []leafHit {
		i, _ := slices.BinarySearchFunc(hits, leaf, func(h leafHit, l int32) int { return cmp.Compare(h.leaf, l) })
		j := i
		for j < len(hits) && hits[j].leaf == leaf {
			j++
		}
		return hits[i:j]
	}
}

func (n *queryNode) holds(occ func(int32) []leafHit) bool {
	switch n.op {
	case config.QueryTerm:
		return len(occ(n.leaf)) > 0
	case config.QueryNot:
		return !n.args[0].holds(occ)
	case config.QueryAnd:
		for i := range n.args {
			if !n.args[i].holds(occ) {
				return false
			}
		}
		return true
	case config.QueryOr:
		for i := range n.args {
			if n.args[i].holds(occ) {
				return true
			}
		}
		return false
	default: // QueryNear
		return len(n.spans(occ)) > 0
	}
}

// spans returns where n matches, as word ranges (leaf field unused): a
// leaf's occurrences, an OR's union, a NEAR's pairs of sides at most dist
// words apart, in either order, each covered by one range.
func (n *queryNode) spans(occ func(int32) []leafHit) []leafHit {
	switch n.op {
	case config.QueryTerm:
		o := occ(n.leaf)
		return o[:min(len(o), maxNearSpans)]
	case config.QueryOr:
		var out []leafHit
		for i := range n.args {
			out = append(out, n.args[i].spans(occ)...)
		}
		return out[:min(len(out), maxNearSpans)]
	case config.QueryNear:
		left := n.args[0].spans(occ)
		if len(left) == 0 {
			return nil
		}
		right := n.args[1].spans(occ)
		var out []leafHit
		for _, a := range left {
			for _, b := range right {
				if a.start == b.start && a.end == b.end {
					continue // one occurrence is not near itself ("bank NEAR/2 bank")
				}
				// Words strictly between the two; overlapping sides are adjacent.
				if gap := max(a.start, b.start) - min(a.end, b.end); gap <= n.dist && len(out) < maxNearSpans {
					out = append(out, leafHit{start: min(a.start, b.start), end: max(a.end, b.end)})
				}
			}
		}
		return out
	}
	return nil // AND and NOT have no place; config rejects them under NEAR
}

// addTopicQuery compiles t's query, when it has one, into topic idx.
func (m *Matcher) addTopicQuery(ids map[string]int32, idx int32, t config.Topic) error {
	q := t.Expr
	if q == nil && t.Query == "" {
		return nil
	}
	if q == nil { // a config built in code rather than loaded
		var err error
		if q, err = config.ParseQuery(t.Query); err != nil {
			return err
		}
	}
	if m.leafIDs == nil {
		m.leafIDs = map[string]int32{}
	}
	n, err := m.addQuery(ids, q, map[int32]bool{})
	if err != nil {
		return err
	}
	m.topics[idx].query = &n
	return nil
}

// Probe runs one topic over texts, for `affinityd query`: whether the topic
// matches (through the same Matcher the daemon builds), where the terms that
// can make it match occur, and which of them occur. Not on the hot path.
type Probe struct {
	m     *Matcher
	terms []probeTerm
}

// probeTerm is a term compiled as Matcher.add compiles it.
type probeTerm struct {
	text   string
	words  []string // a phrase of folded words; nil for a lone hashtag or handle
	tag    string   // hashtag key it matches: its words run together, or the hashtag
	handle string   // a lone @handle term, folded
}

// probeBrand names the brand the probe's Matcher needs to exist; its matches
// are ignored.
const probeBrand = "affinityd probe"

// NewProbe compiles topic t (its terms and synonyms, or its query; its
// exclusions and languages).
func NewProbe(t config.Topic) (*Probe, error) {
	m, err := NewMatcher(&config.Config{
		Brand:         config.Brand{Name: probeBrand, Kind: "own"},
		Relationships: []config.Relationship{{Name: "probe", Topics: []config.Topic{t}}},
	})
	if err != nil {
		return nil, err
	}
	if t.Expr == nil && t.Query != "" {
		if t.Expr, err = config.ParseQuery(t.Query); err != nil {
			return nil, err
		}
	}
	p := &Probe{m: m}
	for _, term := range t.MatchTerms() {
		toks := Tokenize(Normalize(term))
		pt := probeTerm{text: term}
		switch {
		case len(toks) == 1 && toks[0].Kind == Hashtag:
			pt.tag = tagKey(toks[0].Folded)
		case len(toks) == 1 && toks[0].Kind == Mention:
			pt.handle = toks[0].Folded
		default:
			for _, tok := range toks {
				if tok.Kind == Word || tok.Kind == Number || tok.Kind == Hashtag {
					pt.words = append(pt.words, tok.Folded)
				}
			}
			pt.tag = tagKey(strings.Join(pt.words, ""))
		}
		p.terms = append(p.terms, pt)
	}
	return p, nil
}

// Terms are the terms that can make the topic match, as written.
func (p *Probe) Terms() []string {
	out := make([]string, len(p.terms))
	for i, t := range p.terms {
		out[i] = t.text
	}
	return out
}

// Span is a byte range [Start, End) of a text.
type Span struct{ Start, End int }

// ProbeResult is what a Probe found in one text.
type ProbeResult struct {
	Match bool   // the topic matches the text (its languages, exclusions and query included)
	Spans []Span // where its terms occur, in order, not overlapping
	Terms []int  // indexes into Terms() of the terms that occur, each once
	// Inside are the one-word terms that occur inside a longer word
	// ("ford" in "afford"), each once with the first such word.
	Inside []Fragment
}

// Fragment is a one-word term found inside a longer word.
type Fragment struct {
	Term int    // index into Terms()
	Word string // the longer word, folded
}

// Run probes a normalized text (see Normalize) in language lang.
func (p *Probe) Run(text, lang string) ProbeResult {
	toks := Tokenize(text)
	topics, _ := p.m.Match(toks, lang)
	res := ProbeResult{Match: len(topics) > 0}
	offs := tokenOffsets(text, toks)
	// words mirrors Match's word sequence; at maps a word to its token.
	var words []string
	var at []int
	for i, t := range toks {
		switch t.Kind {
		case Word, Number, Hashtag:
			words, at = append(words, t.Folded), append(at, i)
		case Mention:
			words, at = append(words, ""), append(at, i)
		}
	}
	seen := make([]bool, len(p.terms))
	for wi, w := range words {
		tok := toks[at[wi]]
		for ti, pt := range p.terms {
			n := 0
			switch {
			case tok.Kind == Hashtag && pt.tag != "" && tagKey(w) == pt.tag,
				tok.Kind == Mention && pt.handle != "" && (tok.Folded == pt.handle || strings.HasPrefix(tok.Folded, pt.handle+"@")):
				n = 1
			case len(pt.words) > 0 && len(pt.words) <= len(words)-wi && slices.Equal(pt.words, words[wi:wi+len(pt.words)]):
				n = len(pt.words)
			}
			if n == 0 {
				continue
			}
			if !seen[ti] {
				seen[ti] = true
				res.Terms = append(res.Terms, ti)
			}
			if s, e := offs[at[wi]].Start, offs[at[wi+n-1]].End; s >= 0 && e >= s {
				res.Spans = append(res.Spans, Span{s, e})
			}
		}
	}
	for _, t := range toks {
		if t.Kind != Word {
			continue
		}
		for ti, pt := range p.terms {
			if len(pt.words) == 1 && len(t.Folded) > len(pt.words[0]) && strings.Contains(t.Folded, pt.words[0]) &&
				!slices.ContainsFunc(res.Inside, func(f Fragment) bool { return f.Term == ti }) {
				res.Inside = append(res.Inside, Fragment{Term: ti, Word: t.Folded})
			}
		}
	}
	slices.Sort(res.Terms)
	res.Spans = mergeSpans(res.Spans)
	return res
}

// tokenOffsets finds each token in text, in order; {-1, -1} for a token
// whose text the tokenizer changed (curly quotes) and cannot be found.
func tokenOffsets(text string, toks []Token) []Span {
	out := make([]Span, len(toks))
	cur := 0
	for i, t := range toks {
		j := strings.Index(text[cur:], t.Text)
		if j < 0 {
			out[i] = Span{-1, -1}
			continue
		}
		s, e := cur+j, cur+j+len(t.Text)
		if t.Kind == Hashtag || t.Kind == Mention { // the marker is not in Text
			if r, n := utf8.DecodeLastRuneInString(text[:s]); r == '#' || r == '@' || r == '＃' || r == '＠' {
				s -= n
			}
		}
		out[i] = Span{s, e}
		cur = e
	}
	return out
}

// mergeSpans sorts spans and joins overlapping ones.
func mergeSpans(spans []Span) []Span {
	slices.SortFunc(spans, func(a, b Span) int { return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End)) })
	var out []Span
	for _, s := range spans {
		if n := len(out); n > 0 && s.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, s.End)
			continue
		}
		out = append(out, s)
	}
	return out
}
