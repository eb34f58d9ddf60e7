package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWeightedPRF(t *testing.T) {
	// Worked by hand: class 0 (2 gold) P=1 R=1/2, class 1 (1 gold) P=1/2 R=1,
	// class 2 (3 gold) P=R=1; F1 per class 2/3, 2/3, 1. Weighted by class size:
	// P=(2·1+1·½+3·1)/6, R=(2·½+1·1+3·1)/6, F1=(2·⅔+1·⅔+3·1)/6.
	gold := []int{0, 0, 1, 2, 2, 2}
	pred := []int{0, 1, 1, 2, 2, 2}
	p, r, f := weightedPRF(gold, pred, 3)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"precision", p, 5.5 / 6}, {"recall", r, 5.0 / 6}, {"f1", f, 5.0 / 6}} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// A class never predicted counts with precision 0, not skipped.
	if p, _, _ := weightedPRF([]int{0, 2}, []int{2, 2}, 3); math.Abs(p-0.25) > 1e-12 {
		t.Errorf("precision with an unpredicted class = %v, want 0.25", p)
	}
}

func TestPearson(t *testing.T) {
	// sxy = 11, sxx = 5, syy = 26 by hand.
	if got, want := pearson([]float64{1, 2, 3, 4}, []float64{2, 4, 5, 9}), 11/math.Sqrt(130); math.Abs(got-want) > 1e-12 {
		t.Errorf("pearson = %v, want %v", got, want)
	}
	if got := pearson([]float64{1, 2, 3}, []float64{3, 2, 1}); math.Abs(got+1) > 1e-12 {
		t.Errorf("pearson of a reversed line = %v, want -1", got)
	}
	if got := pearson([]float64{1, 2, 3}, []float64{5, 5, 5}); got != 0 {
		t.Errorf("pearson with a constant = %v, want 0", got)
	}
}

func TestSentimentClass(t *testing.T) {
	for _, c := range []struct {
		x, cut float64
		want   int
	}{{0.05, 0.05, 1}, {0.0501, 0.05, 2}, {-0.05, 0.05, 1}, {-0.06, 0.05, 0}, {0, 0, 1}, {0.01, 0, 2}} {
		if got := sentimentClass(c.x, c.cut); got != c.want {
			t.Errorf("sentimentClass(%v, %v) = %d, want %d", c.x, c.cut, got, c.want)
		}
	}
}

// TestEvalSentimentDatasets runs the real command on the public VADER sets: a
// regression guard on the figures the README reports.
func TestEvalSentimentDatasets(t *testing.T) {
	dir := findDatasets()
	if !isDir(filepath.Join(dir, "sentiment")) {
		t.Skipf("evaluation sets not found (looked for ../shared/datasets); got %s", dir)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"eval", "--only", "sentiment", "--format", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("eval exited %d: %s", code, stderr.String())
	}
	var out struct {
		Sentiment []sentimentResult `json:"sentiment"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("eval --format json: %v\n%s", err, stdout.String())
	}
	if len(out.Sentiment) != 2 {
		t.Fatalf("got %d sets, want tweets and product reviews", len(out.Sentiment))
	}
	guard := map[string]struct{ minF1, minR float64 }{
		"tweets":               {0.80, 0.70},
		"amazonReviewSnippets": {0.55, 0.50},
	}
	for _, res := range out.Sentiment {
		g, ok := guard[res.Set]
		if !ok {
			t.Errorf("unexpected set %q", res.Set)
			continue
		}
		t.Logf("%s n=%d affinityd r=%.3f P=%.3f R=%.3f F1=%.3f; VADER rules F1=%.3f", res.Set, res.N,
			res.Affinityd.R, res.Affinityd.Precision, res.Affinityd.Recall, res.Affinityd.F1, res.VADERRules.F1)
		if a := res.Affinityd; a.F1 < g.minF1 || a.F1 > 1 || a.R < g.minR {
			t.Errorf("%s: F1 %.3f, r %.3f; want F1 in [%.2f, 1] and r > %.2f", res.Set, a.F1, a.R, g.minF1, g.minR)
		}
		if res.Published == nil || res.TodayF1 == 0 {
			t.Errorf("%s: published figures missing", res.Set)
		}
		// The fixes must not lose against the plain VADER rules they replace.
		if res.Affinityd.F1 < res.VADERRules.F1 {
			t.Errorf("%s: affinityd F1 %.4f below the VADER rules' %.4f", res.Set, res.Affinityd.F1, res.VADERRules.F1)
		}
	}
	stdout.Reset()
	if code := run([]string{"eval", "--only", "sentiment"}, &stdout, &stderr); code != 0 {
		t.Fatalf("eval (text) exited %d: %s", code, stderr.String())
	}
	for _, want := range []string{"== sentiment ==", "tweets", "VADER 2014, published", "0.881", "0.96", "0.948", "0.626"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestEvalSentimentFileAndErrors(t *testing.T) {
	dir := t.TempDir()
	set := filepath.Join(dir, "mine.txt")
	data := "1\t2.5\tI love it :)\r\n2\t-3.0\tthis is terrible, do not buy\r\n3\t0.5\tgood enough\r\n4\t-1\tnot good\r\n"
	if err := os.WriteFile(set, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"eval", "--only", "sentiment", "--sentiment", set}, &stdout, &stderr); code != 0 {
		t.Fatalf("eval --sentiment exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "mine") || strings.Contains(stdout.String(), "published") {
		t.Errorf("own set: want its line without published figures:\n%s", stdout.String())
	}
	// Every text lands on its gold side, so the scores are perfect.
	if !strings.Contains(stdout.String(), "1.000  1.000  1.000") {
		t.Errorf("own set: want P=R=F1=1:\n%s", stdout.String())
	}

	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("1\tnot-a-number\ttext\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run([]string{"eval", "--only", "sentiment", "--sentiment", bad}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "bad.txt:1: mean rating") {
		t.Errorf("bad set: exit %d, stderr %q; want 1 and the file:line", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"eval", "--only", "sentiment", "--datasets", dir}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "--datasets") {
		t.Errorf("missing datasets: exit %d, stderr %q; want 1 and a hint", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"eval", "--only", "nosuch"}, &stdout, &stderr); code != 2 {
		t.Errorf("unknown evaluator: exit %d, want 2", code)
	}
}
