package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/affinityd/affinityd/analysis"
)

// publishedKeyphrase holds the best published per-document mean F1@10 under
// the YAKE paper's protocol (Campos et al., Information Sciences 2020), and
// retext-keywords measured the same way on this machine's sets
// (../shared/bench/keyphrase-compare.sh), by the set's zip name.
var publishedKeyphrase = map[string]struct {
	best   float64
	method string
	retext float64
}{
	"Inspec.zip":            {0.378, "SingleRank", 0.185},
	"500N-KPCrowd-v1.1.zip": {0.173, "YAKE", 0.140},
}

// evalKeyphrases scores analysis.Keyphrases on every keyphrase set (*.zip in
// the LIAAD layout) in dir and prints one line per set beside the published
// figures.
func evalKeyphrases(dir string, w io.Writer) error {
	zips, err := filepath.Glob(filepath.Join(dir, "*.zip"))
	if err != nil {
		return err
	}
	if len(zips) == 0 {
		return fmt.Errorf("eval: keyphrase: no *.zip in %s", dir)
	}
	sort.Strings(zips)
	for _, z := range zips {
		if err := evalKeyphraseZip(z, w); err != nil {
			return err
		}
	}
	return nil
}

// evalKeyphraseZip scores one set, read straight from its zip (never
// extracted), with the YAKE protocol: lower case, punctuation to spaces,
// every word Porter-stemmed, exact match of the top 10 against the gold set,
// P, R and F1 per document averaged over documents (micro F1 beside them).
func evalKeyphraseZip(path string, w io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("eval: keyphrase: %w", err)
	}
	docs, err := analysis.ReadKeyphraseZip(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return fmt.Errorf("eval: keyphrase %s: %w", path, err)
	}
	start := time.Now()
	s := analysis.ScoreKeyphrases(docs, 10, analysis.Keyphrases)
	name := filepath.Base(path)
	line := fmt.Sprintf("keyphrase %-24s docs=%d F1@10=%.3f P@10=%.3f R@10=%.3f microF1@10=%.3f",
		strings.TrimSuffix(name, ".zip"), s.Docs, s.F1, s.P, s.R, s.MicroF1)
	if pub, ok := publishedKeyphrase[name]; ok {
		line += fmt.Sprintf("  published best %.3f (%s), retext-keywords %.3f", pub.best, pub.method, pub.retext)
	}
	_, err = fmt.Fprintf(w, "%s  (%.1fs)\n", line, time.Since(start).Seconds())
	return err
}
