package server

import (
	"sync"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// History defaults: the status page draws the last weeks, so one point an
// hour over eight weeks is enough detail and bounds memory at ~1,350 points
// a topic (~30 KB) however often scoring runs.
const (
	DefaultHistoryStep = time.Hour
	DefaultHistoryKeep = 8 * 7 * 24 * time.Hour
)

// ScorePoint is a topic's affinity score at one scoring pass.
type ScorePoint struct {
	Time  time.Time `json:"time"`
	Score float64   `json:"score"`
}

// History keeps a bounded, in-memory series of each topic's score for the
// sparklines. It is fed one snapshot per scoring pass and lost on restart:
// Prometheus keeps the durable series, this only lets the page stand alone.
// A nil *History records nothing and returns no points.
type History struct {
	step, keep time.Duration

	mu     sync.Mutex
	topics map[string][]ScorePoint // oldest first
}

// NewHistory returns a History with one point per step (the latest pass in
// each step wins) kept for keep; zero values take the defaults.
func NewHistory(step, keep time.Duration) *History {
	if step <= 0 {
		step = DefaultHistoryStep
	}
	if keep <= 0 {
		keep = DefaultHistoryKeep
	}
	return &History{step: step, keep: keep, topics: map[string][]ScorePoint{}}
}

// Record adds a snapshot's scores. Topics missing from the snapshot (removed
// by a reload) are forgotten, so memory follows the configuration.
func (h *History) Record(s *affinity.Snapshot) {
	if h == nil || s == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	maxPoints := int(h.keep/h.step) + 1
	cutoff := s.Computed.Add(-h.keep)
	seen := make(map[string]bool, len(s.Topics))
	for _, t := range s.Topics {
		seen[t.Topic] = true
		p := ScorePoint{Time: s.Computed, Score: t.Score}
		pts := h.topics[t.Topic]
		if n := len(pts); n > 0 {
			last := pts[n-1]
			switch {
			case p.Time.Before(last.Time):
				continue // out of order (a clock step back): keep the series monotonic
			case p.Time.Truncate(h.step).Equal(last.Time.Truncate(h.step)):
				pts[n-1] = p // same step: the newest pass stands for it
				continue
			}
		}
		pts = append(pts, p)
		drop := 0
		for drop < len(pts) && (pts[drop].Time.Before(cutoff) || len(pts)-drop > maxPoints) {
			drop++
		}
		// Re-slicing from the front lets append reallocate at the live
		// length, so the backing array stays within twice maxPoints.
		h.topics[t.Topic] = pts[drop:]
	}
	for name := range h.topics {
		if !seen[name] {
			delete(h.topics, name)
		}
	}
}

// Points returns a copy of a topic's series, oldest first.
func (h *History) Points(topic string) []ScorePoint {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]ScorePoint(nil), h.topics[topic]...)
}
