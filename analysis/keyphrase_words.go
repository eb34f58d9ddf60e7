package analysis

import (
	"math"
	"sort"
	"strings"
	"unicode/utf8"
)

// News is keyed in single words: KPCrowd's readers mark a story's people,
// places and plain nouns (74 % of its gold keys are one word, about 52 keys
// a story), while abstracts' authors choose noun phrases. Keyphrases sends
// texts that read like news (readsLikeNews) to a single-word ranker whose
// weights were learned on the development split of 500N-KPCrowd
// (TestKeyphraseWordWeights retrains them and checks these constants); every
// other text keeps the phrase ranker (rankKeyphrases). README's "Analysis
// quality" gives the figures, dev and held-out.

// keyGenre holds what readsLikeNews decides on.
type keyGenre struct {
	words     int     // word tokens
	names     float64 // share of words capitalised mid-sentence, outside headline-case sentences
	pastTense float64 // share of words tagged VBD
	meanLen   float64 // letters a word, on average
}

// readsLikeNews: plain words (abstracts average more letters a word), and
// either long or narrative, with names and past tense. The thresholds were
// chosen on the development split of both sets together: the most KPCrowd
// gained while Inspec's dev figure lost at most 0.003.
func readsLikeNews(g keyGenre) bool {
	if g.meanLen > 5.4 {
		return false
	}
	return g.words >= 300 || (g.words >= 100 && g.names >= 0.06 && g.pastTense >= 0.015)
}

// keyWordFeatures name the features of a word, in the order of
// keyWordWeights.
var keyWordFeatures = []string{"log(1+tf)", "idf", "log(1+tf)*idf", "1/(1+first sentence)",
	"first position/words", "share capitalised mid-sentence", "share of sentences", "in title",
	"share noun", "share proper noun", "share adjective", "share verb", "log(letters)"}

// keyWordWeights are a logistic regression's weights on keyWordFeatures
// (unstandardised, so that a word's score is their dot product; the
// intercept does not change a ranking), trained on the one-word gold keys
// of 500N-KPCrowd's development split.
var keyWordWeights = []float64{0.698536305582, 0.0289301364582, 0.0798423954082, 1.08098951945,
	0.0701596260919, 0.0783496028996, 2.20327286927, -0.507892950937, 0.858689357728, -0.546137752354,
	0.64699197495, 0.809001064812, 1.83612921246}

// keyWordMeanIDF stands in for a word's idf without a background: the
// training words' mean, so that idf then ranks nothing.
const keyWordMeanIDF = 3.4400944128

// keyWord is one distinct word (by KeyphraseKey) of a document.
type keyWord struct {
	shown               string // as first written, lower-cased
	key, stem           string
	tf, first, firstSen int
	names, title        int
	sentences           map[int]bool
	noun, proper, adj   int
	verb                int
}

// keyWordTokens tokenizes a document with its first line, the title in
// both evaluation sets and of most feed items, as a sentence of its own;
// the int is the number of title tokens.
func keyWordTokens(doc string) ([]Token, int) {
	title, body, ok := strings.Cut(doc, "\n")
	tt := Tokenize(Normalize(title))
	if !ok || strings.TrimSpace(body) == "" {
		return tt, len(tt)
	}
	return titledTokens(tt, Tokenize(Normalize(body))), len(tt)
}

// keyWordsOf returns the genre of tagged text and its candidate words:
// every word with a letter, of two letters or more, that is no stop or
// calendar word.
func keyWordsOf(tg []tagged, titleEnd int) (keyGenre, []*keyWord, int) {
	headline := titleCaseSentences(tg)
	byKey := map[string]*keyWord{}
	var order []*keyWord
	sentence, words, past, names, letters := -1, 0, 0, 0, 0
	for i, t := range tg {
		if t.start {
			sentence++
		}
		if t.Kind != Word {
			continue
		}
		words++
		letters += utf8.RuneCountInString(t.Text)
		mid := !t.start && capitalized(t.Text) && !headline[i]
		if mid {
			names++
		}
		if t.tag == "VBD" {
			past++
		}
		lw := strings.ToLower(t.Text)
		if !hasLetter(lw) || utf8.RuneCountInString(lw) < 2 || stopWords[lw] || calendarWords[lw] {
			continue
		}
		key := KeyphraseKey(lw)
		if key == "" || strings.Contains(key, " ") {
			continue
		}
		w := byKey[key]
		if w == nil {
			w = &keyWord{shown: lw, key: key, stem: Stem(lw), first: words - 1, firstSen: max(sentence, 0), sentences: map[int]bool{}}
			byKey[key] = w
			order = append(order, w)
		}
		w.tf++
		w.sentences[sentence] = true
		if mid {
			w.names++
		}
		if i < titleEnd {
			w.title = 1
		}
		switch {
		case isProperTag(t.tag):
			w.proper++
			w.noun++
		case isNounTag(t.tag):
			w.noun++
		case isAdjTag(t.tag):
			w.adj++
		case strings.HasPrefix(t.tag, "VB"):
			w.verb++
		}
	}
	g := keyGenre{words: words}
	if words > 0 {
		g.names = float64(names) / float64(words)
		g.pastTense = float64(past) / float64(words)
		g.meanLen = float64(letters) / float64(words)
	}
	return g, order, max(sentence+1, 1)
}

// features are w's values of keyWordFeatures in a document of the given
// words and sentences.
func (w *keyWord) features(words, sentences int, bg *KeyphraseBackground) []float64 {
	tf := float64(w.tf)
	idf := float64(keyWordMeanIDF)
	if bg != nil && bg.docs > 0 {
		idf = bg.idf(w.stem)
	}
	ltf := math.Log(1 + tf)
	return []float64{ltf, idf, ltf * idf, 1 / (1 + float64(w.firstSen)), float64(w.first) / float64(max(words, 1)),
		float64(w.names) / tf, float64(len(w.sentences)) / float64(sentences), float64(w.title),
		float64(w.noun) / tf, float64(w.proper) / tf, float64(w.adj) / tf, float64(w.verb) / tf,
		math.Log(float64(utf8.RuneCountInString(w.shown)))}
}

// rankKeyWords returns the n best-scored words, ties to the earlier word.
func rankKeyWords(words []*keyWord, total, sentences, n int, bg *KeyphraseBackground) []string {
	type scored struct {
		w     *keyWord
		score float64
	}
	l := make([]scored, 0, len(words))
	for _, w := range words {
		s := 0.0
		for j, x := range w.features(total, sentences, bg) {
			s += keyWordWeights[j] * x
		}
		l = append(l, scored{w, s})
	}
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].score != l[j].score {
			return l[i].score > l[j].score
		}
		return l[i].w.first < l[j].w.first
	})
	out := make([]string, 0, min(n, len(l)))
	for _, x := range l[:min(n, len(l))] {
		out = append(out, x.w.shown)
	}
	return out
}
