package analysis

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TermSep separates a term's key from its display form in
// affinity.Analysis.Terms ("custom servic|customer service"). The key (Porter
// stems of the lower-cased words, or "#" and the folded hashtag) is what
// counts merge on, so "refund" and "refunds" are one term; the display form is
// what a person reads. Both travel in one string because Analysis carries
// terms as []string and the store, which must not import analysis, cannot
// stem: it splits at the first TermSep (no term contains one: "|" is
// punctuation and never inside a token) and keeps the display form most
// posts used.
const TermSep = "|"

// MaxTermsPerPost bounds the terms kept of one post, so a long article costs
// the store a bounded number of rows. The most frequent, then the earliest,
// are kept.
const MaxTermsPerPost = 40

// maxTermWords is the longest candidate phrase; longer noun runs keep their
// last words (English noun phrases are head-final: "new mobile banking app").
const maxTermWords = 4

// tagged is one of our tokens with its Penn Treebank tag ("" when the
// tagger model could not be loaded) and whether it opens a sentence.
type tagged struct {
	Token
	tag   string
	start bool
}

// tagTokens POS-tags our tokens with prose's model (see posTagger), the whole
// text as one sequence as prose does with segmentation off. Hashtags are
// tagged as their word (as a hashtag prose would call it a noun whatever the
// word), mentions with their "@". Sentence starts are read from the
// punctuation tokens, at no cost.
func tagTokens(toks []Token) []tagged {
	out := make([]tagged, len(toks))
	words := make([]string, len(toks))
	pending := true // the next word opens a sentence
	for i, t := range toks {
		out[i] = tagged{Token: t, start: pending}
		switch {
		case t.Kind == Punct && sentenceEnds[t.Text]:
			pending = true
		case t.Kind == Punct && quotes[t.Text]:
			// A quote or bracket after a full stop: the sentence starts behind it.
		default:
			pending = false
		}
		words[i] = t.Text
		if t.Kind == Mention {
			words[i] = "@" + t.Text
		}
	}
	tg, err := defaultTagger()
	if err != nil {
		return out
	}
	tags := make([]uint8, len(words))
	tg.tagWords(words, tags)
	for i, c := range tags {
		out[i].tag = tg.classes[c]
	}
	return out
}

var (
	sentenceEnds = setOf(`. ! ? … :`)
	quotes       = setOf("\" ' ( ) « » [ ]")
)

func isNounTag(tag string) bool { return strings.HasPrefix(tag, "NN") }

func isAdjTag(tag string) bool { return strings.HasPrefix(tag, "JJ") }

func isProperTag(tag string) bool { return tag == "NNP" || tag == "NNPS" }

// candidate is a noun phrase found in a text.
type candidate struct {
	words []string // lower-cased surface words
	key   string   // stems joined by spaces
	first int      // token index of its first word
}

func (c candidate) display() string { return strings.Join(c.words, " ") }

// phraseRules are how nounPhrases cuts candidates: per post (postTerms) or
// for keyphrases (keyCandidates).
type phraseRules struct {
	maxWords int               // a longer sequence keeps its last maxWords words
	noise    func(string) bool // lower-cased words that end a phrase beyond stopWords, except in a name; nil: none
	adjAfter bool              // an adjective after a noun continues the phrase instead of starting one
	generic  bool              // leading genericAdjectives are cut
}

// nounPhrases returns the candidates of tagged text: maximal sequences of
// adjectives followed by nouns (JJ* NN+, or {JJ,NN}+ ending in a noun with
// adjAfter), cut at stop words, numbers, mentions, hashtags and punctuation,
// except a hyphen inside a compound ("peak-to-peak" stays cut at "to",
// "customer-service" joins).
func nounPhrases(tg []tagged, r phraseRules) []candidate {
	var out []candidate
	var words []string
	var tags []string
	var idx []int
	flush := func() {
		// Cut trailing adjectives: a phrase ends in a noun.
		for len(tags) > 0 && !isNounTag(tags[len(tags)-1]) {
			words, tags, idx = words[:len(words)-1], tags[:len(tags)-1], idx[:len(idx)-1]
		}
		for r.generic && len(words) > 1 && genericAdjectives[words[0]] {
			words, tags, idx = words[1:], tags[1:], idx[1:]
		}
		if len(words) > 0 {
			if len(words) > r.maxWords {
				words, idx = words[len(words)-r.maxWords:], idx[len(idx)-r.maxWords:]
			}
			stems := make([]string, len(words))
			for i, w := range words {
				stems[i] = Stem(w)
			}
			out = append(out, candidate{words: slices.Clone(words), key: strings.Join(stems, " "), first: idx[0]})
		}
		words, tags, idx = words[:0], tags[:0], idx[:0]
	}
	for i, t := range tg {
		if t.Kind == Punct && t.Text == "-" && len(words) > 0 && i+1 < len(tg) && tg[i+1].Kind == Word {
			continue // a hyphen inside a compound does not break it
		}
		lw := strings.ToLower(t.Text)
		// A capitalized proper noun inside a sentence is a name, so the noise
		// list does not cut it ("New York", "Good Energy"); function words do.
		name := isProperTag(t.tag) && !t.start && capitalized(t.Text)
		ok := t.Kind == Word && (isNounTag(t.tag) || isAdjTag(t.tag)) && hasLetter(lw) &&
			utf8.RuneCountInString(lw) > 1 && !stopWords[lw] && !calendarWords[lw] && (name || r.noise == nil || !r.noise(lw))
		if !ok {
			flush()
			continue
		}
		// An adjective after a noun starts a new phrase: "service great app".
		if !r.adjAfter && isAdjTag(t.tag) && len(tags) > 0 && isNounTag(tags[len(tags)-1]) {
			flush()
		}
		words, tags, idx = append(words, lw), append(tags, t.tag), append(idx, i)
	}
	flush()
	return out
}

func hasLetter(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// ExtractTerms finds the terms and organisation candidates of a normalized
// English text (see Normalize), tagging it with prose's model loaded once.
//
// Terms are noun phrases (JJ* NN+, up to four words, stop words, numbers,
// handles and URLs out) and hashtags, each once, as "key|display" (see
// TermSep), the display form being the post's most frequent surface form,
// lower-cased (hashtags keep their case: #CustomerService reads better). At
// most MaxTermsPerPost are kept, most frequent first.
//
// Organisations are proper-noun runs (NNP/NNPS, each word capitalized, up to
// four words) as written, each once. This is a heuristic, not NER, and says
// so in what it misses and what it lets through:
//   - the tagger marks every capitalized word NNP, so a sentence-initial word
//     is dropped from a run unless it is capitalized elsewhere in the text
//     mid-sentence or has inner capitals (PayPal, IBM): "Great service" gives
//     nothing, "Globex said" at a sentence start is missed too;
//   - sentences in Title Case or ALL CAPS (most of their words capitalized)
//     give no organisations: every word would look like a name;
//   - people and places (Tim Cook, New York) come through as well: prose's
//     NER would not help, it calls Apple a PERSON, and it costs seven times the
//     tagging, so it stays off this hot path; counts across posts, not single
//     posts, make the list useful;
//   - weekdays, months and stop words are never organisations; hashtags are
//     terms, not organisations (#CustomerService is a topic, not a company).
//
// Configured brands are not known here: the Analyzer removes them.
func ExtractTerms(text string) (terms []string, orgs []string) {
	toks := Tokenize(text)
	if len(toks) == 0 {
		return nil, nil
	}
	tg := tagTokens(toks)
	return collectTerms(tg, true), organisations(tg, nil)
}

// titledTokens joins a title's tokens and a text's with a full stop between
// them (none without a title), so that the text starts a sentence of its own.
func titledTokens(title, text []Token) []Token {
	toks := make([]Token, 0, len(title)+1+len(text))
	if len(title) > 0 {
		toks = append(append(toks, title...), Token{Text: ".", Folded: ".", Kind: Punct})
	}
	return append(toks, text...)
}

// postTerms extracts the terms and organisations of a post's title and text
// tokens for the Analyzer. Title and text are tagged as one sequence with a
// full stop between them, so the text starts a sentence.
// Organisations that are configured brands (name or alias, anywhere in the
// name: "Acme Bank UK" is Acme) or topic terms ("Open Banking" capitalized)
// are dropped, and so are the pieces of a brand: a proper-noun run that holds
// a word the matcher read as a brand's name or alias is dropped whole, so a
// sentence-initial "Acme Bank" does not leave "Bank" behind. prose's tagger
// knows English only: a post whose language is known and not English keeps
// its hashtags as terms and gives no organisations, rather than the tagger's
// guesses.
func (a *Analyzer) postTerms(title, text []Token, lang string) (terms, orgs []string) {
	toks := titledTokens(title, text)
	if l := primaryLang(lang); l != "" && l != "en" {
		return hashtagTerms(toks), nil
	}
	tg := tagTokens(toks)
	for _, t := range collectTerms(tg, true) {
		// A term that is a brand's name or alias is counted by share of
		// voice already; as a term it would top every topic it is in.
		_, display, _ := strings.Cut(t, TermSep)
		if !a.isBrandName(display) {
			terms = append(terms, t)
		}
	}
	for _, org := range organisations(tg, a.matcher.brandTokens(toks)) {
		if topics, brands := a.matcher.Match(Tokenize(org), ""); len(topics) == 0 && len(brands) == 0 {
			orgs = append(orgs, org)
		}
	}
	return terms, orgs
}

// isBrandName reports whether the words of s, run together, are a
// configured brand's name or alias ("acme bank", "#AcmeBank").
func (a *Analyzer) isBrandName(s string) bool {
	var b strings.Builder
	for _, t := range Tokenize(s) {
		if t.Kind == Word || t.Kind == Number || t.Kind == Hashtag {
			b.WriteString(t.Folded)
		}
	}
	return len(a.matcher.brandKeys[tagKey(b.String())]) > 0
}

// hashtagTerms returns the hashtag terms of tokens without tagging them: what
// the Analyzer keeps of posts in languages the English tagger cannot read.
func hashtagTerms(toks []Token) []string {
	tg := make([]tagged, len(toks))
	for i, t := range toks {
		tg[i] = tagged{Token: t}
	}
	return collectTerms(tg, false)
}

// collectTerms counts the hashtags and (when phrases is set) noun phrases of
// tg by key and returns them as "key|display", most frequent first.
func collectTerms(tg []tagged, phrases bool) []string {
	type agg struct {
		n, first int
		forms    map[string]int
		order    []string // forms in order of appearance, for deterministic ties
	}
	byKey := map[string]*agg{}
	var keys []string
	add := func(key, display string, pos int) {
		a := byKey[key]
		if a == nil {
			a = &agg{first: pos, forms: map[string]int{}}
			byKey[key] = a
			keys = append(keys, key)
		}
		a.n++
		if a.forms[display] == 0 {
			a.order = append(a.order, display)
		}
		a.forms[display]++
	}
	for i, t := range tg {
		if t.Kind == Hashtag {
			add("#"+tagKey(t.Folded), "#"+t.Text, i)
		}
	}
	if phrases {
		for _, c := range nounPhrases(tg, phraseRules{maxWords: maxTermWords, noise: isTermStopWord}) {
			add(c.key, c.display(), c.first)
		}
	}
	slices.SortStableFunc(keys, func(x, y string) int {
		if d := byKey[y].n - byKey[x].n; d != 0 {
			return d
		}
		return byKey[x].first - byKey[y].first
	})
	if len(keys) > MaxTermsPerPost {
		keys = keys[:MaxTermsPerPost]
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		a := byKey[k]
		best := a.order[0]
		for _, f := range a.order[1:] {
			if a.forms[f] > a.forms[best] {
				best = f
			}
		}
		out = append(out, k+TermSep+best)
	}
	return out
}

// organisations returns the proper-noun runs of tg that pass the heuristic
// documented on ExtractTerms, each once (case-insensitively), as written.
// brand (nil, or one entry per token of tg) marks the words of configured
// brands: such a word belongs to any run next to it, whatever its tag or
// place, and the run is dropped whole.
func organisations(tg []tagged, brand []bool) []string {
	// Words capitalized somewhere mid-sentence: a sentence-initial word seen
	// so is a name, not just a capital after a full stop.
	midCap := map[string]bool{}
	titleCase := titleCaseSentences(tg)
	for i, t := range tg {
		if t.Kind == Word && !t.start && capitalized(t.Text) && !titleCase[i] {
			midCap[t.Text] = true
		}
	}
	var out []string
	seen := map[string]bool{}
	var run []string
	inBrand := false // the run holds a brand's word
	flush := func() {
		if inBrand {
			run, inBrand = run[:0], false
			return
		}
		// Stop words at the edges are not part of a name ("The Acme").
		for len(run) > 0 && isOrgStopWord(strings.ToLower(run[0])) {
			run = run[1:]
		}
		for len(run) > 0 && isOrgStopWord(strings.ToLower(run[len(run)-1])) {
			run = run[:len(run)-1]
		}
		if len(run) > 0 && len(run) <= maxTermWords {
			name := strings.Join(run, " ")
			if k := strings.ToLower(name); !seen[k] && utf8.RuneCountInString(name) > 1 {
				seen[k] = true
				out = append(out, name)
			}
		}
		run = run[:0]
	}
	for i, t := range tg {
		if brand != nil && brand[i] && t.Kind != Hashtag && t.Kind != Mention {
			inBrand = true // "Acme Bank", "Acme-Bank": its pieces name nothing else
			continue
		}
		ok := t.Kind == Word && isProperTag(t.tag) && capitalized(t.Text) && !titleCase[i] &&
			!calendarWords[strings.ToLower(t.Text)] && !orgNoise[strings.ToLower(t.Text)]
		if ok && t.start && !midCap[t.Text] && !innerCaps(t.Text) {
			ok = false // "Great", "Thanks" at a sentence start
		}
		if !ok {
			flush()
			continue
		}
		run = append(run, t.Text)
	}
	flush()
	return out
}

// titleCaseSentences marks the tokens of sentences with at least four words
// of which at least 70 % are capitalized: headlines and shouting.
func titleCaseSentences(tg []tagged) []bool {
	out := make([]bool, len(tg))
	for from := 0; from < len(tg); {
		to := from + 1
		for to < len(tg) && !tg[to].start {
			to++
		}
		words, caps := 0, 0
		for _, t := range tg[from:to] {
			if t.Kind == Word && hasLetter(t.Text) {
				words++
				if capitalized(t.Text) {
					caps++
				}
			}
		}
		if words >= 4 && caps*10 >= words*7 {
			for i := from; i < to; i++ {
				out[i] = true
			}
		}
		from = to
	}
	return out
}

func capitalized(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsUpper(r)
}

// innerCaps reports a capital after the first letter (PayPal, IBM, eBay):
// such a word is a name wherever it stands.
func innerCaps(s string) bool {
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			return true
		}
	}
	return false
}

var calendarWords = setOf(`monday tuesday wednesday thursday friday saturday sunday
january february march april may june july august september october november december
mon tue tues wed thu thurs fri sat sun jan feb mar apr jun jul aug sep sept oct nov dec
today tomorrow yesterday christmas easter`)

// orgNoise are capitalized words and acronyms that are common in posts but
// name no organisation.
var orgNoise = setOf(`api app apps faq ceo cto cfo coo vp hr it pr usa uk eu us un ai ml pdf url ios ui ux sms
atm pin id diy tv pc gps lol omg wtf btw fyi imo imho tl dr asap ok thanks thank dear hi hello hey edit update
breaking ps rip`)

func setOf(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// stopWords are function words and the like: never part of a term.
var stopWords = setOf(`a about above after again against all almost also although always am among an and
another any anybody anyone anything anyway anywhere are around as at be became because become been before
being below between both but by can cannot could did do does doing done down during each either else
enough etc even ever every everybody everyone everything everywhere few for from further get gets got had
has have having he her here hers herself him himself his how however i if in into is it its itself just
least less like many may me might mine more most much must my myself neither never no nobody none nor not
nothing now nowhere of off often on once one only onto or other others otherwise our ours ourselves out
over own per perhaps please quite rather really same several shall she should since so some somebody
someone something sometimes somewhere still such than that the their theirs them themselves then there
these they thing things this those though through thus to together too toward towards under until up upon
us very via was we well were what whatever when whenever where whereas wherever whether which while who
whoever whom whose why will with within without would yet you your yours yourself yourselves
i'm i've i'd i'll you're you've you'd you'll he's she's it's we're we've they're they've that's there's
don't doesn't didn't can't couldn't won't wouldn't isn't aren't wasn't weren't haven't hasn't hadn't
shouldn't 's n't 're 've 'd 'll 'm`)

// termNoise are words the tagger calls nouns or adjectives that make no term
// in social posts: evaluations, time words, chat filler. They end phrases, so
// "great customer service" gives "customer service".
var termNoise = setOf(`new good great bad best better worse worst big small little old nice awesome amazing
terrible horrible huge lot lots kind sort way ways time times day days week weeks month months year years
today tomorrow yesterday tonight morning evening night lol omg wtf btw imo imho thanks thank thx pls plz
yes yeah yep nope ok okay hey hi hello guys people everyone anyone someone folks stuff whole entire real
sure able first last next previous latest recent same different own various certain main other such`)

// isTermStopWord reports words that end a social-media term.
func isTermStopWord(w string) bool { return stopWords[w] || termNoise[w] }

// isOrgStopWord reports words that are never (the edge of) an organisation name.
func isOrgStopWord(w string) bool { return stopWords[w] || calendarWords[w] }
