package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// QueryOp is what a node of a boolean topic query does.
type QueryOp uint8

// Query operators. A QueryTerm is a leaf; And and Or have two or more
// operands, Not one, Near two.
const (
	QueryTerm QueryOp = iota
	QueryAnd
	QueryOr
	QueryNot
	QueryNear
)

var queryOpNames = [...]string{"term", "AND", "OR", "NOT", "NEAR"}

func (o QueryOp) String() string {
	if int(o) < len(queryOpNames) {
		return queryOpNames[o]
	}
	return "QueryOp(" + strconv.Itoa(int(o)) + ")"
}

// Query is a parsed boolean topic query, the tree analysis evaluates.
// Precedence, tightest first: NOT, NEAR/n, AND, OR; parentheses group.
type Query struct {
	Op QueryOp
	// Term is a leaf's text as written, without quotes: a word, a quoted
	// phrase, a #hashtag or an @handle. It matches like a topic's plain term
	// (whole words, case-insensitive, a phrase also as its hashtag).
	Term string
	// Phrase reports that the term was quoted.
	Phrase bool
	// Distance is NEAR's n: at most n words between the two sides, in
	// either order.
	Distance int
	Args     []*Query
	// Col is the 1-based column (in characters) where the node starts in
	// the query text, for messages.
	Col int
}

// MaxNearDistance bounds NEAR/n: beyond a few sentences "near" means
// "in the same post", which AND says.
const MaxNearDistance = 100

// maxQueryDepth bounds nesting so a hostile config cannot exhaust the stack.
const maxQueryDepth = 50

// maxQueryLen bounds a query's length in bytes.
const maxQueryLen = 10_000

// QueryError is a problem in a query, at a 1-based column of its text.
type QueryError struct {
	Col int
	Msg string
}

func (e *QueryError) Error() string { return "column " + strconv.Itoa(e.Col) + ": " + e.Msg }

// ParseQuery parses a boolean topic query: terms and "quoted phrases"
// joined by AND, OR, NOT, NEAR/n (upper case) and parentheses. Terms are
// case-insensitive; adjacent terms need an operator (or quotes), so
// "mortgage rate" is never silently read as either a phrase or an AND. A
// query must need at least one of its terms to match: NOT alone would
// match nearly every post. Errors are *QueryError.
func ParseQuery(s string) (*Query, error) {
	if len(s) > maxQueryLen {
		return nil, &QueryError{Col: 1, Msg: fmt.Sprintf("query too long (%d bytes, at most %d)", len(s), maxQueryLen)}
	}
	toks, err := lexQuery(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, &QueryError{Col: 1, Msg: "empty query"}
	}
	p := &queryParser{toks: toks}
	q, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.unexpected(p.toks[p.pos])
	}
	if err := checkNear(q); err != nil {
		return nil, err
	}
	if q.matchesNothing() {
		return nil, &QueryError{Col: q.Col, Msg: "the query matches posts that contain none of its terms; " +
			"NOT needs a positive side, like: banking AND NOT investment"}
	}
	return q, nil
}

type qtokKind uint8

const (
	qtWord qtokKind = iota
	qtPhrase
	qtAnd
	qtOr
	qtNot
	qtNear
	qtOpen
	qtClose
)

type qtok struct {
	kind qtokKind
	text string // word or phrase text; the operator as written
	dist int    // NEAR's n
	col  int
}

func isQuote(r rune) bool { return r == '"' || r == '“' || r == '”' || r == '„' }

// lexQuery splits a query into tokens; columns count characters from 1.
func lexQuery(s string) ([]qtok, error) {
	var toks []qtok
	col := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		col++
		switch {
		case r == utf8.RuneError && n <= 1:
			return nil, &QueryError{Col: col, Msg: "invalid UTF-8"}
		case unicode.IsSpace(r):
			i += n
		case r == '(':
			toks = append(toks, qtok{kind: qtOpen, text: "(", col: col})
			i += n
		case r == ')':
			toks = append(toks, qtok{kind: qtClose, text: ")", col: col})
			i += n
		case isQuote(r):
			start, startCol := i+n, col
			j, c := start, col
			closed := false
			for j < len(s) {
				r2, m := utf8.DecodeRuneInString(s[j:])
				c++
				j += m
				if isQuote(r2) {
					closed = true
					break
				}
			}
			if !closed {
				return nil, &QueryError{Col: startCol, Msg: "unterminated quote"}
			}
			_, qlen := utf8.DecodeLastRuneInString(s[:j])
			phrase := strings.Join(strings.Fields(s[start:j-qlen]), " ")
			if phrase == "" {
				return nil, &QueryError{Col: startCol, Msg: "empty phrase"}
			}
			if !hasWordRune(phrase) {
				return nil, &QueryError{Col: startCol, Msg: fmt.Sprintf("phrase %q has no letters or digits", phrase)}
			}
			toks = append(toks, qtok{kind: qtPhrase, text: phrase, col: startCol})
			i, col = j, c
		default:
			j, c := i, col-1
			for j < len(s) {
				r2, m := utf8.DecodeRuneInString(s[j:])
				if unicode.IsSpace(r2) || r2 == '(' || r2 == ')' || isQuote(r2) {
					break
				}
				j += m
				c++
			}
			t, err := wordToken(s[i:j], col)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i, col = j, c
		}
	}
	return toks, nil
}

// wordToken classifies a bare word: an operator when written in upper case,
// a term otherwise.
func wordToken(w string, col int) (qtok, error) {
	switch {
	case w == "AND":
		return qtok{kind: qtAnd, text: w, col: col}, nil
	case w == "OR":
		return qtok{kind: qtOr, text: w, col: col}, nil
	case w == "NOT":
		return qtok{kind: qtNot, text: w, col: col}, nil
	case w == "NEAR":
		return qtok{}, &QueryError{Col: col, Msg: "NEAR needs a distance in words, like NEAR/5"}
	case strings.HasPrefix(w, "NEAR/"):
		n, err := strconv.Atoi(w[len("NEAR/"):])
		if err != nil || w[len("NEAR/"):][0] == '+' {
			return qtok{}, &QueryError{Col: col, Msg: fmt.Sprintf("%s: the distance must be a whole number of words, like NEAR/5", w)}
		}
		if n < 1 || n > MaxNearDistance {
			return qtok{}, &QueryError{Col: col, Msg: fmt.Sprintf("%s: the distance must be between 1 and %d words", w, MaxNearDistance)}
		}
		return qtok{kind: qtNear, text: w, dist: n, col: col}, nil
	}
	if !hasWordRune(w) {
		return qtok{}, &QueryError{Col: col, Msg: fmt.Sprintf("term %q has no letters or digits", w)}
	}
	return qtok{kind: qtWord, text: w, col: col}, nil
}

func hasWordRune(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }) >= 0
}

// lowerOperators are operators written in lower case: terms, but most likely
// meant as operators, so the "missing operator" message says so.
var lowerOperators = map[string]string{"and": "AND", "or": "OR", "not": "NOT", "near": "NEAR/n"}

type queryParser struct {
	toks []qtok
	pos  int
}

func (p *queryParser) peek() (qtok, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return qtok{}, false
}

// or := and (OR and)*
func (p *queryParser) or(depth int) (*Query, error) {
	return p.nary(depth, qtOr, QueryOr, p.and)
}

// and := near (AND near)*
func (p *queryParser) and(depth int) (*Query, error) {
	return p.nary(depth, qtAnd, QueryAnd, p.near)
}

// nary parses operands joined by one operator into one flat node.
func (p *queryParser) nary(depth int, kind qtokKind, op QueryOp, operand func(int) (*Query, error)) (*Query, error) {
	first, err := operand(depth)
	if err != nil {
		return nil, err
	}
	node := first
	for {
		t, ok := p.peek()
		if !ok || t.kind != kind {
			return node, nil
		}
		p.pos++
		next, err := p.operandAfter(t, depth, operand)
		if err != nil {
			return nil, err
		}
		if node == first {
			node = &Query{Op: op, Args: []*Query{first}, Col: first.Col}
		}
		node.Args = append(node.Args, next)
	}
}

// near := unary (NEAR/n unary)*, left to right.
func (p *queryParser) near(depth int) (*Query, error) {
	left, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.peek()
		if !ok || t.kind != qtNear {
			return left, nil
		}
		p.pos++
		right, err := p.operandAfter(t, depth, p.unary)
		if err != nil {
			return nil, err
		}
		left = &Query{Op: QueryNear, Distance: t.dist, Args: []*Query{left, right}, Col: left.Col}
	}
}

// operandAfter parses the operand an operator needs, saying which operator
// lacks it when there is none.
func (p *queryParser) operandAfter(op qtok, depth int, operand func(int) (*Query, error)) (*Query, error) {
	t, ok := p.peek()
	if !ok || t.kind == qtClose || t.kind == qtAnd || t.kind == qtOr || t.kind == qtNear {
		return nil, &QueryError{Col: op.col, Msg: op.text + " needs a term after it"}
	}
	return operand(depth)
}

// unary := NOT unary | primary
func (p *queryParser) unary(depth int) (*Query, error) {
	t, ok := p.peek()
	if ok && t.kind == qtNot {
		p.pos++
		if depth >= maxQueryDepth {
			return nil, &QueryError{Col: t.col, Msg: fmt.Sprintf("nested deeper than %d levels", maxQueryDepth)}
		}
		arg, err := p.operandAfter(t, depth+1, p.unary)
		if err != nil {
			return nil, err
		}
		return &Query{Op: QueryNot, Args: []*Query{arg}, Col: t.col}, nil
	}
	return p.primary(depth)
}

// primary := term | phrase | ( or )
func (p *queryParser) primary(depth int) (*Query, error) {
	t, ok := p.peek()
	if !ok {
		last := p.toks[len(p.toks)-1]
		return nil, &QueryError{Col: last.col, Msg: "unexpected end of query after " + quoteTok(last)}
	}
	var q *Query
	switch t.kind {
	case qtWord, qtPhrase:
		p.pos++
		q = &Query{Op: QueryTerm, Term: t.text, Phrase: t.kind == qtPhrase, Col: t.col}
	case qtOpen:
		p.pos++
		if depth >= maxQueryDepth {
			return nil, &QueryError{Col: t.col, Msg: fmt.Sprintf("nested deeper than %d levels", maxQueryDepth)}
		}
		if next, ok := p.peek(); ok && next.kind == qtClose {
			return nil, &QueryError{Col: t.col, Msg: "empty parentheses"}
		}
		inner, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if next, ok := p.peek(); !ok || next.kind != qtClose {
			if !ok {
				return nil, &QueryError{Col: t.col, Msg: "unbalanced parenthesis: this ( is never closed"}
			}
			return nil, p.unexpected(next)
		}
		p.pos++
		q = inner
	default:
		return nil, p.unexpected(t)
	}
	// Two operands in a row: say which operator is missing.
	if next, ok := p.peek(); ok && (next.kind == qtWord || next.kind == qtPhrase || next.kind == qtOpen || next.kind == qtNot) {
		return nil, missingOperator(p.toks[p.pos-1], next)
	}
	return q, nil
}

func missingOperator(prev, next qtok) error {
	msg := fmt.Sprintf("missing operator between %s and %s", quoteTok(prev), quoteTok(next))
	switch {
	case next.kind == qtWord && lowerOperators[strings.ToLower(strings.SplitN(next.text, "/", 2)[0])] != "":
		msg += fmt.Sprintf(" (operators are upper case: %s)", lowerOperators[strings.ToLower(strings.SplitN(next.text, "/", 2)[0])])
	case next.kind == qtNot:
		msg += " (write AND NOT)"
	case prev.kind == qtWord && next.kind == qtWord:
		msg += fmt.Sprintf(` (join terms with AND, OR or NEAR/n, or quote a phrase: "%s %s")`, prev.text, next.text)
	default:
		msg += " (join them with AND, OR or NEAR/n)"
	}
	return &QueryError{Col: next.col, Msg: msg}
}

// unexpected explains a token that cannot stand where it is.
func (p *queryParser) unexpected(t qtok) error {
	switch t.kind {
	case qtClose:
		return &QueryError{Col: t.col, Msg: "unbalanced parenthesis: ) without a matching ("}
	case qtAnd, qtOr, qtNear:
		return &QueryError{Col: t.col, Msg: t.text + " needs a term before it"}
	}
	return &QueryError{Col: t.col, Msg: "unexpected " + quoteTok(t)}
}

func quoteTok(t qtok) string {
	switch t.kind {
	case qtPhrase:
		return strconv.Quote(t.text)
	case qtWord:
		return strconv.Quote(t.text)
	}
	return t.text
}

// checkNear requires NEAR's sides to be things with a place in the text:
// terms, phrases, OR groups of them or other NEARs. "a AND b" or "NOT a" has
// no position to be near to.
func checkNear(q *Query) error {
	for _, a := range q.Args {
		if err := checkNear(a); err != nil {
			return err
		}
	}
	if q.Op != QueryNear {
		return nil
	}
	for _, a := range q.Args {
		if bad := placeless(a); bad != nil {
			return &QueryError{Col: bad.Col, Msg: fmt.Sprintf("NEAR/%d needs terms, phrases or OR groups of them on each side, not %s", q.Distance, bad.Op)}
		}
	}
	return nil
}

// placeless returns the first node under q (q included) that has no position.
func placeless(q *Query) *Query {
	switch q.Op {
	case QueryAnd, QueryNot:
		return q
	case QueryOr, QueryNear:
		for _, a := range q.Args {
			if bad := placeless(a); bad != nil {
				return bad
			}
		}
	}
	return nil
}

// matchesNothing reports whether q holds for a post with none of its terms.
func (q *Query) matchesNothing() bool {
	switch q.Op {
	case QueryTerm, QueryNear:
		return false
	case QueryNot:
		return !q.Args[0].matchesNothing()
	case QueryAnd:
		for _, a := range q.Args {
			if !a.matchesNothing() {
				return false
			}
		}
		return true
	default: // QueryOr
		return slices.ContainsFunc(q.Args, (*Query).matchesNothing)
	}
}

// String is the query in canonical form: every group in parentheses,
// phrases quoted, terms as written.
func (q *Query) String() string {
	var b strings.Builder
	q.write(&b, false)
	return b.String()
}

func (q *Query) write(b *strings.Builder, fold bool) {
	switch q.Op {
	case QueryTerm:
		t := q.Term
		if fold {
			t = strings.ToLower(t)
		}
		if q.Phrase { // a phrase holds no quote: written back as it was read
			b.WriteString(`"` + t + `"`)
		} else {
			b.WriteString(t)
		}
	case QueryNot:
		b.WriteString("NOT ")
		q.Args[0].writeArg(b, fold)
	default:
		sep := " " + q.Op.String() + " "
		if q.Op == QueryNear {
			sep = " NEAR/" + strconv.Itoa(q.Distance) + " "
		}
		for i, a := range q.Args {
			if i > 0 {
				b.WriteString(sep)
			}
			a.writeArg(b, fold)
		}
	}
}

func (q *Query) writeArg(b *strings.Builder, fold bool) {
	if q.Op == QueryTerm || q.Op == QueryNot { // NOT binds tighter than any operator
		q.write(b, fold)
		return
	}
	b.WriteByte('(')
	q.write(b, fold)
	b.WriteByte(')')
}

// Terms returns the leaves of q in order of appearance; positive reports
// for each whether it is not under a NOT (so its presence can make the
// query match).
func (q *Query) Terms() (terms []*Query, positive []bool) {
	var walk func(n *Query, neg bool)
	walk = func(n *Query, neg bool) {
		if n.Op == QueryTerm {
			terms = append(terms, n)
			positive = append(positive, !neg)
			return
		}
		for _, a := range n.Args {
			walk(a, neg != (n.Op == QueryNot))
		}
	}
	walk(q, false)
	return terms, positive
}

// MatchTerms returns the words and phrases that make the topic match: its
// terms and synonyms, or the terms of its query not under a NOT, each once
// (compared without case). Search sources ask their platforms for these;
// analysis decides what really matches.
func (t Topic) MatchTerms() []string {
	if t.Expr == nil {
		return slices.Concat(t.Terms, t.Synonyms)
	}
	var out []string
	seen := map[string]bool{}
	terms, positive := t.Expr.Terms()
	for i, leaf := range terms {
		if k := strings.ToLower(leaf.Term); positive[i] && !seen[k] {
			seen[k] = true
			out = append(out, leaf.Term)
		}
	}
	return out
}

// canonicalQuery is the query as QueryHash sees it: parsed, folded and fully
// parenthesized, so spacing and case do not count; the trimmed text when it
// does not parse (it never reaches a hash from a loaded config then).
func (t Topic) canonicalQuery() string {
	q := t.Expr
	if q == nil {
		var err error
		if q, err = ParseQuery(t.Query); err != nil {
			return strings.TrimSpace(t.Query)
		}
	}
	var b strings.Builder
	q.write(&b, true)
	return b.String()
}

// validateQuery checks a topic's query and how it combines with terms.
func (v *validator) validateQuery(t Topic, field string) {
	qf := field + ".query"
	if strings.TrimSpace(t.Query) == "" {
		v.errorf(qf, "must not be blank")
		return
	}
	if len(t.Terms) > 0 || len(t.Synonyms) > 0 {
		v.errorf(qf, "set either terms (and synonyms) or query, not both; put the terms into the query joined with OR")
	}
	if _, err := ParseQuery(t.Query); err != nil {
		v.errorf(qf, "%s", err)
	}
}
