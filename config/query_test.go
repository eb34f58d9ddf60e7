package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		query string
		want  string // canonical form
	}{
		{`bank`, `bank`},
		{`"mortgage rate"`, `"mortgage rate"`},
		{`“mortgage   rate”`, `"mortgage rate"`},
		{`a OR b AND c`, `a OR (b AND c)`},
		{`(a OR b) AND c`, `(a OR b) AND c`},
		{`a AND b AND c OR d OR e`, `(a AND b AND c) OR d OR e`},
		{`a AND NOT b`, `a AND NOT b`},
		{`a AND NOT (b OR "c d")`, `a AND NOT (b OR "c d")`},
		{`NOT b AND a`, `NOT b AND a`},
		{`a NEAR/3 b`, `a NEAR/3 b`},
		{`(a OR b) NEAR/5 "c d" AND e`, `((a OR b) NEAR/5 "c d") AND e`},
		{`a NEAR/2 b NEAR/4 c`, `(a NEAR/2 b) NEAR/4 c`},
		{`#acmebank OR @acme OR customer-service`, `#acmebank OR @acme OR customer-service`},
		{`((a))`, `a`},
		{`"AND" OR "NOT"`, `"AND" OR "NOT"`},
		{"  café\tOR\nkaffee ", `café OR kaffee`},
	}
	for _, tt := range tests {
		q, err := ParseQuery(tt.query)
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tt.query, err)
			continue
		}
		if got := q.String(); got != tt.want {
			t.Errorf("ParseQuery(%q) = %s, want %s", tt.query, got, tt.want)
		}
	}
}

// Every error points at a column a user can find in the query.
func TestParseQueryErrors(t *testing.T) {
	tests := []struct {
		query string
		want  string
	}{
		{``, `column 1: empty query`},
		{`   `, `column 1: empty query`},
		{`(a OR b`, `column 1: unbalanced parenthesis: this ( is never closed`},
		{`a OR (b AND (c OR d)`, `column 6: unbalanced parenthesis: this ( is never closed`},
		{`a OR b)`, `column 7: unbalanced parenthesis: ) without a matching (`},
		{`()`, `column 1: empty parentheses`},
		{`a ()`, `column 3: missing operator between "a" and ( (join them with AND, OR or NEAR/n)`},
		{`mortgage rate`, `column 10: missing operator between "mortgage" and "rate" (join terms with AND, OR or NEAR/n, or quote a phrase: "mortgage rate")`},
		{`a or b`, `column 3: missing operator between "a" and "or" (operators are upper case: OR)`},
		{`a near/3 b`, `column 3: missing operator between "a" and "near/3" (operators are upper case: NEAR/n)`},
		{`a NOT b`, `column 3: missing operator between "a" and NOT (write AND NOT)`},
		{`(a) b`, `column 5: missing operator between ) and "b" (join them with AND, OR or NEAR/n)`},
		{`AND a`, `column 1: AND needs a term before it`},
		{`a AND`, `column 3: AND needs a term after it`},
		{`a AND OR b`, `column 3: AND needs a term after it`},
		{`a AND (`, `column 7: unexpected end of query after (`},
		{`NOT`, `column 1: NOT needs a term after it`},
		{`a NEAR b`, `column 3: NEAR needs a distance in words, like NEAR/5`},
		{`a NEAR/x b`, `column 3: NEAR/x: the distance must be a whole number of words, like NEAR/5`},
		{`a NEAR/+3 b`, `column 3: NEAR/+3: the distance must be a whole number of words, like NEAR/5`},
		{`a NEAR/101 b`, `column 3: NEAR/101: the distance must be between 1 and 100 words`},
		{`a NEAR/2 NOT b`, `column 10: NEAR/2 needs terms, phrases or OR groups of them on each side, not NOT`},
		{`(a OR (b AND c)) NEAR/2 d`, `column 8: NEAR/2 needs terms, phrases or OR groups of them on each side, not AND`},
		{`NOT a`, `column 1: the query matches posts that contain none of its terms; NOT needs a positive side, like: banking AND NOT investment`},
		{`NOT a AND NOT b`, `column 1: the query matches posts that contain none of its terms; NOT needs a positive side, like: banking AND NOT investment`},
		{`c OR NOT a`, `column 1: the query matches posts that contain none of its terms; NOT needs a positive side, like: banking AND NOT investment`},
		{`"a b`, `column 1: unterminated quote`},
		{`a OR ""`, `column 6: empty phrase`},
		{`a OR !!!`, `column 6: term "!!!" has no letters or digits`},
		{`é OR "…"`, `column 6: phrase "…" has no letters or digits`},
		{"a OR \xff", `column 6: invalid UTF-8`},
		{strings.Repeat("(", 60) + "a" + strings.Repeat(")", 60), `column 51: nested deeper than 50 levels`},
		{strings.Repeat("NOT ", 60) + "a", `column 201: nested deeper than 50 levels`},
	}
	for _, tt := range tests {
		q, err := ParseQuery(tt.query)
		var qe *QueryError
		if !errors.As(err, &qe) {
			t.Errorf("ParseQuery(%q) = %v, %v; want a *QueryError", tt.query, q, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseQuery(%q):\n got: %s\nwant: %s", tt.query, err, tt.want)
		}
	}
}

func TestLoadQueryTopics(t *testing.T) {
	c, err := Load("testdata/valid-query.yml")
	if err != nil {
		t.Fatal(err)
	}
	topics := c.Topics()
	if got, want := topics[0].Expr.String(), `("banking app" OR "mobile banking" OR #bankingapp) AND NOT (crypto OR "app store review bot")`; got != want {
		t.Errorf("mobile-app query = %s, want %s", got, want)
	}
	// Search sources ask for what can make a topic match: never a NOT's terms.
	if got, want := topics[0].MatchTerms(), []string{"banking app", "mobile banking", "#bankingapp"}; !reflect.DeepEqual(got, want) {
		t.Errorf("MatchTerms() = %q, want %q", got, want)
	}
	if got, want := topics[1].MatchTerms(), []string{"app", "application", "review", "rating"}; !reflect.DeepEqual(got, want) {
		t.Errorf("MatchTerms() = %q, want %q", got, want)
	}
	if topics[2].Expr != nil || !reflect.DeepEqual(topics[2].MatchTerms(), []string{"instant payment"}) {
		t.Errorf("a topic of terms: Expr %v, MatchTerms %q", topics[2].Expr, topics[2].MatchTerms())
	}
}

// plainHash is QueryHash of Topic{Terms: [banking app]} as written before
// queries existed: sha256("terms:1\n11:banking app\nexclude:0\nlanguages:0\n").
const plainHash = "9de539e9e220"

func TestQueryHashOfQueries(t *testing.T) {
	topic := func(q string) Topic {
		t := Topic{Name: "x", Query: q}
		t.Expr, _ = ParseQuery(q)
		return t
	}
	h := topic(`("Banking App" OR mobile) AND NOT crypto`).QueryHash()
	for _, same := range []string{
		`("banking app" OR Mobile) AND NOT crypto`,
		"(  \"banking   app\"\nOR mobile ) AND NOT (crypto)",
	} {
		if got := topic(same).QueryHash(); got != h {
			t.Errorf("QueryHash(%q) = %s, want unchanged %s", same, got, h)
		}
	}
	for _, changed := range []string{
		`("banking app" OR mobile) AND NOT bitcoin`,
		`("banking app" OR mobile) AND crypto`,
		`(banking AND app OR mobile) AND NOT crypto`,
		`("banking app" NEAR/3 mobile) AND NOT crypto`,
	} {
		if got := topic(changed).QueryHash(); got == h {
			t.Errorf("QueryHash(%q) = %s, want a different hash", changed, got)
		}
	}
	// A topic of terms keeps the hash it had before queries existed (the
	// value computed by the code before this change), so dashboards see no
	// query edit on upgrade.
	if got := (Topic{Terms: []string{"banking app"}}).QueryHash(); got != plainHash {
		t.Errorf("QueryHash of a topic of terms = %s, want %s as before", got, plainHash)
	}
}

// queryTestdata returns the queries of the testdata configurations, valid
// and invalid: the fuzz seed corpus.
func queryTestdata(tb testing.TB) []string {
	files, err := filepath.Glob("testdata/*query*.yml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no query testdata: %v", err)
	}
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if _, q, ok := strings.Cut(line, "query: "); ok {
				out = append(out, strings.Trim(q, "'"))
			}
		}
	}
	return out
}

// FuzzParseQuery: parsing never panics; an error names a column inside the
// query (or just after it); a parsed query prints in a canonical form that
// parses back to itself and needs a term to match.
func FuzzParseQuery(f *testing.F) {
	for _, q := range queryTestdata(f) {
		f.Add(q)
	}
	for _, q := range []string{`a NEAR/3 (b OR "c d")`, `NOT (a OR b) AND c`, `((a`, `a))`, `“x” OR „y“`, `#a OR @b.c`, "NEAR/1 NEAR/1"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s)
		if err != nil {
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("error %v is not a *QueryError", err)
			}
			if qe.Col < 1 || qe.Col > utf8.RuneCountInString(s)+1 {
				t.Fatalf("column %d outside %q", qe.Col, s)
			}
			return
		}
		canon := q.String()
		q2, err := ParseQuery(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if again := q2.String(); again != canon {
			t.Fatalf("canonical form not stable: %q -> %q", canon, again)
		}
		if q.matchesNothing() {
			t.Fatalf("%q parsed but matches posts without any term", s)
		}
	})
}
