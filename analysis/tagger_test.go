package analysis

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jdkato/prose/v2"
)

// proseTagModel is prose's own English model, for the reference tagging.
var proseTagModel = sync.OnceValue(func() *prose.Model {
	doc, err := prose.NewDocument("", prose.WithSegmentation(false), prose.WithExtraction(false))
	if err != nil {
		return nil
	}
	return doc.Model
})

// proseTags tags toks the way affinityd did before posTagger: the tokens
// written out space-separated, tagged by prose.NewDocument, prose's tokens
// aligned back by offset (the first prose token inside one of ours gives its
// tag).
func proseTags(t testing.TB, toks []Token) []string {
	t.Helper()
	out := make([]string, len(toks))
	starts := make([]int, len(toks))
	var b strings.Builder
	for i, tk := range toks {
		if i > 0 {
			b.WriteByte(' ')
		}
		starts[i] = b.Len()
		if tk.Kind == Mention {
			b.WriteByte('@')
		}
		b.WriteString(tk.Text)
	}
	text := b.String()
	doc, err := prose.NewDocument(text, prose.UsingModel(proseTagModel()),
		prose.WithSegmentation(false), prose.WithExtraction(false))
	if err != nil {
		t.Fatal(err)
	}
	cur, ti := 0, 0
	for _, pt := range doc.Tokens() {
		j := strings.Index(text[cur:], pt.Text)
		if j < 0 || pt.Text == "" {
			break
		}
		off := cur + j
		cur = off + len(pt.Text)
		for ti+1 < len(starts) && starts[ti+1] <= off {
			ti++
		}
		if out[ti] == "" {
			out[ti] = pt.Tag
		}
	}
	return out
}

// tagAgreement counts tokens of texts where posTagger and prose agree.
// prose's tokenizer caches the tokens of a repeated word and hands out the
// same *Token each time, so every occurrence of a word reports the tag of
// its last occurrence; with lastTag set ours are compared the same way,
// which checks the tagger itself rather than that bug.
func tagAgreement(t *testing.T, texts []string, lastTag bool) (same, total int) {
	t.Helper()
	shown := 0
	for _, text := range texts {
		toks := Tokenize(Normalize(text))
		if len(toks) == 0 {
			continue
		}
		want := proseTags(t, toks)
		got := tagTokens(toks)
		if lastTag {
			key := func(g tagged) string {
				if g.Kind == Mention {
					return "@" + g.Text
				}
				return g.Text
			}
			last := map[string]string{}
			for _, g := range got {
				last[key(g)] = g.tag
			}
			for i := range got {
				got[i].tag = last[key(got[i])]
			}
		}
		for i := range toks {
			total++
			if got[i].tag == want[i] {
				same++
			} else if lastTag && shown < 10 && testing.Verbose() {
				shown++
				t.Logf("%q in %q: ours %s, prose %s", toks[i].Text, text[:min(len(text), 80)], got[i].tag, want[i])
			}
		}
	}
	return same, total
}

// TestTaggerAgreesWithProse holds the re-implemented tagger to prose's
// tagger on social posts (the benchmark corpus) and on abstracts and news
// (a sample of the keyphrase sets, where term extraction is scored): at
// least 99 % of the tags agree once prose's repeated-word bug is mirrored
// (see tagAgreement). The rest are exact ties, which prose breaks at random
// (map order), and the few tokens of ours prose would split again. The raw
// agreement, with prose's bug, is logged.
func TestTaggerAgreesWithProse(t *testing.T) {
	_, posts := benchCorpus(400, 100, 20)
	sets := map[string][]string{}
	for _, p := range posts {
		sets["posts"] = append(sets["posts"], p.Text)
	}
	sets["posts"] = append(sets["posts"],
		"Don't buy it: the U.S. branch's customer-service line closed at 5.30pm, e.g. yesterday!",
		"I'm sure they'll fix the app's login bug in v2.1 — @acmehelp said so. #fail 0 stars xD",
		"Le service client d'Acme est très lent 🙂",
	)
	for _, zip := range []string{"../../shared/datasets/keyphrase/Inspec.zip", "../../shared/datasets/keyphrase/500N-KPCrowd-v1.1.zip"} {
		if testing.Short() {
			break
		}
		b, err := os.ReadFile(zip)
		if os.IsNotExist(err) {
			t.Logf("%s not present", zip)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		docs, err := ReadKeyphraseZip(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(docs); i += 25 {
			sets[zip] = append(sets[zip], docs[i].Text)
		}
	}
	for name, texts := range sets {
		same, total := tagAgreement(t, texts, true)
		raw, _ := tagAgreement(t, texts, false)
		t.Logf("%s: %d tokens, %.2f%% agree (%.2f%% with prose's repeated-word bug)",
			name, total, 100*float64(same)/float64(total), 100*float64(raw)/float64(total))
		if float64(same) < 0.99*float64(total) {
			t.Errorf("%s: %d of %d tags agree with prose, want ≥ 99%%", name, same, total)
		}
	}
}

func TestTaggerRules(t *testing.T) {
	tg, err := defaultTagger()
	if err != nil {
		t.Fatal(err)
	}
	words := []string{"@acme", "-", "0", "xD", "the", "bank", "3.50"}
	tags := make([]uint8, len(words))
	tg.tagWords(words, tags)
	want := []string{"NN", "-", "-NONE-", "SYM", "DT", "NN", "NN"}
	for i, w := range words {
		if got := tg.classes[tags[i]]; got != want[i] {
			t.Errorf("%q: tag %s, want %s", w, got, want[i])
		}
	}
}

// BenchmarkTagger compares tagging one post's tokens with posTagger and
// with prose.NewDocument (which also re-tokenizes).
func BenchmarkTagger(b *testing.B) {
	_, posts := benchCorpus(300, 1000, 50)
	toks := make([][]Token, len(posts))
	for i, p := range posts {
		toks[i] = Tokenize(Normalize(p.Text))
	}
	b.Run("ours", func(b *testing.B) {
		defaultTagger()
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			tagTokens(toks[n%len(toks)])
			n++
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
	})
	b.Run("prose", func(b *testing.B) {
		proseTagModel()
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			proseTags(b, toks[n%len(toks)])
			n++
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
	})
}
