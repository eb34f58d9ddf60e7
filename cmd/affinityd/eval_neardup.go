package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/affinityd/affinityd/analysis"
)

// nearDupSet is the labelled pair set committed with the source, found from
// the working directory or the executable like the datasets.
const nearDupSet = "analysis/testdata/neardup/pairs.jsonl"

// nearDupSweep are the thresholds printed beside the configured one, so the
// trade-off between precision and recall is visible.
var nearDupSweep = []float64{0.3, 0.4, 0.5, 0.6, 0.7, 0.8}

// nearDupResult is the JSON output of the neardup evaluator.
type nearDupResult struct {
	File       string                  `json:"file"`
	Configured analysis.NearDupScore   `json:"configured"`
	Sweep      []analysis.NearDupScore `json:"sweep"`
}

// evalNearDupSection scores the near-duplicate keys on labelled pairs
// (--neardup FILE, default the committed set) at the configured threshold.
func evalNearDupSection(o evalOptions, w io.Writer) (any, error) {
	path := o.neardup
	if path == "" {
		path = findNearDupSet()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("neardup: %w (pass --neardup FILE)", err)
	}
	defer f.Close()
	pairs, err := analysis.ReadNearDupPairs(f)
	if err != nil {
		return nil, fmt.Errorf("neardup %s: %w", path, err)
	}
	threshold := o.nearDupThreshold
	if threshold <= 0 {
		threshold = analysis.DefaultNearDupThreshold
	}
	res := nearDupResult{File: path, Configured: analysis.ScoreNearDup(pairs, threshold)}
	for _, t := range nearDupSweep {
		res.Sweep = append(res.Sweep, analysis.ScoreNearDup(pairs, t))
	}
	c := res.Configured
	fmt.Fprintf(w, "near-duplicates %s: %d pairs (%d duplicates), threshold %.2f (%d of %d keys): precision %.3f recall %.3f F1 %.3f\n",
		path, c.Pairs, c.Duplicates, c.Threshold, c.MinBands, analysis.NearDupBands, c.Precision, c.Recall, c.F1)
	fmt.Fprintln(w, "The default threshold was chosen on this same set; the sweep shows the trade-off:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "threshold\tkeys\tP\tR\tF1\tfalse pos\tfalse neg")
	for _, s := range res.Sweep {
		fmt.Fprintf(tw, "%.2f\t%d\t%.3f\t%.3f\t%.3f\t%d\t%d\n", s.Threshold, s.MinBands, s.Precision, s.Recall, s.F1, s.FalsePos, s.FalseNeg)
	}
	tw.Flush()
	return res, nil
}

// findNearDupSet returns the committed pair set as found by findAbove.
func findNearDupSet() string { return findAbove(nearDupSet, fileExists) }

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
