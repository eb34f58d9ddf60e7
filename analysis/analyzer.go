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
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

// Analyzer runs the analysis stages for one config. It is immutable and safe
// for concurrent use; on reload build a new one and swap it whole.
type Analyzer struct {
	matcher   *Matcher
	sentiment *Sentiment
	nearDup   affinity.NearDupRule // how the store collapses copies, from the config
}

// New compiles cfg's topics and brands into an Analyzer.
func New(cfg *config.Config) (*Analyzer, error) {
	m, err := NewMatcher(cfg)
	if err != nil {
		return nil, err
	}
	a := &Analyzer{matcher: m, sentiment: DefaultSentiment()}
	if nd := cfg.Analysis.NearDuplicates; nd.Enabled {
		a.nearDup = affinity.NearDupRule{MinBands: NearDupMinBands(nd.Threshold), Horizon: time.Duration(nd.Horizon)}
	}
	return a, nil
}

// NearDupRule is how the store collapses near-duplicates under this config
// (the zero rule when analysis.near_duplicates is disabled).
func (a *Analyzer) NearDupRule() affinity.NearDupRule { return a.nearDup }

// Analyze finds the topics and brands in a post's title and text and scores
// its engagement and sentiment; for a post that matches a topic it also
// extracts terms and unconfigured organisations (see postTerms).
func (a *Analyzer) Analyze(p affinity.Post) affinity.Analysis {
	title, text := Normalize(p.Title), Normalize(p.Text)
	titleToks, textToks := Tokenize(title), Tokenize(text)
	tokens := append(titleToks[:len(titleToks):len(titleToks)], textToks...)
	// Every post gets a language before matching: detection (a few µs a
	// post, see DetectLanguage) is cheap enough to run where no topic matches.
	lang := PostLanguage(p.Language, tokens)
	topics, brands := a.matcher.Match(tokens, lang)
	an := affinity.Analysis{
		Topics:     topics,
		Brands:     brands,
		Engagement: EngagementScore(p.Engagement),
		Sentiment:  a.sentiment.Score(title + "\n" + text),
		Language:   lang,
	}
	// Near-duplicate keys only for a post that counts somewhere: one that
	// matches no topic or brand adds nothing to collapse, and leaving it out
	// spares the store's lookup, most of a commit's cost (README, Near-duplicates).
	if len(topics) > 0 || len(brands) > 0 {
		an.NearDup = NearDupKeys(title, text)
	}
	if len(topics) > 0 { // tagging is the costly stage: spent only where a topic counts it
		an.Terms, an.Organisations = a.postTerms(titleToks, textToks, lang)
	}
	return an
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
