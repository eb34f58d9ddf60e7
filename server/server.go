package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// EvidenceFunc returns up to limit stored posts matching a topic, newest first.
type EvidenceFunc func(ctx context.Context, topic string, limit int) ([]affinity.Post, error)

// Options wire the server to the rest of the daemon.
type Options struct {
	// Gatherer gathers the daemon's own metrics; SnapshotMetrics, if set,
	// the scores, served from a text rendered once per snapshot.
	Gatherer        prometheus.Gatherer
	SnapshotMetrics *SnapshotCollector
	Snapshot        SnapshotFunc
	Metrics         *Metrics
	Evidence        EvidenceFunc
	// Ready reports whether the daemon can serve: config loaded, store reachable.
	Ready func(ctx context.Context) error
	// Reload asks for a configuration reload and waits for its result; nil disables POST /-/reload.
	Reload func() error
	Logger *slog.Logger

	// History feeds the status page's sparklines; nil draws none.
	History *History
	// Scoring tells the topic page how the score adds up; nil shows the
	// components without weights.
	Scoring func() ScoringInfo
	// Terms returns a topic's top and emerging terms and the unconfigured
	// organisations co-mentioned with it; nil shows "not available yet".
	Terms TermsFunc
}

// Handler returns the daemon's HTTP handler.
func Handler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	errorLog := slog.NewLogLogger(o.Logger.Handler(), slog.LevelError)
	if o.SnapshotMetrics != nil {
		mux.Handle("GET /metrics", newMetricsHandler(o.Gatherer, o.SnapshotMetrics, errorLog))
	} else {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{ErrorLog: errorLog}))
	}
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("Healthy.\n"))
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) {
		if o.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			if err := o.Ready(ctx); err != nil {
				http.Error(w, "Not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("Ready.\n"))
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		if o.Reload == nil {
			http.Error(w, "reload is not available", http.StatusNotImplemented)
			return
		}
		if err := o.Reload(); err != nil {
			http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("Reloaded.\n"))
	})
	api := &api{o: o}
	mux.HandleFunc("GET /api/v1/topics", api.topics)
	mux.HandleFunc("GET /api/v1/topics/{topic}", api.topic)
	mux.HandleFunc("GET /api/v1/sources", api.sources)
	mux.HandleFunc("GET /{$}", api.statusPage)
	mux.HandleFunc("GET /topics/{topic}", api.topicPage)
	mux.HandleFunc("GET /sources", api.sourcesPage)
	return mux
}

type api struct{ o Options }

// topicJSON is the API's view of one topic's score.
type topicJSON struct {
	Topic            string             `json:"topic"`
	Relationship     string             `json:"relationship"`
	RelationshipType string             `json:"relationship_type"`
	Priority         string             `json:"priority"`
	Segments         []string           `json:"customer_segments"`
	QueryHash        string             `json:"query_hash"`
	Score            float64            `json:"score"`
	Mentions         int64              `json:"mentions"`
	Authors          int64              `json:"authors"`
	Engagement       float64            `json:"engagement"`
	FormatMentions   map[string]int64   `json:"format_mentions"`
	FormatsPresent   int                `json:"formats_present"`
	BaselineMentions int64              `json:"baseline_mentions"`
	Momentum         float64            `json:"momentum_ratio"`
	Sentiment        float64            `json:"sentiment"`
	ShareOfVoice     map[string]float64 `json:"share_of_voice"`
	BrandSentiment   map[string]float64 `json:"brand_sentiment"`
	Leader           string             `json:"leader,omitempty"`
	MentionsTotal    map[string]int64   `json:"mentions_total"`
	UnconfiguredOrgs int64              `json:"unconfigured_organisations"`
	Terms            *TopicTerms        `json:"terms,omitempty"`
	Evidence         []evidenceJSON     `json:"evidence,omitempty"`
}

type evidenceJSON struct {
	Source     string              `json:"source"`
	URL        string              `json:"url"`
	Author     string              `json:"author"`
	Published  time.Time           `json:"published"`
	Title      string              `json:"title,omitempty"`
	Text       string              `json:"text,omitempty"` // as stored, verbatim like the title
	Format     affinity.Format     `json:"format"`
	Engagement affinity.Engagement `json:"engagement"`
	Copies     int64               `json:"copies"` // near-duplicates collapsed into this post
}

type snapshotJSON struct {
	Computed time.Time   `json:"computed"`
	Window   windowJSON  `json:"window"`
	Baseline windowJSON  `json:"baseline"`
	Topics   []topicJSON `json:"topics"`
}

// windowJSON is an affinity.Window with the API's lower-case keys.
type windowJSON struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

func toJSON(s *affinity.Snapshot, t affinity.TopicScore) topicJSON {
	j := topicJSON{
		Topic: t.Topic, Relationship: t.Relationship, RelationshipType: t.RelationshipType, Priority: t.Priority,
		Segments: t.Segments, QueryHash: t.QueryHash, Score: t.Score, Mentions: t.Mentions, Authors: t.Authors,
		Engagement: t.Engagement, FormatsPresent: t.FormatsPresent, BaselineMentions: t.BaselineMentions,
		Momentum: t.Momentum, Sentiment: t.Sentiment, ShareOfVoice: t.ShareOfVoice, Leader: t.Leader,
		BrandSentiment: t.BrandSentiment,
		FormatMentions: map[string]int64{}, MentionsTotal: map[string]int64{},
		UnconfiguredOrgs: t.UnconfiguredOrganisations,
	}
	for _, f := range affinity.Formats {
		j.FormatMentions[string(f)] = t.FormatMentions[f]
		j.MentionsTotal[string(f)] = s.MentionTotals[t.Topic][f]
	}
	return j
}

func (a *api) topics(w http.ResponseWriter, _ *http.Request) {
	s := a.o.Snapshot()
	if s == nil {
		writeError(w, http.StatusServiceUnavailable, "no scores computed yet")
		return
	}
	out := snapshotJSON{Computed: s.Computed, Window: windowJSON(s.Window), Baseline: windowJSON(s.Baseline), Topics: []topicJSON{}}
	for _, t := range s.Topics {
		out.Topics = append(out.Topics, toJSON(s, t))
	}
	writeJSON(w, out)
}

func (a *api) topic(w http.ResponseWriter, r *http.Request) {
	s := a.o.Snapshot()
	if s == nil {
		writeError(w, http.StatusServiceUnavailable, "no scores computed yet")
		return
	}
	t, ok := s.Topic(r.PathValue("topic"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such topic")
		return
	}
	j := toJSON(s, t)
	if a.o.Terms != nil {
		terms, err := a.o.Terms(r.Context(), t.Topic)
		if err != nil {
			a.o.Logger.Warn("terms lookup failed", "topic", t.Topic, "err", err)
			writeError(w, http.StatusInternalServerError, "terms lookup failed")
			return
		}
		// Empty lists, not null: a client iterates them without a check.
		for _, l := range []*[]TermCount{&terms.Top, &terms.Emerging, &terms.Organisations} {
			if *l == nil {
				*l = []TermCount{}
			}
		}
		j.Terms = &terms
	}
	j.Evidence = []evidenceJSON{}
	if a.o.Evidence != nil {
		posts, err := a.o.Evidence(r.Context(), t.Topic, 20)
		if err != nil {
			a.o.Logger.Warn("evidence lookup failed", "topic", t.Topic, "err", err)
			writeError(w, http.StatusInternalServerError, "evidence lookup failed")
			return
		}
		for _, p := range posts {
			j.Evidence = append(j.Evidence, evidenceJSON{Source: p.Source, URL: p.URL, Author: p.Author,
				Published: p.Time(), Title: p.Title, Text: p.Text, Format: p.Format, Engagement: p.Engagement, Copies: p.Copies})
		}
	}
	writeJSON(w, j)
}

func (a *api) sources(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, struct {
		Sources []SourceStatus `json:"sources"`
	}{a.o.Metrics.Sources()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
