package store

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// termPost is a post of topics with terms ("key|display" or a bare term) and organisations.
func termPost(id string, ts time.Time, topics, terms, orgs []string) affinity.AnalyzedPost {
	return affinity.AnalyzedPost{Post: post("src", id, "", ts),
		Analysis: affinity.Analysis{Topics: topics, Terms: terms, Organisations: orgs}}
}

func names(tcs []affinity.TermCount) []string {
	out := []string{}
	for _, tc := range tcs {
		out = append(out, fmt.Sprintf("%s:%d", tc.Term, tc.Count))
	}
	return out
}

func TestTopicTerms(t *testing.T) {
	day := affinity.Window{From: at(0), To: at(24 * time.Hour)}
	var posts []affinity.AnalyzedPost
	// Topic "bank": "refund" in 4 of 5 posts (3 write "refunds"), "app" in 2,
	// "weather" in 1 of its posts but in every other post too.
	for i := range 5 {
		terms := []string{"weather|weather"}
		if i < 4 {
			terms = append(terms, "refund|"+map[bool]string{true: "refunds", false: "refund"}[i < 3])
		}
		if i < 2 {
			terms = append(terms, "app|app")
		}
		if i > 0 {
			terms = terms[1:] // weather only in the first
		}
		posts = append(posts, termPost(fmt.Sprint("b", i), at(time.Duration(i)*time.Hour), []string{"bank"}, terms, nil))
	}
	for i := range 10 {
		posts = append(posts, termPost(fmt.Sprint("o", i), at(time.Duration(i)*time.Hour), []string{"other"},
			[]string{"weather|weather", "app|app"}, nil))
	}
	// Outside the window: must not count.
	posts = append(posts, termPost("late", at(25*time.Hour), []string{"bank"}, []string{"late|late"}, nil))

	tests := []struct {
		name  string
		topic string
		w     affinity.Window
		limit int
		want  []string
	}{
		{"over-represented terms by G², most frequent display", "bank", day, 10, []string{"refunds:4"}},
		{"limit", "bank", day, 1, []string{"refunds:4"}},
		{"unknown topic", "none", day, 10, nil},
		{"empty window", "bank", affinity.Window{From: at(48 * time.Hour), To: at(49 * time.Hour)}, 10, nil},
	}
	forEachStore(t, func(t *testing.T, s Store) {
		commit(t, s, affinity.Batch{Source: "src", Posts: posts})
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.TopicTerms(context.Background(), tt.topic, tt.w, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				if g := names(got); len(g) != len(tt.want) || (len(g) > 0 && !reflect.DeepEqual(g, tt.want)) {
					t.Errorf("terms = %v, want %v", g, tt.want)
				}
			})
		}
		// "app" (2 of 5 bank posts, 10 of 10 others) and "weather" are
		// under-represented; "refunds" scores the G² of 4/5 against 0/10.
		got, _ := s.TopicTerms(context.Background(), "bank", day, 10)
		if want := signedG2(4, 5, 0, 10); len(got) == 0 || math.Abs(got[0].Score-want) > 1e-9 || want <= 10.83 {
			t.Errorf("score = %v, want G² %v (> 10.83)", got, want)
		}
	})
}

func TestTopicTermsSingleTopicByCount(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		commit(t, s, affinity.Batch{Source: "src", Posts: []affinity.AnalyzedPost{
			termPost("1", at(0), []string{"t"}, []string{"b|b", "a|a"}, nil),
			termPost("2", at(time.Hour), []string{"t"}, []string{"b|b", "bare"}, nil),
		}})
		got, err := s.TopicTerms(context.Background(), "t", affinity.Window{From: at(0), To: at(2 * time.Hour)}, 10)
		if err != nil {
			t.Fatal(err)
		}
		// The topic is the whole background: scores 0, order by count then term.
		if want := []string{"b:2", "a:1", "bare:1"}; !reflect.DeepEqual(names(got), want) {
			t.Errorf("terms = %v, want %v", names(got), want)
		}
	})
}

func TestEmergingTerms(t *testing.T) {
	week := affinity.Window{From: at(0), To: at(7 * 24 * time.Hour)}
	base := affinity.Window{From: at(-28 * 24 * time.Hour), To: at(0)}
	var posts []affinity.AnalyzedPost
	add := func(prefix string, n int, from time.Time, terms ...string) {
		for i := range n {
			posts = append(posts, termPost(fmt.Sprintf("%s%d", prefix, i), from.Add(time.Duration(i)*time.Minute), []string{"t"}, terms, nil))
		}
	}
	// Baseline: 40 posts, "outage" in 2, "app" in 20.
	add("b-out", 2, base.From, "outage|outage", "app|app")
	add("b-app", 18, base.From.Add(time.Hour), "app|app")
	add("b-none", 20, base.From.Add(2*time.Hour))
	// Window: 10 posts, "outage" in 6, "app" in 5 (same rate), "fraud" new in 2, "rare" in 1.
	add("w-out", 5, week.From, "outage|outage", "app|app")
	add("w-out2", 1, week.From.Add(time.Hour), "outage|outages", "fraud|fraud")
	add("w-fraud", 1, week.From.Add(2*time.Hour), "fraud|fraud", "rare|rare")
	add("w-none", 3, week.From.Add(3*time.Hour))

	tests := []struct {
		name       string
		minSupport int
		limit      int
		want       []string
	}{
		// fraud (3/12 against 1/42) grew more than outage (7/12 against 3/42);
		// app kept its rate.
		{"grown terms with support 2, biggest growth first", 2, 10, []string{"fraud:2", "outage:6"}},
		{"support 1 lets the single post in", 1, 10, []string{"fraud:2", "outage:6", "rare:1"}},
		{"support above every term", 7, 10, []string{}},
		{"limit", 1, 1, []string{"fraud:2"}},
	}
	forEachStore(t, func(t *testing.T, s Store) {
		commit(t, s, affinity.Batch{Source: "src", Posts: posts})
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.EmergingTerms(context.Background(), "t", week, base, tt.minSupport, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				if g := names(got); !reflect.DeepEqual(g, tt.want) && !(len(g) == 0 && len(tt.want) == 0) {
					t.Errorf("emerging = %v, want %v", g, tt.want)
				}
			})
		}
		got, _ := s.EmergingTerms(context.Background(), "t", week, base, 2, 10)
		if want := (7.0 / 12) / (3.0 / 42); len(got) != 2 || math.Abs(got[1].Score-want) > 1e-9 {
			t.Errorf("outage score = %v, want smoothed ratio %v", got, want)
		}
		// No baseline posts: the smoothed baseline rate is 1/2, so only terms
		// in more than half of the window's posts count as grown.
		got, _ = s.EmergingTerms(context.Background(), "t", week, affinity.Window{}, 2, 10)
		if g := names(got); !reflect.DeepEqual(g, []string{"outage:6"}) {
			t.Errorf("without baseline = %v", g)
		}
	})
}

func TestTopicOrganisations(t *testing.T) {
	day := affinity.Window{From: at(0), To: at(24 * time.Hour)}
	forEachStore(t, func(t *testing.T, s Store) {
		commit(t, s, affinity.Batch{Source: "src", Posts: []affinity.AnalyzedPost{
			termPost("1", at(0), []string{"t"}, nil, []string{"Globex", "Initech"}),
			termPost("2", at(time.Hour), []string{"t", "u"}, nil, []string{"Globex", "Globex"}), // listed twice: one post
			termPost("3", at(2*time.Hour), []string{"u"}, nil, []string{"Umbrella"}),
			termPost("4", at(30*time.Hour), []string{"t"}, nil, []string{"Later"}),
		}})
		tests := []struct {
			topic string
			limit int
			want  []string
		}{
			{"t", 10, []string{"Globex:2", "Initech:1"}},
			{"t", 1, []string{"Globex:2"}},
			{"t", 0, []string{"Globex:2", "Initech:1"}}, // all: the metric's count
			{"u", 10, []string{"Globex:1", "Umbrella:1"}},
			{"none", 10, []string{}},
		}
		for _, tt := range tests {
			got, err := s.TopicOrganisations(context.Background(), tt.topic, day, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if g := names(got); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("organisations(%q, %d) = %v, want %v", tt.topic, tt.limit, g, tt.want)
			}
		}
	})
}

// Terms and organisations are written only with posts the commit inserts,
// and pruning takes them away with their posts.
func TestTermsCommitOnceAndPrune(t *testing.T) {
	day := affinity.Window{From: at(-48 * time.Hour), To: at(24 * time.Hour)}
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		b := affinity.Batch{Source: "src", Posts: []affinity.AnalyzedPost{
			termPost("old", at(-24*time.Hour), []string{"t"}, []string{"refund|refund"}, []string{"Globex"}),
			termPost("new", at(0), []string{"t"}, []string{"refund|refund"}, []string{"Globex"}),
		}}
		commit(t, s, b)
		// The same posts again, now with other terms: duplicates add nothing.
		b.Posts[0].Analysis.Terms, b.Posts[1].Analysis.Terms = []string{"other|other"}, []string{"other|other"}
		if res := commit(t, s, b); res.New != 0 {
			t.Fatalf("second commit inserted %d posts", res.New)
		}
		terms, _ := s.TopicTerms(ctx, "t", day, 10)
		if g := names(terms); !reflect.DeepEqual(g, []string{"refund:2"}) {
			t.Errorf("terms = %v, want refund:2 only", g)
		}
		if _, err := s.Prune(ctx, at(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		terms, _ = s.TopicTerms(ctx, "t", day, 10)
		orgs, _ := s.TopicOrganisations(ctx, "t", day, 10)
		if g, o := names(terms), names(orgs); !reflect.DeepEqual(g, []string{"refund:1"}) || !reflect.DeepEqual(o, []string{"Globex:1"}) {
			t.Errorf("after prune terms = %v, orgs = %v; want one post's", g, o)
		}
	})
}

func TestSignedG2(t *testing.T) {
	tests := []struct {
		name           string
		k1, n1, k2, n2 int64
		sign           int
	}{
		{"over-represented", 8, 10, 10, 100, 1},
		{"under-represented", 1, 10, 50, 100, -1},
		{"same rate", 5, 10, 50, 100, 0},
		{"empty background", 5, 10, 0, 0, 0},
		{"empty topic", 0, 0, 5, 10, 0},
	}
	for _, tt := range tests {
		g := signedG2(tt.k1, tt.n1, tt.k2, tt.n2)
		if (tt.sign > 0 && g <= 0) || (tt.sign < 0 && g >= 0) || (tt.sign == 0 && math.Abs(g) > 1e-9) {
			t.Errorf("%s: G² = %v, want sign %d", tt.name, g, tt.sign)
		}
	}
	// Known value: 2·Σ O·ln(O/E) for the table [[8,2],[10,90]].
	want := 2 * (8*math.Log(8/(10*18.0/110)) + 2*math.Log(2/(10*92.0/110)) +
		10*math.Log(10/(100*18.0/110)) + 90*math.Log(90/(100*92.0/110)))
	if g := signedG2(8, 10, 10, 100); math.Abs(g-want) > 1e-9 {
		t.Errorf("G² = %v, want %v", g, want)
	}
}
