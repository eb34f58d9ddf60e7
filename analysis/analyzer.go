// Package analysis turns a post's text into what affinityd counts: it
// normalizes HTML and plain text, tokenizes with prose, finds the configured
// topics and brands with a whole-word gazetteer and scores engagement. It
// knows text, nothing about HTTP or storage, and is deterministic: the same
// post and config always give the same analysis.
package analysis

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

// Analyzer runs the analysis stages for one config. It is immutable and safe
// for concurrent use; on reload build a new one and swap it whole.
type Analyzer struct {
	matcher *Matcher
}

// New compiles cfg's topics and brands into an Analyzer.
func New(cfg *config.Config) (*Analyzer, error) {
	m, err := NewMatcher(cfg)
	if err != nil {
		return nil, err
	}
	return &Analyzer{matcher: m}, nil
}

// Analyze finds the topics and brands in a post's title and text and scores
// its engagement. Sentiment is left 0 for the sentiment stage.
func (a *Analyzer) Analyze(p affinity.Post) affinity.Analysis {
	tokens := Tokenize(Normalize(p.Title))
	tokens = append(tokens, Tokenize(Normalize(p.Text))...)
	topics, brands := a.matcher.Match(tokens, p.Language)
	return affinity.Analysis{
		Topics:     topics,
		Brands:     brands,
		Engagement: EngagementScore(p.Engagement),
	}
}

// AnalyzeBatch analyzes posts on up to GOMAXPROCS goroutines and returns the
// results in input order.
func (a *Analyzer) AnalyzeBatch(posts []affinity.Post) []affinity.AnalyzedPost {
	out := make([]affinity.AnalyzedPost, len(posts))
	workers := min(runtime.GOMAXPROCS(0), len(posts))
	var next atomic.Int64 // posts are claimed one by one, so a slow post does not hold up a fixed share
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(posts) {
					return
				}
				out[i] = affinity.AnalyzedPost{Post: posts[i], Analysis: a.Analyze(posts[i])}
			}
		})
	}
	wg.Wait()
	return out
}
