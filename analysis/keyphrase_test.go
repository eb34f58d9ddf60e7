package analysis

import (
	"archive/zip"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestKeyphraseKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Peak-to-peak Ratio", "peak to peak ratio"},
		{"  filter\tbanks\r", "filter bank"},
		{"Wavelet transforms", "wavelet transform"},
		{"C++ (language)", "c languag"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := KeyphraseKey(tt.in); got != tt.want {
			t.Errorf("KeyphraseKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScoreKeyphrases(t *testing.T) {
	docs := []KeyphraseDoc{
		// 2 hits of 4 returned (a stemmed duplicate is dropped), 2 of 4 gold.
		{Name: "a", Text: "a", Gold: []string{"filter banks", "image coding", "wavelets", "x", "Image Coding"}},
		// Nothing returned: P = R = F1 = 0.
		{Name: "b", Text: "b", Gold: []string{"y"}},
	}
	out := map[string][]string{
		"a": {"Filter bank", "filter-banks", "wavelet", "noise", "other"},
		"b": nil,
	}
	s := ScoreKeyphrases(docs, 10, func(doc string, n int) []string { return out[doc] })
	want := KeyphraseScore{Docs: 2, P: 0.5 / 2, R: 0.5 / 2, F1: 0.5 / 2,
		MicroP: 0.5, MicroR: 2.0 / 5, MicroF1: 2 * 0.5 * 0.4 / 0.9}
	if math.Abs(s.P-want.P)+math.Abs(s.R-want.R)+math.Abs(s.F1-want.F1)+
		math.Abs(s.MicroP-want.MicroP)+math.Abs(s.MicroR-want.MicroR)+math.Abs(s.MicroF1-want.MicroF1) > 1e-12 || s.Docs != 2 {
		t.Errorf("score = %+v, want %+v", s, want)
	}
	// Only the top n count.
	if s := ScoreKeyphrases(docs[:1], 1, func(string, int) []string { return out["a"] }); s.P != 1 || s.R != 0.25 {
		t.Errorf("top 1: %+v", s)
	}
}

func TestReadKeyphraseZip(t *testing.T) {
	mk := func(files map[string]string) []byte {
		var buf bytes.Buffer
		w := zip.NewWriter(&buf)
		for name, body := range files {
			f, _ := w.Create(name)
			f.Write([]byte(body))
		}
		w.Close()
		return buf.Bytes()
	}
	good := mk(map[string]string{
		"Set/docsutf8/2.txt": "second", "Set/keys/2.key": "b\r\n",
		"Set/docsutf8/1.txt": "first", "Set/keys/1.key": "  a one\t\r\nprototype \tfilters\r\n\r\n",
		"Set/README": "ignored",
	})
	docs, err := ReadKeyphraseZip(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	want := []KeyphraseDoc{
		{Name: "1", Text: "first", Gold: []string{"a one", "prototype  filters"}},
		{Name: "2", Text: "second", Gold: []string{"b"}},
	}
	if !reflect.DeepEqual(docs, want) {
		t.Errorf("docs = %q, want %q", docs, want)
	}
	for name, bad := range map[string][]byte{
		"missing key file": mk(map[string]string{"S/docsutf8/1.txt": "x"}),
		"no documents":     mk(map[string]string{"S/keys/1.key": "x"}),
		"not a zip":        []byte("plain"),
	} {
		if _, err := ReadKeyphraseZip(bytes.NewReader(bad), int64(len(bad))); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestKeyphrases(t *testing.T) {
	doc := `Perceptual wavelet design for image compression. A new criterion for the design of
biorthogonal wavelet filter banks is proposed. The filter banks are optimised for image compression
by a perceptual image quality measure; the wavelet filter banks outperform standard filter banks.`
	got := Keyphrases(doc, 3)
	if want := []string{"perceptual wavelet design", "wavelet filter banks", "biorthogonal wavelet filter banks"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Keyphrases = %q, want %q", got, want)
	}
	// "a new criterion", "standard filter banks": generic adjectives are cut.
	all := Keyphrases(doc, 20)
	if !slices.Contains(all, "filter banks") || !slices.Contains(all, "criterion") {
		t.Errorf("Keyphrases(20) = %q, want \"filter banks\" and \"criterion\"", all)
	}
	for _, k := range all {
		if strings.HasPrefix(k, "new ") || strings.HasPrefix(k, "standard ") {
			t.Errorf("Keyphrases(20) keeps a generic adjective: %q", k)
		}
	}
	// A story reads like news (names, past tense, plain words): its keys
	// are single words, not phrases.
	story := `Harbour town votes to keep its ferry
The council of Port Ellis voted on Tuesday to keep the island ferry running through the winter,
after hundreds of residents signed a petition. Mayor Ruth Calder said the ferry was the only way for
many families to reach the hospital in Dunmore. The operator, Westline, had warned in March that
the service lost money every month and asked for a larger subsidy. Councillors agreed to pay half of
the cost, and the county promised the rest. Fishermen and shop owners cheered outside the town hall
when the vote was read. Calder said the council would review the deal next year, when the new
harbour opens and more visitors arrive by sea.`
	news := Keyphrases(story, 10)
	if len(news) != 10 || news[0] != "ferry" {
		t.Errorf("Keyphrases(story) = %q, want 10 words led by \"ferry\"", news)
	}
	for _, k := range news {
		if strings.Contains(k, " ") {
			t.Errorf("Keyphrases(story) holds a phrase %q: a news story is keyed in single words", k)
		}
	}
	if got := Keyphrases(doc, 0); got != nil {
		t.Errorf("n = 0: %q", got)
	}
	if got := Keyphrases("", 10); got != nil {
		t.Errorf("empty document: %q", got)
	}
}

// TestKeyphraseQuality guards against regressions on the public sets: it
// scores the held-out part of a deterministic sample (every fifth document
// from the second on; the parameters were chosen on the documents 0, 5, 10,
// …) against bounds a little below what the method measures there, so CI
// stays fast (`affinityd eval` scores every document).
func TestKeyphraseQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the evaluation sets")
	}
	sets := []struct {
		zip   string
		bound float64 // per-document mean F1@10
	}{
		{"../../shared/datasets/keyphrase/Inspec.zip", 0.29}, // measured 0.301
		// measured 0.189; 0.136 without the news path (keyphrase_words.go)
		{"../../shared/datasets/keyphrase/500N-KPCrowd-v1.1.zip", 0.17},
	}
	for _, set := range sets {
		b, err := os.ReadFile(set.zip)
		if os.IsNotExist(err) {
			t.Skipf("%s not present", set.zip)
		}
		if err != nil {
			t.Fatal(err)
		}
		docs, err := ReadKeyphraseZip(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		var sample []KeyphraseDoc
		for i, d := range docs {
			if i%5 == 1 {
				sample = append(sample, d)
			}
		}
		// Each document against the set's others, as affinityd eval does.
		s := ScoreKeyphrases(sample, 10, KeyphrasesLeaveOneOut(docs))
		t.Logf("%s: %d docs F1@10 %.3f P@10 %.3f R@10 %.3f", set.zip, s.Docs, s.F1, s.P, s.R)
		if s.F1 < set.bound {
			t.Errorf("%s: F1@10 %.3f below the regression bound %.2f", set.zip, s.F1, set.bound)
		}
	}
}

// TestKeyphraseDevSplit prints per-document mean F1@10 of the default
// parameters (with and without the set's other documents as background) and
// earlier ones on the development split (documents 0, 5,
// 10, …, where every choice in defaultKeyParams was measured), the held-out
// rest and the full set. It is a report, not a check (TestKeyphraseQuality
// and `affinityd eval` are those): run it with
// AFFINITYD_KEYPHRASE_DEV=1 go test -run KeyphraseDevSplit -v ./analysis/
func TestKeyphraseDevSplit(t *testing.T) {
	if os.Getenv("AFFINITYD_KEYPHRASE_DEV") == "" {
		t.Skip("set AFFINITYD_KEYPHRASE_DEV=1 to print the development-split figures")
	}
	// round2: the defaults before the background and hyphenParticiples.
	round2 := defaultKeyParams
	round2.idf, round2.hyphenParticiple, round2.newsWords = 0, false, false
	// round4: the defaults before the news path (keyphrase_words.go).
	round4 := defaultKeyParams
	round4.newsWords = false
	previous := keyParams{maxWords: 5, window: 10, damping: 0.85, long: 0.7,
		wordsFrom: 250, longWindow: 10, longDamping: 0.85}
	for _, zip := range []string{"../../shared/datasets/keyphrase/Inspec.zip", "../../shared/datasets/keyphrase/500N-KPCrowd-v1.1.zip"} {
		b, err := os.ReadFile(zip)
		if err != nil {
			t.Skip(err)
		}
		docs, err := ReadKeyphraseZip(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		var dev, held []KeyphraseDoc
		for i, d := range docs {
			if KeyphraseDevSplit(i) {
				dev = append(dev, d)
			} else {
				held = append(held, d)
			}
		}
		// "default" scores each document against the set's others (leave-one-out).
		for _, v := range []struct {
			name string
			p    keyParams
			bg   bool
		}{{"previous", previous, false}, {"round2", round2, false}, {"round4", round4, true}, {"no-bg", defaultKeyParams, false}, {"default", defaultKeyParams, true}} {
			f := func(doc string, n int) []string { return keyphrasesWith(doc, n, v.p) }
			if v.bg {
				f = leaveOneOut(docs, v.p)
			}
			d, h, a := ScoreKeyphrases(dev, 10, f), ScoreKeyphrases(held, 10, f), ScoreKeyphrases(docs, 10, f)
			t.Logf("%s %-8s F1@10 dev %.4f (%d docs) held-out %.4f (%d) full %.4f (micro %.4f)",
				filepath.Base(zip), v.name, d.F1, d.Docs, h.F1, h.Docs, a.F1, a.MicroF1)
		}
	}
}

// BenchmarkKeyphrases reports the cost of Keyphrases on an abstract-sized
// document (Inspec, ~130 words) and a news story (KPCrowd, ~400 words), the
// sets' first documents, and of KeyphrasesAgainst with those as background.
func BenchmarkKeyphrases(b *testing.B) {
	defaultTagger() // loaded once, outside the timing
	for _, set := range []struct{ name, zip string }{
		{"abstract", "../../shared/datasets/keyphrase/Inspec.zip"},
		{"news", "../../shared/datasets/keyphrase/500N-KPCrowd-v1.1.zip"},
	} {
		raw, err := os.ReadFile(set.zip)
		if err != nil {
			b.Logf("%s: %v", set.name, err)
			continue
		}
		docs, err := ReadKeyphraseZip(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			b.Fatal(err)
		}
		texts := make([]string, 0, 50)
		for _, d := range docs[:min(50, len(docs))] {
			texts = append(texts, d.Text)
		}
		b.Run(set.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				Keyphrases(texts[n%len(texts)], 10)
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "docs/s")
		})
		// Against a background of the set's first 50 documents.
		bg := NewKeyphraseBackground()
		for _, d := range texts {
			bg.Add(d)
		}
		b.Run(set.name+"-background", func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				KeyphrasesAgainst(texts[n%len(texts)], 10, bg)
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}

func TestKeyphraseBackground(t *testing.T) {
	bg := NewKeyphraseBackground()
	for _, d := range []string{"The systems run.", "A system fails; the system stops.", "Wavelet filters."} {
		bg.Add(d)
	}
	tests := []struct {
		name string
		op   func()
		stem string
		docs int
		idf  float64
	}{
		// "systems" and "system" are one stem, counted once per document.
		{"two of three", func() {}, "system", 3, math.Log(4.0 / 3)},
		{"one of three", func() {}, "wavelet", 3, math.Log(4.0 / 2)},
		{"unseen", func() {}, "kernel", 3, math.Log(4.0 / 1)},
		{"left out", func() { bg.Remove("Wavelet filters.") }, "wavelet", 2, math.Log(3.0 / 1)},
		{"put back", func() { bg.Add("Wavelet filters.") }, "wavelet", 3, math.Log(4.0 / 2)},
	}
	for _, tt := range tests {
		tt.op()
		if bg.Docs() != tt.docs {
			t.Errorf("%s: Docs() = %d, want %d", tt.name, bg.Docs(), tt.docs)
		}
		if got := bg.idf(tt.stem); math.Abs(got-tt.idf) > 1e-12 {
			t.Errorf("%s: idf(%q) = %.4f, want %.4f", tt.name, tt.stem, got, tt.idf)
		}
	}
	// Removing every document leaves no counts behind.
	for _, d := range []string{"The systems run.", "A system fails; the system stops.", "Wavelet filters."} {
		bg.Remove(d)
	}
	if bg.Docs() != 0 || len(bg.df) != 0 {
		t.Errorf("after removing all: docs %d, %d stems left", bg.Docs(), len(bg.df))
	}
	var none *KeyphraseBackground
	if none.idf("system") != 1 || NewKeyphraseBackground().idf("system") != 1 {
		t.Error("an absent or empty background must weigh every word 1")
	}
}

func TestHyphenParticiples(t *testing.T) {
	word := func(s, tag string) tagged { return tagged{Token: Token{Text: s, Kind: Word}, tag: tag} }
	hyphen := tagged{Token: Token{Text: "-", Kind: Punct}, tag: ":"}
	tests := []struct {
		name string
		in   []tagged
		want []string // tags after
	}{
		{"case-based reasoning", []tagged{word("case", "NN"), hyphen, word("based", "VBN"), word("reasoning", "NN")}, []string{"NN", ":", "JJ", "NN"}},
		{"time-stepping scheme", []tagged{word("time", "NN"), hyphen, word("stepping", "VBG"), word("scheme", "NN")}, []string{"NN", ":", "JJ", "NN"}},
		{"no hyphen", []tagged{word("filters", "NNS"), word("based", "VBN"), word("on", "IN")}, []string{"NNS", "VBN", "IN"}},
		{"hyphen after punctuation", []tagged{{Token: Token{Text: ",", Kind: Punct}, tag: ","}, hyphen, word("based", "VBN")}, []string{",", ":", "VBN"}},
		{"hyphenated noun", []tagged{word("peak", "NN"), hyphen, word("power", "NN")}, []string{"NN", ":", "NN"}},
	}
	for _, tt := range tests {
		orig := slices.Clone(tt.in)
		out := hyphenParticiples(tt.in)
		var got []string
		for _, x := range out {
			got = append(got, x.tag)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: tags %q, want %q", tt.name, got, tt.want)
		}
		if !reflect.DeepEqual(tt.in, orig) {
			t.Errorf("%s: the input was changed", tt.name)
		}
	}
}

func TestKeyphrasesAgainst(t *testing.T) {
	// "case-based" is a participle after a hyphen: an adjective, so the
	// whole phrase is a candidate (hyphenParticiples).
	doc := `A case-based reasoning system for fault diagnosis. The system retrieves past faults
and the reasoning system adapts them; the system learns.`
	// Against documents that all mention systems, "fault diagnosis" passes
	// "reasoning system".
	bg := NewKeyphraseBackground()
	for _, d := range []string{"An operating system.", "The system of systems.", "Control systems.", "A filing system.", "Fault trees."} {
		bg.Add(d)
	}
	tests := []struct {
		name string
		bg   *KeyphraseBackground
		want []string
	}{
		{"no background", nil, []string{"case based reasoning system", "reasoning system", "fault diagnosis"}},
		{"empty background", NewKeyphraseBackground(), []string{"case based reasoning system", "reasoning system", "fault diagnosis"}},
		{"systems everywhere", bg, []string{"case based reasoning system", "fault diagnosis", "reasoning system"}},
	}
	for _, tt := range tests {
		if got := KeyphrasesAgainst(doc, 3, tt.bg); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: KeyphrasesAgainst = %q, want %q", tt.name, got, tt.want)
		}
	}
}
