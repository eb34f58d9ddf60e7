package analysis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

func TestBaseLanguage(t *testing.T) {
	tests := []struct{ tag, want string }{
		{"en", "en"}, {"EN-us", "en"}, {"pt_BR", "pt"}, {"zh-Hant-TW", "zh"}, {" de ", "de"},
		{"deu", "de"}, {"ger", "de"}, {"eng", "en"}, {"fil", "fil"}, // no two-letter code: kept
		{"", ""}, {"und", ""}, {"mul", ""}, {"zxx", ""}, {"English", ""}, {"x-klingon", ""}, {"e", ""}, {"12", ""},
	}
	for _, tt := range tests {
		if got := BaseLanguage(tt.tag); got != tt.want {
			t.Errorf("BaseLanguage(%q) = %q, want %q", tt.tag, got, tt.want)
		}
	}
}

// Posts written for this test in the languages a European bank's customers
// post in, and the short or mixed posts no detector can tell: those must come
// out "und" rather than a guess.
func TestDetectLanguage(t *testing.T) {
	tests := []struct{ text, want string }{
		{"Der Kundenservice der Acme Bank hat mir heute sehr schnell geholfen, die Überweisung ist endlich angekommen.", "de"},
		{"Le service client de la banque ne répond jamais au téléphone, c'est vraiment insupportable depuis des semaines.", "fr"},
		{"Ho aperto un conto con l'app della banca e il servizio clienti è stato molto gentile e veloce.", "it"},
		{"O atendimento ao cliente do banco resolveu o meu problema com o cartão em poucos minutos, recomendo.", "pt"},
		{"De klantenservice van de bank heeft mijn probleem met de betaalpas snel opgelost, heel tevreden.", "nl"},
		{"Obsługa klienta w tym banku jest fatalna, czekałem godzinę na połączenie z konsultantem.", "pl"},
		{"Служба поддержки банка очень быстро ответила и помогла восстановить доступ к приложению.", "ru"},
		{"The customer service team at the bank sorted out my card problem within a few minutes, really impressed.", "en"},
		{"El servicio de atención al cliente del banco tardó tres semanas en devolverme el dinero del cargo duplicado.", "es"},
		{"銀行のアプリがまた使えなくなりました。サポートに電話してもつながりません。", "ja"},
		{"은행 앱이 또 안 돼요. 고객센터에 전화해도 연결이 안 됩니다.", "ko"},
		{"我吃东西就几乎不嚼，好奇怪，胡乱嚼几下就咽", "zh"},
		// Too short or too mixed to tell.
		{"great app!", "und"},
		{"Acme Bank 👍", "und"},
		{"百合", "und"},
		{"#fintech #banking @acmebank", "und"},
		{"", "und"},
		{"2020-04-16 19:00:00", "und"},
	}
	for _, tt := range tests {
		if got := DetectLanguage(Tokenize(Normalize(tt.text))); got != tt.want {
			t.Errorf("DetectLanguage(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// On real Mastodon statuses: the platform's language wins whatever the text
// looks like (the fixture tags an English post "da"); a status without one is
// detected or left undetermined, and every status the fixture tags "es" or
// "en" at length is detected as tagged.
func TestPostLanguageMastodonFixture(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "shared", "fixtures", "posts", "mastodon", "timeline", "public_timeline_mastodon.social_2020-04-16.json"))
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	var statuses []struct {
		Language *string `json:"language"`
		Content  string  `json:"content"`
	}
	if err := json.Unmarshal(data, &statuses); err != nil {
		t.Fatal(err)
	}
	agree, detected := 0, 0
	for _, s := range statuses {
		toks := Tokenize(Normalize(s.Content))
		if s.Language == nil {
			if got := PostLanguage("", toks); got != Undetermined { // "百合": two Han characters
				t.Errorf("status %.30q without a platform language = %q, want und", s.Content, got)
			}
			continue
		}
		if got := PostLanguage(*s.Language, toks); got != *s.Language {
			t.Errorf("status %.30q: PostLanguage = %q, want the platform's %q", s.Content, got, *s.Language)
		}
		// Without the platform's tag: the detector agrees or abstains, never
		// contradicts a long post's tag in es or en.
		got := DetectLanguage(toks)
		if got != Undetermined {
			detected++
			if got == *s.Language {
				agree++
			}
		}
		if len(toks) > 20 && (*s.Language == "es" || *s.Language == "en") && got != *s.Language {
			t.Errorf("status %.40q tagged %s detected as %q", s.Content, *s.Language, got)
		}
	}
	// 19 statuses with a language; those detected agree but for the one the
	// platform mis-tags ("#Flutter … of flutter_facebook_appevents", "da").
	if detected < 9 || agree < detected-1 {
		t.Errorf("detected %d of the tagged statuses, %d agreeing with the platform; want ≥ 9 and at most one disagreement", detected, agree)
	}
}

// A topic's languages restrict which posts count for it: by the platform's
// tag, else by the detected language; a post whose language cannot be told
// counts (short posts would otherwise vanish from every restricted topic).
func TestTopicLanguagesWithDetection(t *testing.T) {
	cfg := &config.Config{
		Brand: config.Brand{Name: "Acme", Kind: "own"},
		Relationships: []config.Relationship{{Name: "care", Type: "personal-assistance", Topics: []config.Topic{
			{Name: "app-de", Terms: []string{"App"}, Languages: []string{"de"}},
			{Name: "app-any", Terms: []string{"App"}},
		}}},
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, platform, text string
		topics               []string
		lang                 string
	}{
		{"German, detected", "", "Die neue App der Acme Bank stürzt seit dem Update ständig ab und der Support antwortet nicht.", []string{"app-de", "app-any"}, "de"},
		{"English, detected", "", "The new app from Acme keeps crashing since the update and support does not answer at all.", []string{"app-any"}, "en"},
		{"English, told by the platform", "en-GB", "App kaputt", []string{"app-any"}, "en"},
		{"German, told by the platform", "de-AT", "new app", []string{"app-de", "app-any"}, "de"},
		{"too short to tell", "", "App kaputt", []string{"app-de", "app-any"}, "und"},
		{"no topic, no detection", "", "Die Filiale in der Innenstadt schließt leider Ende des Monats für immer.", nil, "und"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			an := a.Analyze(affinity.Post{Language: tt.platform, Text: tt.text})
			if !slices.Equal(an.Topics, tt.topics) || an.Language != tt.lang {
				t.Errorf("topics %q, language %q; want %q, %q", an.Topics, an.Language, tt.topics, tt.lang)
			}
		})
	}
}

// BenchmarkDetectLanguage is the cost that keeps detection off unmatched
// posts: go test -run '^$' -bench DetectLanguage ./analysis/
func BenchmarkDetectLanguage(b *testing.B) {
	toks := Tokenize(Normalize("Kiddo heard this announcement thanking all the healthcare workers, delivery drivers and truck drivers, and grocery store workers who keep us going."))
	for b.Loop() {
		DetectLanguage(toks)
	}
}
