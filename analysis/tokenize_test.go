package analysis

import (
	"golang.org/x/text/unicode/norm"
	"os"
	"path/filepath"
	"slices"

	"fmt"
	"github.com/jdkato/prose/v2"
	"strings"
	"testing"
)

// tok renders tokens compactly: words bare, others as Kind:Text.
func tok(toks []Token) string {
	parts := make([]string, len(toks))
	for i, t := range toks {
		if t.Kind == Word {
			parts[i] = t.Text
		} else {
			parts[i] = fmt.Sprintf("%s:%s", t.Kind, t.Text)
		}
	}
	return strings.Join(parts, " ")
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"words and punctuation", "Great support, Acme!", "Great support Punct:, Acme Punct:!"},
		{"hashtag is one token without #", "love #CustomerService", "love Hashtag:CustomerService"},
		{"hashtag with underscore", "#customer_service rocks", "Hashtag:customer_service rocks"},
		{"hashtag needs a letter", "#1 in town", "Punct:# Number:1 in town"},
		{"mention is one token without @", "@acmebank: help", "Mention:acmebank Punct:: help"},
		{"fediverse and bluesky handles", "@acme@mastodon.social @acme.bsky.social.", "Mention:acme@mastodon.social Mention:acme.bsky.social Punct:."},
		{"email and C# are no handle or tag", "mail foo@acme.com about C#", "mail foo Punct:@ acme Punct:. com about C Punct:#"},
		{"hyphens split", "customer-service e‑mail", "customer Punct:- service e Punct:‑ mail"},
		{"slash and ellipsis split", "customer/service… ok", "customer Punct:/ service Punct:… ok"},
		{"english contractions as prose splits them", "don't they'll Acme's", "do n't they 'll Acme 's"},
		{"apostrophe inside a name stays", "O'Brien rock'n'roll", "O'Brien rock'n'roll"},
		{"curly apostrophes straightened", "Acme’s ‘service’", "Acme 's Punct:' service Punct:'"},
		{"quoted words prose drops are kept", "'sorry' 'model' 'service'", "Punct:' sorry Punct:' Punct:' model Punct:' Punct:' service Punct:'"},
		{"french elision", "l'équipe d'Acme qu'il", "l' équipe d' Acme qu' il"},
		{"italian elision", "dell'app", "dell' app"},
		{"numbers", "$100 3.5 1,000 4G", "Punct:$ Number:100 Number:3.5 Number:1,000 4G"},
		{"abbreviations stay whole", "U.S. banks", "U.S. banks"},
		{"emoji are punct, sequences whole", "great🔥 👍🏽 👩‍💻 🇩🇪", "great Punct:🔥 Punct:👍🏽 Punct:👩‍💻 Punct:🇩🇪"},
		{"german", "Der Kundenservice der Straße ist „super“.", "Der Kundenservice der Straße ist Punct:„ super Punct:\" Punct:."},
		{"french", "Le service client est très «lent»", "Le service client est très Punct:« lent Punct:»"},
		{"russian", "Служба поддержки, спасибо!", "Служба поддержки Punct:, спасибо Punct:!"},
		{"greek", "Η ΥΠΗΡΕΣΊΑ.", "Η ΥΠΗΡΕΣΊΑ Punct:."},
		{"cjk runs stay whole", "客户服务很好，谢谢", "客户服务很好 Punct:， 谢谢"},
		{"runes prose would slice out of range", "ȺCME's", "ⱥCME 's"},
		{"invalid utf8", "ok\xff's", "ok Punct:\uFFFD 's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tok(Tokenize(tt.in)); got != tt.want {
				t.Errorf("Tokenize(%q)\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestTokenizeFolds(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ACME", "acme"},
		{"Straße", "strasse"},
		{"ΥΠΗΡΕΣΊΑ", "υπηρεσία"},
		{"ΣΟΦΟΣ", "σοφοσ"},
		{"σοφός", "σοφόσ"}, // final sigma folds like the capital
		{"ÉLÈVE", "élève"},
		{"СЛУЖБА", "служба"},
		{"#CustomerService", "customerservice"},
	}
	for _, tt := range tests {
		toks := Tokenize(tt.in)
		if len(toks) != 1 || toks[0].Folded != tt.want {
			t.Errorf("Tokenize(%q) = %+v, want one token folded %q", tt.in, toks, tt.want)
		}
	}
}

func TestTokenizeNeverLosesText(t *testing.T) {
	// Every letter of the input is in some token, whatever prose does with it.
	in := "'sup 'model' 'll 're ‘m Ⱥ's İ's \xff's #a@b @ # ## @@ x#y ''' n't 'n't"
	var got strings.Builder
	for _, tk := range Tokenize(in) {
		if tk.Kind == Hashtag || tk.Kind == Mention {
			got.WriteString("#")
		}
		got.WriteString(tk.Text)
	}
	letters := func(s string) string {
		return strings.Map(func(r rune) rune {
			if isWordRune(r) {
				return r
			}
			return -1
		}, strings.ToLower(s))
	}
	if a, b := letters(proseSafe(strings.ToValidUTF8(in, "\uFFFD"))), letters(got.String()); a != b {
		t.Errorf("letters lost: in %q, tokens %q", a, b)
	}
}

func BenchmarkTokenize(b *testing.B) {
	text := Normalize(benchPosts(1, 100, 50)[0].Text)
	for b.Loop() {
		Tokenize(text)
	}
}

func TestTokenizeJoinsMarkersProseSplitsOff(t *testing.T) {
	// Should prose ever emit "#" or "@" as a token of its own, the word right
	// after it is still one hashtag or mention.
	for _, in := range []string{"#CustomerService", "@acmebank"} {
		tz := tokenizer{text: in, joinAt: -1}
		tz.refine(0, 1)
		tz.refine(1, len(in))
		want := Token{Text: in[1:], Folded: fold(in[1:]), Kind: Hashtag}
		if in[0] == '@' {
			want.Kind = Mention
		}
		if len(tz.toks) != 1 || tz.toks[0] != want {
			t.Errorf("%q split by prose: got %+v, want %+v", in, tz.toks, want)
		}
	}
}

func TestTokenizeFallbackAgreesWithProse(t *testing.T) {
	// The split used when prose fails gives the same tokens on ordinary text,
	// so a post prose cannot handle still matches like any other. (Only
	// contractions differ: prose alone splits "don't"; the corpus has none.)
	for _, p := range benchPosts(200, 100, 10) {
		text := proseSafe(Normalize(p.Text))
		tz := tokenizer{text: text, joinAt: -1}
		tz.fallback(0, len(text))
		if got, want := tok(tz.toks), tok(Tokenize(text)); got != want {
			t.Fatalf("fallback differs on %q\n got %s\nwant %s", text, got, want)
		}
	}
}

// proseTokenize is Tokenize as it was before proseSplit: prose's own
// tokenizer (prose.NewDocument) with the same repairs.
func proseTokenize(t testing.TB, s string) []Token {
	t.Helper()
	if s == "" {
		return nil
	}
	s = norm.NFC.String(strings.ToValidUTF8(s, "\uFFFD"))
	tk := tokenizer{text: proseSafe(s), joinAt: -1}
	doc, err := prose.NewDocument(tk.text, prose.UsingModel(&prose.Model{Name: "tokens"}),
		prose.WithTagging(false), prose.WithSegmentation(false), prose.WithExtraction(false))
	if err != nil {
		t.Fatal(err)
	}
	cur := 0
	for _, pt := range doc.Tokens() {
		i := strings.Index(tk.text[cur:], pt.Text)
		if i < 0 || pt.Text == "" {
			break
		}
		tk.fallback(cur, cur+i)
		tk.refine(cur+i, cur+i+len(pt.Text))
		cur += i + len(pt.Text)
	}
	tk.fallback(cur, len(tk.text))
	return tk.toks
}

// TestTokenizeMatchesProse holds Tokenize, on its port of prose's tokenizer,
// to what it gave on prose's own, token for token, on the benchmark corpus,
// the fixture feeds and awkward cases (prose's emoticons included).
func TestTokenizeMatchesProse(t *testing.T) {
	texts := []string{
		"don't they'll Acme's 'sorry' ('sorry') I'm we're y'all rock'n'roll O'Brien",
		"U.S. e.g. Mr. Inc. A.B.C. a.b (U.S.) \"quoted,\" [x] $100 (see: this!) ...",
		"it's, can't. won't! 's 'll n't ''s $'s ('re) :-) :) xD (-_-) ¯\\(ツ)/¯ ‘x’ o_O :`( 8-D",
		"l'équipe dell'app qu'il ÀCME's Ⱥ's straße's İ's ok\xff's",
		"#CustomerService @acmebank: (#tag) \"@acme\" # tag @ acme C# foo@acme.com",
	}
	_, posts := benchCorpus(300, 100, 20)
	for _, p := range posts {
		texts = append(texts, p.Text)
	}
	files, _ := filepath.Glob("../../shared/fixtures/feeds/*/*/*")
	for i, p := range files {
		if b, err := os.ReadFile(p); err == nil && i%3 == 0 && len(b) < 64<<10 {
			texts = append(texts, Normalize(string(b)), string(b))
		}
	}
	for _, text := range texts {
		if want, got := proseTokenize(t, text), Tokenize(text); !slices.Equal(got, want) {
			t.Errorf("%.60q:\n got %s\nwant %s", text, tok(got), tok(want))
		}
	}
}
