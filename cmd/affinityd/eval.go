package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kingpin/v2"

	"github.com/affinityd/affinityd/analysis"
)

// addEvalCommand registers `affinityd eval` and its flags on app.
func addEvalCommand(app *kingpin.Application) (*kingpin.CmdClause, *evalOptions) {
	o := &evalOptions{}
	cmd := app.Command("eval", "Score sentiment and keyphrases on public ground-truth sets, beside the published figures.")
	cmd.Flag("datasets", "Directory of the evaluation sets (sentiment/, keyphrase/); default ../shared/datasets from the working directory, the repository or the executable.").Default("").StringVar(&o.datasets)
	cmd.Flag("sentiment", "A sentiment set (ID<TAB>mean rating<TAB>text) to score instead of the VADER sets; repeatable.").StringsVar(&o.sentiment)
	cmd.Flag("keyphrase", "A keyphrase set (zip of docsutf8/NAME.txt and keys/NAME.key) to score instead of the sets under --datasets; repeatable.").StringsVar(&o.keyphrase)
	cmd.Flag("neardup", "Labelled near-duplicate pairs (JSON lines: a, b, duplicate) to score instead of analysis/testdata/neardup/pairs.jsonl.").Default("").StringVar(&o.neardup)
	cmd.Flag("only", "Run only this evaluator (sentiment, keyphrases, neardup); repeatable.").StringsVar(&o.only)
	cmd.Flag("format", "Output format.").Default("text").EnumVar(&o.format, "text", "json")
	return cmd, o
}

// evalOptions are the flags of `affinityd eval`.
type evalOptions struct {
	datasets  string   // directory in the layout of ../shared/datasets; "" finds it
	sentiment []string // sentiment sets (ID<TAB>mean<TAB>text); default the two VADER sets under datasets
	keyphrase []string // keyphrase zips (LIAAD layout); default every *.zip under datasets/keyphrase
	only      []string // evaluator names to run; default all
	format    string   // text or json
	neardup   string   // labelled near-duplicate pairs; "" finds the committed set
	// nearDupThreshold is analysis.near_duplicates.threshold of --config.file
	// (or the demo's); 0 uses the default.
	nearDupThreshold float64
}

// evaluator is one section of `affinityd eval`. Sections are independent:
// adding a measurement is one entry in evaluators. run writes its text table
// to w and returns what the JSON output shows (nil: the text is shown).
type evaluator struct {
	name string
	run  func(o evalOptions, w io.Writer) (any, error)
}

var evaluators = []evaluator{
	{"sentiment", evalSentimentSection},
	{"keyphrases", evalKeyphraseSection},
	{"neardup", evalNearDupSection},
}

// runEval prints every selected evaluator's figures beside the published ones.
func runEval(o evalOptions, stdout, stderr io.Writer) int {
	if o.datasets == "" {
		o.datasets = findDatasets()
	}
	out := map[string]any{}
	ran := 0
	for _, ev := range evaluators {
		if len(o.only) > 0 && !containsString(o.only, ev.name) {
			continue
		}
		ran++
		var text bytes.Buffer
		res, err := ev.run(o, &text)
		if err != nil {
			fmt.Fprintf(stderr, "affinityd: eval %s: %v\n", ev.name, err)
			return 1
		}
		if o.format == "json" {
			if res == nil {
				res = map[string]string{"text": text.String()}
			}
			out[ev.name] = res
			continue
		}
		fmt.Fprintf(stdout, "== %s ==\n%s\n", ev.name, text.String())
	}
	if ran == 0 {
		fmt.Fprintf(stderr, "affinityd: eval: no evaluator named %s\n", strings.Join(o.only, ", "))
		return 2
	}
	if o.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "affinityd: eval: %v\n", err)
			return 1
		}
	}
	return 0
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// findDatasets returns ../shared/datasets as found by findAbove.
func findDatasets() string { return findAbove("../shared/datasets", isDir) }

// findAbove returns the first rel that exists relative to the working
// directory, to the directories above it (go test runs in cmd/affinityd), to
// the executable's directory or above; else rel itself, which the caller's
// error then names.
func findAbove(rel string, exists func(string) bool) string {
	var bases []string
	if wd, err := os.Getwd(); err == nil {
		bases = append(bases, ancestors(wd)...)
	}
	if exe, err := os.Executable(); err == nil {
		bases = append(bases, ancestors(filepath.Dir(exe))...)
	}
	for _, b := range bases {
		if p := filepath.Join(b, rel); exists(p) {
			return p
		}
	}
	return rel
}

func ancestors(dir string) []string {
	var out []string
	for range 4 {
		out = append(out, dir)
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return out
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// publishedSentiment are the figures beside which each VADER set is printed:
// the paper's Table 4 (Hutto & Gilbert 2014) and VADER 3.3.x run the same way,
// from ../shared/datasets/README.md.
var publishedSentiment = map[string]struct {
	R, P, Recall, F1 float64
	TodayF1          float64
}{
	"tweets_GroundTruth.txt":               {0.881, 0.99, 0.94, 0.96, 0.948},
	"amazonReviewSnippets_GroundTruth.txt": {0.565, 0.78, 0.55, 0.63, 0.626},
}

// sentimentFigures are the paper's four figures for one scorer on one set.
type sentimentFigures struct {
	R         float64 `json:"pearson_r"`
	Precision float64 `json:"precision_weighted"`
	Recall    float64 `json:"recall_weighted"`
	F1        float64 `json:"f1_weighted"`
}

// sentimentResult is one set's line of the report.
type sentimentResult struct {
	Set       string           `json:"set"`
	File      string           `json:"file"`
	N         int              `json:"n"`
	Classes   [3]int           `json:"gold_classes"` // negative, neutral, positive
	Affinityd sentimentFigures `json:"affinityd"`
	// Dev and HeldOut split Affinityd by analysis.SentimentDevSplit: rules
	// were chosen on the dev half, so the held-out half is the honest figure.
	Dev        sentimentFigures  `json:"affinityd_dev"`
	HeldOut    sentimentFigures  `json:"affinityd_held_out"`
	DevN       int               `json:"dev_n"`
	VADERRules sentimentFigures  `json:"vader_rules"` // our scorer with the plain VADER 3.3 rules: the "before"
	Published  *sentimentFigures `json:"published_vader_2014,omitempty"`
	TodayF1    float64           `json:"published_vader_3_3_f1,omitempty"`
}

func evalSentimentSection(o evalOptions, w io.Writer) (any, error) {
	files := o.sentiment
	if len(files) == 0 {
		for _, f := range []string{"tweets_GroundTruth.txt", "amazonReviewSnippets_GroundTruth.txt"} {
			files = append(files, filepath.Join(o.datasets, "sentiment", f))
		}
	}
	ours, vader := analysis.DefaultSentiment(), analysis.NewVADERSentiment()
	var results []sentimentResult
	for _, f := range files {
		res, err := evalSentimentFile(f, ours, vader)
		if errors.Is(err, fs.ErrNotExist) && len(o.sentiment) == 0 {
			return nil, fmt.Errorf("%w: %v", errNoDatasets, err)
		}
		if err != nil {
			return nil, err
		}
		results = append(results, res)
	}
	writeSentimentTable(w, results)
	return results, nil
}

// evalSentimentFile scores one set with the paper's protocol: the gold class
// is the sign of the mean rating, the predicted class the compound score cut
// at ±0.05, P/R/F1 averaged over the classes weighted by class size, and r
// the Pearson correlation of the compound with the mean rating. Texts pass
// through analysis.Normalize first, as every post does in Analyze.
func evalSentimentFile(path string, scorers ...*analysis.Sentiment) (sentimentResult, error) {
	ids, gold, texts, err := readSentimentSet(path)
	if err != nil {
		return sentimentResult{}, err
	}
	res := sentimentResult{Set: strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".txt"), "_GroundTruth"), File: path, N: len(gold)}
	goldClass := make([]int, len(gold))
	for i, g := range gold {
		goldClass[i] = sentimentClass(g, 0)
		res.Classes[goldClass[i]]++
	}
	figs := make([]sentimentFigures, len(scorers))
	for k, s := range scorers {
		pred := make([]float64, len(texts))
		predClass := make([]int, len(texts))
		for i, t := range texts {
			pred[i] = s.Score(analysis.Normalize(t))
			predClass[i] = sentimentClass(pred[i], 0.05)
		}
		figs[k] = sentimentFiguresOf(gold, pred, goldClass, predClass)
		if k == 0 {
			var half [2]struct {
				gold, pred   []float64
				gcls, pclass []int
			}
			for i, id := range ids {
				h := &half[1]
				if analysis.SentimentDevSplit(id) {
					h = &half[0]
				}
				h.gold, h.pred = append(h.gold, gold[i]), append(h.pred, pred[i])
				h.gcls, h.pclass = append(h.gcls, goldClass[i]), append(h.pclass, predClass[i])
			}
			for j, dst := range []*sentimentFigures{&res.Dev, &res.HeldOut} {
				*dst = sentimentFiguresOf(half[j].gold, half[j].pred, half[j].gcls, half[j].pclass)
			}
			res.DevN = len(half[0].gold)
		}
	}
	if len(figs) > 0 {
		res.Affinityd = figs[0]
	}
	if len(figs) > 1 {
		res.VADERRules = figs[1]
	}
	if pub, ok := publishedSentiment[filepath.Base(path)]; ok {
		res.Published = &sentimentFigures{R: pub.R, Precision: pub.P, Recall: pub.Recall, F1: pub.F1}
		res.TodayF1 = pub.TodayF1
	}
	return res, nil
}

// sentimentFiguresOf is r of the compound scores and the class-weighted
// P/R/F1 of the predicted classes.
func sentimentFiguresOf(gold, pred []float64, goldClass, predClass []int) sentimentFigures {
	p, r, f := weightedPRF(goldClass, predClass, 3)
	return sentimentFigures{R: pearson(pred, gold), Precision: p, Recall: r, F1: f}
}

// readSentimentSet reads ID<TAB>mean<TAB>text lines (CRLF or LF).
func readSentimentSet(path string) (ids []string, gold []float64, texts []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		parts := strings.SplitN(l, "\t", 3)
		if len(parts) < 3 {
			return nil, nil, nil, fmt.Errorf("%s:%d: want ID<TAB>mean<TAB>text", path, line)
		}
		g, err := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s:%d: mean rating: %w", path, line, err)
		}
		ids = append(ids, parts[0])
		gold = append(gold, g)
		texts = append(texts, parts[2])
	}
	if err := sc.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(gold) == 0 {
		return nil, nil, nil, fmt.Errorf("%s: no rated texts", path)
	}
	return ids, gold, texts, nil
}

// sentimentClass is 0 negative, 1 neutral, 2 positive, with |x| <= cut neutral.
func sentimentClass(x, cut float64) int {
	switch {
	case x > cut:
		return 2
	case x < -cut:
		return 0
	}
	return 1
}

// weightedPRF is precision, recall and F1 per class, averaged with each
// class weighted by its share of the gold labels (scikit-learn's
// average="weighted", the paper's Table 4). A class never predicted has
// precision 0.
func weightedPRF(gold, pred []int, classes int) (p, r, f float64) {
	tp := make([]float64, classes)
	predicted := make([]float64, classes)
	actual := make([]float64, classes)
	for i := range gold {
		actual[gold[i]]++
		predicted[pred[i]]++
		if gold[i] == pred[i] {
			tp[gold[i]]++
		}
	}
	n := float64(len(gold))
	if n == 0 {
		return 0, 0, 0
	}
	for c := range classes {
		var pc, rc, fc float64
		if predicted[c] > 0 {
			pc = tp[c] / predicted[c]
		}
		if actual[c] > 0 {
			rc = tp[c] / actual[c]
		}
		if pc+rc > 0 {
			fc = 2 * pc * rc / (pc + rc)
		}
		wgt := actual[c] / n
		p += wgt * pc
		r += wgt * rc
		f += wgt * fc
	}
	return p, r, f
}

// pearson is the correlation coefficient of x and y; 0 when either is constant.
func pearson(x, y []float64) float64 {
	n := float64(len(x))
	if n == 0 || len(x) != len(y) {
		return 0
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return 0
	}
	return sxy / math.Sqrt(sxx*syy)
}

func writeSentimentTable(w io.Writer, results []sentimentResult) {
	fmt.Fprintln(w, "VADER protocol: gold = sign of the mean rating, predicted = compound cut at ±0.05,")
	fmt.Fprintln(w, "P/R/F1 weighted by class size, r = Pearson of compound with the mean rating.")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "set\tn (neg/neu/pos)\tscorer\tr\tP\tR\tF1")
	for _, res := range results {
		fmt.Fprintf(tw, "%s\t%d (%d/%d/%d)\taffinityd\t%.3f\t%.3f\t%.3f\t%.3f\n", res.Set, res.N,
			res.Classes[0], res.Classes[1], res.Classes[2], res.Affinityd.R, res.Affinityd.Precision, res.Affinityd.Recall, res.Affinityd.F1)
		fmt.Fprintf(tw, "\t%d dev\taffinityd, dev half\t%.3f\t%.3f\t%.3f\t%.3f\n", res.DevN,
			res.Dev.R, res.Dev.Precision, res.Dev.Recall, res.Dev.F1)
		fmt.Fprintf(tw, "\t%d held out\taffinityd, held-out half\t%.3f\t%.3f\t%.3f\t%.3f\n", res.N-res.DevN,
			res.HeldOut.R, res.HeldOut.Precision, res.HeldOut.Recall, res.HeldOut.F1)
		fmt.Fprintf(tw, "\t\tVADER rules (our port)\t%.3f\t%.3f\t%.3f\t%.3f\n",
			res.VADERRules.R, res.VADERRules.Precision, res.VADERRules.Recall, res.VADERRules.F1)
		if p := res.Published; p != nil {
			fmt.Fprintf(tw, "\t\tVADER 2014, published\t%.3f\t%.2f\t%.2f\t%.2f\n", p.R, p.Precision, p.Recall, p.F1)
			fmt.Fprintf(tw, "\t\tVADER 3.3.x, published\t-\t-\t-\t%.3f\n", res.TodayF1)
		}
	}
	tw.Flush()
}

// errNoDatasets is returned when a default set is missing, with the fix.
var errNoDatasets = errors.New("eval: datasets not found; pass --datasets DIR (the layout of ../shared/datasets)")
