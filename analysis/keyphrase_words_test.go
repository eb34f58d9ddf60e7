package analysis

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// TestKeyphraseWordWeights retrains the single-word ranker on the
// development split of 500N-KPCrowd and checks that keyWordWeights and
// keyWordMeanIDF are what that training gives: the constants stay
// reproducible, and a change to the features that is not retrained fails
// here. On failure it prints the constants to paste.
func TestKeyphraseWordWeights(t *testing.T) {
	b, err := os.ReadFile("../../shared/datasets/keyphrase/500N-KPCrowd-v1.1.zip")
	if err != nil {
		t.Skip(err)
	}
	docs, err := ReadKeyphraseZip(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	weights, meanIDF := trainKeyWords(docs)
	ok := math.Abs(meanIDF-keyWordMeanIDF) < 1e-9
	for j, w := range weights {
		ok = ok && math.Abs(w-keyWordWeights[j]) < 1e-9*math.Max(1, math.Abs(w))
	}
	if !ok {
		parts := make([]string, len(weights))
		for j, w := range weights {
			parts[j] = fmt.Sprintf("%.12g", w)
		}
		t.Errorf("retrained constants differ from the code's; paste:\nvar keyWordWeights = []float64{%s}\nconst keyWordMeanIDF = %.12g",
			strings.Join(parts, ", "), meanIDF)
	}
}

// trainKeyWords fits an L2-regularised (λ = 1) logistic regression by
// Newton's method on standardised features of every candidate word of the
// development documents (KeyphraseDevSplit), positive when the word is a
// one-word gold key, each document against the set's others as background.
// It returns the weights unstandardised and the training words' mean idf.
func trainKeyWords(docs []KeyphraseDoc) ([]float64, float64) {
	bg := NewKeyphraseBackground()
	for _, d := range docs {
		bg.Add(d.Text)
	}
	var X [][]float64
	var y []float64
	for i, d := range docs {
		if !KeyphraseDevSplit(i) {
			continue
		}
		gold := map[string]bool{}
		for _, g := range d.Gold {
			if k := KeyphraseKey(g); k != "" && !strings.Contains(k, " ") {
				gold[k] = true
			}
		}
		bg.Remove(d.Text)
		toks, titleEnd := keyWordTokens(d.Text)
		g, words, sentences := keyWordsOf(tagTokens(toks), titleEnd)
		for _, w := range words {
			label := 0.0
			if gold[w.key] {
				label = 1
			}
			X = append(X, w.features(g.words, sentences, bg))
			y = append(y, label)
		}
		bg.Add(d.Text)
	}
	k := len(keyWordFeatures)
	mean, sd := make([]float64, k), make([]float64, k)
	for _, x := range X {
		for j := range k {
			mean[j] += x[j] / float64(len(X))
		}
	}
	for _, x := range X {
		for j := range k {
			sd[j] += (x[j] - mean[j]) * (x[j] - mean[j]) / float64(len(X))
		}
	}
	for j := range k {
		if sd[j] = math.Sqrt(sd[j]); sd[j] == 0 {
			sd[j] = 1
		}
	}
	z := make([][]float64, len(X))
	for i, x := range X {
		z[i] = make([]float64, k+1)
		z[i][0] = 1
		for j := range k {
			z[i][j+1] = (x[j] - mean[j]) / sd[j]
		}
	}
	p := k + 1
	w := make([]float64, p)
	for range 25 {
		grad := make([]float64, p)
		hess := make([][]float64, p)
		for a := range hess {
			hess[a] = make([]float64, p)
		}
		for i, zi := range z {
			s := 0.0
			for j := range p {
				s += w[j] * zi[j]
			}
			pr := 1 / (1 + math.Exp(-s))
			for a := range p {
				grad[a] += (pr - y[i]) * zi[a]
				for c := range p {
					hess[a][c] += pr * (1 - pr) * zi[a] * zi[c]
				}
			}
		}
		for a := 1; a < p; a++ { // the intercept is not penalised
			grad[a] += w[a]
			hess[a][a]++
		}
		step, moved := solveLinear(hess, grad), 0.0
		for j := range p {
			w[j] -= step[j]
			moved += math.Abs(step[j])
		}
		if moved < 1e-12 {
			break
		}
	}
	out := make([]float64, k)
	for j := range k {
		out[j] = w[j+1] / sd[j]
	}
	return out, mean[1]
}

// solveLinear solves A x = b by Gauss-Jordan elimination with partial
// pivoting (A is small and positive definite here).
func solveLinear(A [][]float64, b []float64) []float64 {
	n := len(b)
	m := make([][]float64, n)
	for i := range m {
		m[i] = append(append([]float64{}, A[i]...), b[i])
	}
	for c := range n {
		piv := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[piv][c]) {
				piv = r
			}
		}
		m[c], m[piv] = m[piv], m[c]
		for r := range n {
			if r != c && m[c][c] != 0 {
				f := m[r][c] / m[c][c]
				for j := c; j <= n; j++ {
					m[r][j] -= f * m[c][j]
				}
			}
		}
	}
	x := make([]float64, n)
	for i := range n {
		if m[i][i] != 0 {
			x[i] = m[i][n] / m[i][i]
		}
	}
	return x
}

func TestReadsLikeNews(t *testing.T) {
	for _, c := range []struct {
		name string
		g    keyGenre
		want bool
	}{
		{"long plain story", keyGenre{words: 400, names: 0.02, pastTense: 0, meanLen: 4.7}, true},
		{"long abstract of long words", keyGenre{words: 400, names: 0.10, pastTense: 0.03, meanLen: 5.9}, false},
		{"short narrative with names", keyGenre{words: 150, names: 0.08, pastTense: 0.02, meanLen: 4.8}, true},
		{"short, no past tense", keyGenre{words: 150, names: 0.08, pastTense: 0.01, meanLen: 4.8}, false},
		{"short, few names", keyGenre{words: 150, names: 0.04, pastTense: 0.03, meanLen: 4.8}, false},
		{"too short", keyGenre{words: 80, names: 0.2, pastTense: 0.05, meanLen: 4.5}, false},
	} {
		if got := readsLikeNews(c.g); got != c.want {
			t.Errorf("%s: readsLikeNews(%+v) = %v, want %v", c.name, c.g, got, c.want)
		}
	}
}
