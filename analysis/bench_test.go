package analysis

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

// The speed goal (README, Performance): on the corpus of
// ../shared/bench/make-corpus.py, one core, the whole analysis of a post at
// least as fast as wink-nlp's docs/s from ../shared/bench/wink-compare.sh,
// and matching as costly per post with 10 topics as with 10,000.
//
//	python3 ../shared/bench/make-corpus.py bench-data
//	go test -run '^$' -bench 'AnalyzeCorpus|Match$' -cpu 1 ./analysis/

// benchDir is where make-corpus.py wrote its files: $AFFINITYD_BENCH_DIR, or
// bench-data at the repository root (git-ignored).
func benchDir() string {
	if d := os.Getenv("AFFINITYD_BENCH_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "bench-data")
}

// loadBenchCorpus reads corpus.jsonl, topics.txt and brands.txt of dir into
// posts and a config, or skips b when the corpus has not been generated.
func loadBenchCorpus(b *testing.B, dir string) (*config.Config, []affinity.Post) {
	b.Helper()
	if _, err := os.Stat(filepath.Join(dir, "corpus.jsonl")); os.IsNotExist(err) {
		b.Skipf("no corpus in %s: run python3 ../shared/bench/make-corpus.py %s (or set AFFINITYD_BENCH_DIR)", dir, dir)
	}
	cfg := &config.Config{}
	lines := func(name string, each func(fields []string) error) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			if err := each(strings.Split(sc.Text(), "\t")); err != nil {
				b.Fatalf("%s:%d: %v", name, n, err)
			}
		}
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
	}
	list := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ";") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	lines("topics.txt", func(f []string) error {
		if len(f) != 2 {
			return fmt.Errorf("want name<TAB>phrases, got %q", f)
		}
		if len(cfg.Relationships) == 0 || len(cfg.Relationships[len(cfg.Relationships)-1].Topics) == 100 {
			cfg.Relationships = append(cfg.Relationships, config.Relationship{Name: fmt.Sprintf("rel-%d", len(cfg.Relationships))})
		}
		rel := &cfg.Relationships[len(cfg.Relationships)-1]
		terms := list(f[1])
		rel.Topics = append(rel.Topics, config.Topic{Name: f[0], Terms: terms[:1], Synonyms: terms[1:]})
		return nil
	})
	lines("brands.txt", func(f []string) error {
		if len(f) != 3 {
			return fmt.Errorf("want name<TAB>kind<TAB>aliases, got %q", f)
		}
		aliases := list(f[2])
		br := config.Brand{Name: aliases[0], Kind: f[1], Aliases: aliases[1:]}
		if f[1] == "own" {
			cfg.Brand = br
		} else {
			cfg.Competitors = append(cfg.Competitors, br)
		}
		return nil
	})
	var posts []affinity.Post
	lines("corpus.jsonl", func(f []string) error {
		var p struct {
			Source, ID, URL, Author, Lang, Title, Text, Format string
			Published                                          time.Time
			Likes, Reposts, Replies                            int64
		}
		if err := json.Unmarshal([]byte(strings.Join(f, "\t")), &p); err != nil {
			return err
		}
		posts = append(posts, affinity.Post{
			Source: p.Source, ID: p.ID, URL: p.URL, Author: p.Author, Published: p.Published,
			Language: p.Lang, Title: p.Title, Text: p.Text, Format: affinity.Format(p.Format),
			Engagement: affinity.Engagement{Likes: p.Likes, Reposts: p.Reposts, Replies: p.Replies},
		})
		return nil
	})
	if len(posts) == 0 {
		b.Skipf("%s/corpus.jsonl holds no posts", dir)
	}
	return cfg, posts
}

// BenchmarkAnalyzeCorpus is the whole analysis of a post (Analyzer.Analyze:
// normalize, tokenize, match, sentiment, near-duplicate keys, and tagging and
// term extraction for posts that match a topic) over make-corpus.py's posts,
// one post per iteration. posts/s is wall time, comparable with
// wink-compare.sh's docs/s; posts/cpu-s is the process's CPU time, which a
// busy machine does not inflate.
func BenchmarkAnalyzeCorpus(b *testing.B) { analyzeCorpus(b, false) }

// BenchmarkAnalyzeCorpusDetected is BenchmarkAnalyzeCorpus with the
// platform's language taken off every post (make-corpus.py tags them all
// "en"), so each post's language is detected: the worst case for speed.
func BenchmarkAnalyzeCorpusDetected(b *testing.B) { analyzeCorpus(b, true) }

func analyzeCorpus(b *testing.B, detect bool) {
	cfg, posts := loadBenchCorpus(b, benchDir())
	if detect {
		for i := range posts {
			posts[i].Language = ""
		}
	}
	a, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defaultTagger()
	b.ReportAllocs()
	cpu0 := cpuTime()
	n, matched := 0, 0
	for b.Loop() {
		if len(a.Analyze(posts[n%len(posts)]).Topics) > 0 {
			matched++
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "posts/cpu-s")
	}
	b.ReportMetric(100*float64(matched)/float64(n), "%matched")
}

// matchNs10 is the CPU ns/post of BenchmarkMatch/topics=10, for the ratio
// the larger runs report.
var matchNs10 float64

// BenchmarkMatch matches posts against 10, 1,000 and 10,000 topics (and 50
// brands): the cost per post must not grow with the topics. Each run's
// posts are made-corpus posts for its own topics (as make-corpus.py --topics
// N makes them), so about the same share of posts mentions a topic; with
// 10,000 topics over make-corpus's 50 words most word pairs are a topic, so
// those posts still match more. The larger runs report x10, their CPU time
// per post over the 10-topic run's (CPU time: wall time on a shared machine
// varies more than the ratio).
func BenchmarkMatch(b *testing.B) {
	for _, topics := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("topics=%d", topics), func(b *testing.B) {
			cfg, posts := benchCorpus(2000, topics, 50)
			toks := make([][]Token, len(posts))
			for i, p := range posts {
				toks[i] = Tokenize(Normalize(p.Text))
			}
			m, err := NewMatcher(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			n, found := 0, 0
			for b.Loop() {
				t, _ := m.Match(toks[n%len(toks)], "en")
				found += len(t)
				n++
			}
			ns := float64((cpuTime() - cpu0).Nanoseconds()) / float64(n)
			if ns == 0 {
				ns = float64(b.Elapsed().Nanoseconds()) / float64(n)
			}
			b.ReportMetric(ns, "cpu-ns/post")
			b.ReportMetric(float64(found)/float64(n), "topics/post")
			if topics == 10 {
				matchNs10 = ns
			} else if matchNs10 > 0 {
				b.ReportMetric(ns/matchNs10, "x10")
			}
		})
	}
}
