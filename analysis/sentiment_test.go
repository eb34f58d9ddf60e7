package analysis

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
)

func TestSentimentScore(t *testing.T) {
	s := DefaultSentiment()
	// Cases a reader of the dashboard would notice; the comparisons are the
	// point, exact values are pinned only where the rule is arithmetic.
	tests := []struct {
		name string
		text string
		sign int // -1, 0, +1 against the ±0.05 cut-offs
	}{
		{"positive word", "good", 1},
		{"negated", "not good", -1},
		{"negated contraction", "the app isn't good", -1},
		{"curly apostrophe negation", "the app isn’t good", -1},
		{"negation two words back", "not very good", -1},
		{"no as negation", "no good", -1},
		{"repeated no stays negative", "NO NO NO NO", -1},
		{"but shifts weight", "good but terrible", -1},
		{"but shifts weight back", "terrible but good", 1},
		{"angry emoji", "😡", -1},
		{"smiling emoji", "🙂", 1},
		{"emoji glued to a word", "service today😡😡", -1},
		{"thumbs down", "new update 👎", -1},
		{"emoticon", ":)", 1},
		{"sad emoticon", "the delivery :(", -1},
		{"short word with punctuation", "ok.", 1},
		{"elongated", "sooo goooood", 1},
		{"negated purchase", "do not buy this phone", -1},
		{"negated working", "the app doesn't work", -1},
		{"working alone is neutral", "the app works on Android", 0},
		{"neutral", "The bank opens a new branch in Leeds on Monday.", 0},
		{"empty", "", 0},
		{"only punctuation", "!!! ???", 0},
		{"negation stops at the clause", "I don't know. Good support", 1},
		{"negation stops at a clause ended by two dots", "no idea.. sexy perhaps", 1},
		{"dismay emoticon keeps its case", "I forgot it on the table D: D:", -1},
		{"emoticon is not negated", "Nope :-)", 1},
		{"no ending its sentence is dismay, not a negator", "Oh no. Escape when you can", -1},
		{"bare exclamation is mild enthusiasm", "Got the new laptop!", 1},
		{"bare question stays neutral", "Got the new laptop?", 0},
		{"negator reaches only the first sentiment word", "canon never fails to amaze", 1},
		{"cannot recommend enough", "i cannot recommend it enough", 1},
		{"can't praise highly enough", "can't praise it highly enough", 1},
		{"inflection missing from the lexicon", "the blazing crappiness of this player", -1},
		{"tech support names a department", "tech support from apex is nonexistent", 0},
		{"laughter is not negated", "no way lol", 1},
		{"a question exclaimed still asserts", "what the hell?!", -1},
		{"support still praises", "thanks for the support", 1},
		// Our own words, emoticons and phrases, for what the lexicon lacks.
		{"slang the lexicon lacks", "so stoked for tonight", 1},
		{"interjection the lexicon lacks", "argh. the train again", -1},
		{"product complaint the lexicon lacks", "the hinge feels flimsy", -1},
		{"product praise the lexicon lacks", "sturdy and reliable", 1},
		{"own word elongated", "stoooked", 1},
		{"own word negated", "not reliable at all", -1},
		{"eastern smile", "finally home ^_^", 1},
		{"eastern annoyance", "meeting moved again -_-", -1},
		{"eastern tears", "T_T", -1},
		{"can't wait is eagerness", "can't wait for the weekend", 1},
		{"can't of can't wait negates nothing after it", "cant wait for good news", 1},
		{"killed it is praise", "you killed it tonight", 1},
		{"couldn't be happier", "I couldn't be happier with the new card", 1},
		{"fed up complains", "fed up with this app", -1},
		{"a phrase can be negated", "I am not fed up", 1},
		{"rip-off", "what a rip-off", -1},
		{"out of control complains", "prices are out of control", -1},
		{"thumbs down", "thumbs down on that one", -1},
		{"stopped working complains", "the card reader stopped working", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Score(tt.text)
			sign := 0
			if got > 0.05 {
				sign = 1
			} else if got < -0.05 {
				sign = -1
			}
			if sign != tt.sign || got < -1 || got > 1 {
				t.Errorf("Score(%q) = %.3f, want sign %d\n%s", tt.text, got, tt.sign, s.Explain(tt.text))
			}
		})
	}
}

// TestSentimentServiceNames: "help" and "support" naming a service (a help
// desk, a support hotline) are not praise, so a complaint about one does not
// score positive on the topic's own words; thanks for help still does.
func TestSentimentServiceNames(t *testing.T) {
	s := DefaultSentiment()
	tests := []struct {
		name     string
		text     string
		positive bool // want > 0.05; otherwise want < 0.05 (negative or neutral)
	}{
		{"help desk never called back", "Customer support at Globex kept me on hold for an hour. Help desk never called back.", false},
		{"help desk is a bot", "Hooli Pay help desk is a bot that loops forever. Customer support should have humans.", false},
		{"support hotline closed", "The Acme support hotline was closed on Sunday. Customer service should be 24/7.", false},
		{"helpdesk in one word", "The helpdesk closed my ticket without an answer.", false},
		{"helpline", "Rang the helpline three times, nobody picked up.", false},
		{"help line", "The help line was busy all morning.", false},
		{"support team at the end of a sentence", "Still waiting on the support team.", false},
		{"support center", "The support centre sends me in circles.", false},
		{"support ticket", "Opened a support ticket last week and heard nothing.", false},
		{"customer care", "Customer care put me on hold again.", false},
		{"IT support", "IT support rebooted it and left.", false},
		{"technical support", "Technical support told me to reinstall, again.", false},
		{"support line is useless", "The support line is useless.", false},
		{"the support was great", "the support was great", true},
		{"thanks for the help", "thanks for the help", true},
		{"thanks for the support", "thanks for the support", true},
		{"a help desk that helped", "The help desk was great, sorted in five minutes.", true},
		{"it as a pronoun still supports", "it does support Android, which is good", true},
		{"help before a clause end", "Thanks for the help. Line moved fast", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Score(tt.text)
			if tt.positive && got <= 0.05 || !tt.positive && got >= 0.05 {
				t.Errorf("Score(%q) = %.3f, want positive %v\n%s", tt.text, got, tt.positive, s.Explain(tt.text))
			}
		})
	}
	// The service's name alone says nothing.
	for _, name := range []string{"help desk", "support hotline", "support team", "customer care", "IT support", "tech support"} {
		if got := s.Score(name); got != 0 {
			t.Errorf("Score(%q) = %.3f, want 0\n%s", name, got, s.Explain(name))
		}
	}
}

func TestSentimentOrdering(t *testing.T) {
	s := DefaultSentiment()
	less := [][2]string{
		{"good", "GOOD!!!"},                            // exclamation and caps emphasis
		{"good", "very good"},                          // booster
		{"slightly good", "good"},                      // dampener
		{"The service is good", "The service is GOOD"}, // caps among lower case
		{"good", "good!"},
		{"bad!", "bad"},
		{"terrible", "not good"},                 // negation keeps 74 % of the strength, sign flipped
		{"such a fucking loser", "such a loser"}, // "fucking" intensifies; it is no word of its own
		{"is it any good?", "it is good."},       // a question asks about the word, it does not assert it
		{"bad.", "bad?"},
	}
	for _, p := range less {
		if a, b := s.Score(p[0]), s.Score(p[1]); !(a < b) {
			t.Errorf("Score(%q) = %.3f, want less than Score(%q) = %.3f", p[0], a, p[1], b)
		}
	}
	if got, want := s.Score("good"), 1.9/math.Sqrt(1.9*1.9+15); fmt.Sprintf("%.6f", got) != fmt.Sprintf("%.6f", want) {
		t.Errorf(`Score("good") = %v, want the lexicon's 1.9 normalised: %v`, got, want)
	}
}

func TestSentimentExplain(t *testing.T) {
	s := DefaultSentiment()
	e := s.Explain("The app is NOT good, but support was really GREAT!!")
	if e.Compound != s.Score("The app is NOT good, but support was really GREAT!!") {
		t.Errorf("Explain compound %v differs from Score", e.Compound)
	}
	got := e.String()
	for _, want := range []string{"good -", "negated by NOT", "before but x0.5", "GREAT +", "boosted by really", "caps", "after but x1.5", "but-clause", "exclamation x2"} {
		if !strings.Contains(got, want) {
			t.Errorf("Explain = %s\nmissing %q", got, want)
		}
	}
	if len(e.Tokens) != 3 { // "support" is in the lexicon too (+1.7)
		t.Errorf("Explain tokens = %+v, want good, support and GREAT", e.Tokens)
	}
	em := s.Explain("🙂")
	if len(em.Tokens) != 1 || !strings.Contains(em.String(), "emoji slightly smiling face") {
		t.Errorf("Explain(🙂) = %s, want the emoji and its name", em)
	}
	// The newer rules say what they did, and the explained score is the score.
	for text, want := range map[string]string{
		"Got the new laptop!":          "bare exclamation x1 +0.292",
		"i cannot recommend it enough": "intensified by cannot ... enough",
		"tech support was slow":        "support +0.00 [names a service]",
		"it never fails to amaze":      "amaze +",
		"can't wait to see it":         "wait +2.00 [phrase can't wait]",
		"never blown away":             "away -2.07 [phrase blown away, negated by never]",
		"is it any good?":              "good +0.95 [asked about]",
		"such a fucking loser":         "loser -2.69 [boosted by fucking]",
	} {
		e := s.Explain(text)
		if !strings.Contains(e.String(), want) || e.Compound != s.Score(text) {
			t.Errorf("Explain(%q) = %s\nwant %q and compound %v", text, e, want, s.Score(text))
		}
	}
	if z := s.Explain("The bank opens a branch."); z.Compound != 0 || len(z.Tokens) != 0 {
		t.Errorf("neutral text explained as %s", z)
	}
}

func TestVADERRules(t *testing.T) {
	// The plain VADER rules keep VADER's known misses, which NewSentiment fixes.
	v, a := NewVADERSentiment(), DefaultSentiment()
	for _, text := range []string{"ok.", "NO NO NO NO", "do not buy this", "😡", "D:", "Nope :-)", "Got it!",
		"never fails to amaze", "cannot recommend it enough", "crappiness", "customer support was slow",
		"flimsy", "^_^", "can't wait", "you killed it", "is it good?", "no way lol"} {
		if v.Score(text) == a.Score(text) {
			t.Errorf("%q scores %.3f under both rule sets; the fix made no difference", text, v.Score(text))
		}
	}
	if got := v.Score("good but terrible"); got >= 0 {
		t.Errorf("VADER rules: good but terrible = %.3f", got)
	}
}

func TestSentimentOwnWordsAreOwn(t *testing.T) {
	// Our ratings only fill gaps: a word, emoticon or phrase the lexicon or
	// its idioms already rate would be a silent second rating.
	v := NewVADERSentiment()
	for w := range ownWords {
		if _, ok := v.lexicon[w]; ok {
			t.Errorf("own word %q is in the lexicon already", w)
		}
	}
	for w := range moreEmoticons {
		_, asIs := v.lexicon[w]
		if _, lower := v.lexicon[strings.ToLower(w)]; asIs || lower {
			t.Errorf("own emoticon %q is in the lexicon already", w)
		}
	}
	for _, p := range ownPhraseList {
		if _, ok := v.idioms[strings.Join(p.words, " ")]; ok {
			t.Errorf("own phrase %q is a lexicon idiom already", p.words)
		}
	}
	if len(ownPhraseList) > math.MaxInt16 {
		t.Errorf("%d own phrases do not fit sentToken.phrase", len(ownPhraseList))
	}
}

func TestSentimentDeterministicAndConcurrent(t *testing.T) {
	texts := []string{
		"Absolutely LOVE the new app!!! 😍", "worst support ever :(", "not bad, not great",
		"The update is ok but the battery is terrible", "no no no", "Je ne sais pas 🤷",
	}
	// A second, freshly built scorer must agree: nothing depends on map order.
	a, b := NewSentiment(), NewSentiment()
	want := make([]float64, len(texts))
	for i, tx := range texts {
		want[i] = a.Score(tx)
		if b.Score(tx) != want[i] || a.Explain(tx).String() != b.Explain(tx).String() {
			t.Errorf("%q: two scorers disagree", tx)
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				for i, tx := range texts {
					if got := a.Score(tx); got != want[i] {
						t.Errorf("concurrent Score(%q) = %v, want %v", tx, got, want[i])
						return
					}
					_ = a.Explain(tx)
				}
			}
		})
	}
	wg.Wait()
}

func FuzzSentiment(f *testing.F) {
	for _, s := range []string{"good", "not GOOD!!!", "😡🙂", ":) :(", "\xff\xfe", "no no no but"} {
		f.Add(s)
	}
	s := DefaultSentiment()
	f.Fuzz(func(t *testing.T, text string) {
		got := s.Score(text)
		if !(got >= -1 && got <= 1) {
			t.Fatalf("Score(%q) = %v outside [-1, 1]", text, got)
		}
		if e := s.Explain(text); e.Compound != got {
			t.Fatalf("Explain(%q).Compound = %v, Score = %v", text, e.Compound, got)
		}
	})
}
