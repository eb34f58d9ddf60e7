package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/analysis"
	"github.com/affinityd/affinityd/config"
	"github.com/affinityd/affinityd/store"
	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
)

// queryOptions are the flags of `affinityd query`.
type queryOptions struct {
	topic   string // a configured topic
	query   string // or an ad-hoc boolean query
	since   string // a Prometheus duration; how far back the stored posts reach
	samples int    // sample hits to print
}

func addQueryCommand(app *kingpin.Application) (*kingpin.CmdClause, *queryOptions) {
	o := &queryOptions{}
	cmd := app.Command("query", "Backtest a topic (or an ad-hoc query) on the stored posts: matches per source and week, sample hits, likely false positives.")
	cmd.Flag("topic", "A topic of the configuration.").StringVar(&o.topic)
	cmd.Flag("query", `An ad-hoc boolean query, e.g. '("banking app" OR #acmeapp) AND NOT crypto'.`).StringVar(&o.query)
	cmd.Flag("since", "How far back to read stored posts, e.g. 30d or 12h.").Default("30d").StringVar(&o.since)
	cmd.Flag("samples", "Sample hits to print, newest first.").Default("10").IntVar(&o.samples)
	return cmd, o
}

const (
	// shortTermLetters: a single word this short is often an abbreviation
	// or another word ("app", "ing", "EV").
	shortTermLetters = 3
	// commonShare: a term or query in more than this share of the posts is
	// too common to mean a topic.
	commonShare = 0.5
	// minPostsForShare keeps the share warning from firing on a handful of posts.
	minPostsForShare = 10
	// snippetContext is how much text a sample shows around its hits, in bytes.
	snippetContext = 80
)

// queryBacktest is what `affinityd query` counts over the stored posts.
type queryBacktest struct {
	probe      *analysis.Probe
	topic      config.Topic
	scanned    int
	matched    int
	bySource   map[string][2]int // source -> posts, matched
	byWeek     map[string]int    // ISO week -> matched
	termPosts  []int             // per probe term: posts it occurs in
	inside     []int             // per probe term: posts where it occurs inside a longer word
	insideWord []string          // per probe term: one such longer word
	samples    []querySample     // the latest matches, oldest first
	maxSamples int
}

type querySample struct {
	post    affinity.Post
	snippet string
}

func runQuery(g globalFlags, logger *slog.Logger, o queryOptions, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "affinityd: query: "+format+"\n", args...)
		return 1
	}
	if (o.topic == "") == (o.query == "") {
		return fail("give either --topic or --query")
	}
	since, err := model.ParseDuration(o.since)
	if err != nil || since <= 0 {
		return fail("--since %q: want a positive duration such as 30d or 12h", o.since)
	}
	l, err := loadConfig(g)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	topic, err := queryTopic(l.cfg, o)
	if err != nil {
		return fail("%v", err)
	}
	probe, err := analysis.NewProbe(topic)
	if err != nil {
		return fail("%v", err)
	}
	st, err := openStore(ctx, g, l.cfg, logger)
	if err != nil {
		return fail("%v", err)
	}
	defer st.Close()
	reader, ok := st.(store.PostReader)
	if !ok {
		return fail("the store driver cannot list stored posts")
	}
	from := time.Now().Add(-time.Duration(since))
	bt := newQueryBacktest(probe, topic, o.samples)
	if err := reader.StoredPosts(ctx, from, func(p affinity.Post) error {
		bt.add(p)
		return ctx.Err()
	}); err != nil {
		return fail("%v", err)
	}
	bt.print(stdout, from, o.since)
	return 0
}

// queryTopic is the configured topic --topic names, or a topic made of
// --query with no language restriction.
func queryTopic(cfg *config.Config, o queryOptions) (config.Topic, error) {
	if o.topic != "" {
		t, _, ok := cfg.Topic(o.topic)
		if !ok {
			var names []string
			for _, t := range cfg.Topics() {
				names = append(names, t.Name)
			}
			return config.Topic{}, fmt.Errorf("no topic %q in the configuration (topics: %s)", o.topic, strings.Join(names, ", "))
		}
		return t, nil
	}
	q, err := config.ParseQuery(o.query)
	if err != nil {
		return config.Topic{}, fmt.Errorf("--query: %w", err)
	}
	return config.Topic{Name: "query", Query: o.query, Expr: q}, nil
}

func newQueryBacktest(p *analysis.Probe, t config.Topic, samples int) *queryBacktest {
	n := len(p.Terms())
	return &queryBacktest{
		probe: p, topic: t, maxSamples: max(samples, 0),
		bySource: map[string][2]int{}, byWeek: map[string]int{},
		termPosts: make([]int, n), inside: make([]int, n), insideWord: make([]string, n),
	}
}

// add runs the topic over one stored post.
func (bt *queryBacktest) add(p affinity.Post) {
	text := joinText(analysis.Normalize(p.Title), analysis.Normalize(p.Text))
	lang := analysis.BaseLanguage(p.Language)
	if lang == "" && len(bt.topic.Languages) > 0 {
		// Stored without one (matched nothing at ingest, or stored before
		// languages were kept): detect it as the daemon would now.
		lang = analysis.DetectLanguage(analysis.Tokenize(text))
	}
	r := bt.probe.Run(text, lang)
	bt.scanned++
	src := bt.bySource[p.Source]
	src[0]++
	for _, i := range r.Terms {
		bt.termPosts[i]++
	}
	for _, f := range r.Inside {
		bt.inside[f.Term]++
		if bt.insideWord[f.Term] == "" {
			bt.insideWord[f.Term] = f.Word
		}
	}
	if r.Match {
		bt.matched++
		src[1]++
		y, w := p.Time().UTC().ISOWeek()
		bt.byWeek[fmt.Sprintf("%d-W%02d", y, w)]++
		if bt.maxSamples > 0 {
			if len(bt.samples) == bt.maxSamples {
				bt.samples = bt.samples[1:]
			}
			bt.samples = append(bt.samples, querySample{post: p, snippet: snippet(text, r.Spans)})
		}
	}
	bt.bySource[p.Source] = src
}

func joinText(title, text string) string {
	switch {
	case title == "":
		return text
	case text == "":
		return title
	}
	return title + " — " + text
}

// snippet is the text around the hits with each hit marked «…», cut to
// about snippetContext bytes before the first hit and after the last one
// shown.
func snippet(text string, spans []analysis.Span) string {
	if len(spans) == 0 {
		return cut(text, 0, min(len(text), 2*snippetContext), "")
	}
	start := max(0, spans[0].Start-snippetContext)
	for start > 0 && !utf8.RuneStart(text[start]) {
		start--
	}
	var b strings.Builder
	if start > 0 {
		b.WriteString("…")
	}
	pos := start
	for _, s := range spans {
		if s.Start-pos > 2*snippetContext { // a hit far away: leave the rest out
			break
		}
		b.WriteString(text[pos:s.Start] + "«" + text[s.Start:s.End] + "»")
		pos = s.End
	}
	end := min(len(text), pos+snippetContext)
	b.WriteString(cut(text, pos, end, "…"))
	return b.String()
}

// cut returns text[from:to] ending on a rune boundary, with more appended
// when text goes on.
func cut(text string, from, to int, more string) string {
	for to < len(text) && to > from && !utf8.RuneStart(text[to]) {
		to--
	}
	if to < len(text) {
		return text[from:to] + more
	}
	return text[from:]
}

// warnings are the likely false positives of the topic on these posts.
func (bt *queryBacktest) warnings() []string {
	var out []string
	share := func(n int) float64 { return float64(n) / float64(max(bt.scanned, 1)) }
	for i, term := range bt.probe.Terms() {
		if letters := countLetters(term); !strings.ContainsAny(term, " #@-") && letters <= shortTermLetters {
			out = append(out, fmt.Sprintf("term %q has only %d letters: short words are often abbreviations or other words; prefer a phrase or a NEAR", term, letters))
		}
		if bt.inside[i] > 0 {
			out = append(out, fmt.Sprintf("term %q also occurs inside longer words in %d posts (e.g. %q): a short fragment that may mean something else (affinityd matches whole words, a platform's search may not)",
				term, bt.inside[i], bt.insideWord[i]))
		}
		if bt.scanned >= minPostsForShare && share(bt.termPosts[i]) > commonShare {
			out = append(out, fmt.Sprintf("term %q occurs in %d of %d posts (%.0f%%): too common to mean the topic on its own",
				term, bt.termPosts[i], bt.scanned, 100*share(bt.termPosts[i])))
		}
	}
	if bt.scanned >= minPostsForShare && share(bt.matched) > commonShare {
		out = append(out, fmt.Sprintf("the topic matches %d of %d posts (%.0f%%): most likely too broad",
			bt.matched, bt.scanned, 100*share(bt.matched)))
	}
	return out
}

func countLetters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			n++
		}
	}
	return n
}

func (bt *queryBacktest) print(w io.Writer, from time.Time, since string) {
	what := "terms: " + strings.Join(bt.topic.MatchTerms(), ", ")
	if bt.topic.Expr != nil {
		what = "query: " + bt.topic.Expr.String()
	}
	fmt.Fprintf(w, "topic %s (%s)\n", bt.topic.Name, what)
	if len(bt.topic.Exclude) > 0 {
		fmt.Fprintf(w, "exclude: %s\n", strings.Join(bt.topic.Exclude, ", "))
	}
	if len(bt.topic.Languages) > 0 {
		fmt.Fprintf(w, "languages: %s (posts of undetermined language count)\n", strings.Join(bt.topic.Languages, ", "))
	}
	pct := 0.0
	if bt.scanned > 0 {
		pct = 100 * float64(bt.matched) / float64(bt.scanned)
	}
	fmt.Fprintf(w, "%d stored posts since %s (%s), %d matched (%.1f%%)\n", bt.scanned, from.UTC().Format(time.DateOnly), since, bt.matched, pct)
	if bt.scanned == 0 {
		fmt.Fprintln(w, "\nno stored posts in this time; run `affinityd scan`, `replay` or the daemon on this store first, or widen --since")
		return
	}

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "SOURCE\tPOSTS\tMATCHED\t")
	for _, s := range slices.Sorted(maps.Keys(bt.bySource)) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", s, bt.bySource[s][0], bt.bySource[s][1])
	}
	_ = tw.Flush()

	if len(bt.byWeek) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "WEEK\tMATCHED\t")
		for _, wk := range slices.Sorted(maps.Keys(bt.byWeek)) {
			fmt.Fprintf(tw, "%s\t%d\t\n", wk, bt.byWeek[wk])
		}
		_ = tw.Flush()
	}

	fmt.Fprintln(w)
	fmt.Fprintln(tw, "TERM\tPOSTS\t")
	for i, term := range bt.probe.Terms() {
		fmt.Fprintf(tw, "%s\t%d\t\n", term, bt.termPosts[i])
	}
	_ = tw.Flush()

	if len(bt.samples) > 0 {
		fmt.Fprintf(w, "\nsample hits, newest first:\n")
		for i := len(bt.samples) - 1; i >= 0; i-- {
			s := bt.samples[i]
			fmt.Fprintf(w, "- %s %s %s\n  %s\n", s.post.Time().UTC().Format(time.DateOnly), s.post.Source, s.post.URL, s.snippet)
		}
	}
	if warns := bt.warnings(); len(warns) > 0 {
		fmt.Fprintf(w, "\nwarnings (likely false positives):\n")
		for _, msg := range warns {
			fmt.Fprintf(w, "- %s\n", msg)
		}
	}
}
