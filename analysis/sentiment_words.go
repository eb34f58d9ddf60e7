package analysis

import "strings"

// ownWords are our own ratings, on the lexicon's -4..4 scale, for common
// words VADER's lexicon lacks, so a post using only them scored neutral:
// chat interjections and slang, and the words of product reviews. They are
// added only where the lexicon has no entry; the lexicon itself is
// govader's, unchanged. Words with a common neutral sense ("cheap" price,
// "bug" insect, "lemon" fruit, "lit"), or that go either way ("aww" is
// delight and sympathy), are left out on purpose.
var ownWords = map[string]float64{
	// excitement and affection
	"stoked": 2.4, "pumped": 2.0, "psyched": 2.1, "hyped": 1.6, "booyah": 2.2,
	"tysm": 2.6, "luv": 2.6, "yum": 2.3, "delish": 2.6, "tasty": 2.1,
	"bravo": 2.4, "awesomesauce": 2.8, "amazeballs": 2.8, "kickass": 2.3,
	"bestie": 1.8, "homie": 1.2, "favourite": 2.0, "faves": 1.8,
	// frustration and disgust
	"argh": -1.6, "urgh": -1.6, "ouch": -1.3, "yikes": -1.1, "dang": -0.9,
	"darn": -0.9, "fml": -2.6, "yawn": -0.9, "bleh": -1.2, "blergh": -1.2,
	"eww": -1.7, "ew": -1.5, "grr": -1.0, "oops": -0.8, "whoops": -0.8,
	"eek": -0.8, "hungover": -1.4, "hangover": -1.3, "headache": -1.5,
	"migraine": -1.9, "gutted": -2.3, "bleak": -1.8, "ftl": -1.5,
	"chores": -0.7, "stormy": -0.9, "imposter": -1.5,
	// product talk
	"flimsy": -1.9, "overpriced": -1.8, "junk": -2.3, "garbage": -2.3,
	"rubbish": -2.1, "unreliable": -1.9, "glitchy": -1.6, "buggy": -1.6,
	"laggy": -1.5, "clunky": -1.4, "shoddy": -2.2, "subpar": -1.8,
	"mediocre": -1.3, "tinny": -1.0, "muffled": -0.9, "grainy": -1.0,
	"pricey": -0.7, "unusable": -2.2, "unresponsive": -1.6, "malfunction": -1.9,
	"malfunctions": -1.9, "overheats": -1.6, "bulky": -0.8, "outdated": -1.0,
	"unintuitive": -1.6, "cumbersome": -1.4, "finicky": -1.2, "flaky": -1.3,
	"hassle": -1.5, "nuisance": -1.6, "drawback": -1.2, "drawbacks": -1.2,
	"glitch": -1.5, "glitches": -1.5, "flaw": -1.6, "flaws": -1.6, "poorly": -1.8,
	"sturdy": 1.7, "durable": 1.7, "reliable": 1.8, "intuitive": 1.6,
	"seamless": 1.5, "handy": 1.5, "comfy": 2.0, "sleek": 1.7, "decent": 1.2,
	"snappy": 1.3, "crisp": 1.2, "smooth": 1.2, "convenient": 1.6,
	"affordable": 1.4, "inexpensive": 1.0, "versatile": 1.6, "well-made": 2.0,
	"top-notch": 2.6, "gem": 2.0, "must-have": 2.0, "rip-off": -2.2, "ripoff": -2.2,
}

// moreEmoticons are our ratings for emoticons the lexicon lacks: the
// eastern ones read upright ("^_^" joy, "-_-" annoyance, "T_T" tears) and
// "8-)" cool. Looked up as written, like ownEmoticons.
var moreEmoticons = map[string]float64{
	"^_^": 2.0, "^^": 1.8, "^.^": 2.0, "^-^": 2.0, "n_n": 1.8,
	"-_-": -1.2, "-.-": -1.2, "-__-": -1.2, ">_<": -1.3,
	"T_T": -2.0, "T.T": -2.0, "T-T": -2.0, ";_;": -2.0, "Q_Q": -2.0, "8-)": 1.5,
}

// ownPhrase is a set phrase with our rating of the whole.
type ownPhrase struct {
	words []string // lower case, as tokenized: "give 'em hell" is give, em, hell
	value float64
}

// ownPhraseList are set phrases whose words, rated one by one, say the
// opposite or nothing: "can't wait" is eagerness, not a negation; "killed
// it" is praise; "blown away", "hell yeah", "couldn't be happier" praise,
// "fed up", "what a joke", "out of control" and "stopped working" complain.
// Ratings are ours, on the -4..4 scale.
var ownPhraseList = func() []ownPhrase {
	var l []ownPhrase
	for _, g := range []struct {
		v       float64
		phrases string
	}{
		{2.0, "can't wait|cant wait|cannot wait|can not wait|thumbs up"},
		{2.5, "killed it|killing it|kills it|nailed it|hell yeah|hell yes|hell ya|heck yeah"},
		{2.8, "second to none|blown away"},
		{3.0, "over the moon|couldn't be happier|could not be happier|couldn't be better|could not be better|shut up and take my money"},
		{1.5, "dying to|give em hell|bang for the buck|bang for your buck"},
		{1.2, "fingers crossed"},
		{-2.0, "fed up|what a joke|falls apart|fell apart|falling apart|thumbs down|stopped working|quit working"},
		{-1.5, "out of control"},
		{-2.2, "rip off|ripped off"},
	} {
		for p := range strings.SplitSeq(g.phrases, "|") {
			l = append(l, ownPhrase{words: strings.Fields(p), value: g.v})
		}
	}
	return l
}()
