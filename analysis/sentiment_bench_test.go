package analysis

import (
	"testing"

	"github.com/jonreiter/govader"
)

// sentimentBenchTexts are the normalized title+text of the Analyze benchmark's
// posts, so the figures compare directly with BenchmarkAnalyze.
func sentimentBenchTexts(b *testing.B) []string {
	_, posts := benchCorpus(300, 1000, 50)
	texts := make([]string, len(posts))
	for i, p := range posts {
		texts[i] = Normalize(p.Title) + "\n" + Normalize(p.Text)
	}
	return texts
}

func BenchmarkSentimentScore(b *testing.B) {
	texts := sentimentBenchTexts(b)
	s := DefaultSentiment()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		s.Score(texts[n%len(texts)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
}

func BenchmarkSentimentExplain(b *testing.B) {
	texts := sentimentBenchTexts(b)
	s := DefaultSentiment()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		s.Explain(texts[n%len(texts)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
}

// BenchmarkGovader is the library the lexicon comes from, on the same texts:
// the reason the scorer is our own.
func BenchmarkGovader(b *testing.B) {
	texts := sentimentBenchTexts(b)
	g := govader.NewSentimentIntensityAnalyzer()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		g.PolarityScores(texts[n%len(texts)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
}
