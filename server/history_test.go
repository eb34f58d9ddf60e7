package server

import (
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

func snapAt(t time.Time, scores map[string]float64) *affinity.Snapshot {
	s := &affinity.Snapshot{Computed: t}
	for _, name := range []string{"a", "b"} {
		if v, ok := scores[name]; ok {
			s.Topics = append(s.Topics, affinity.TopicScore{Topic: name, Score: v})
		}
	}
	return s
}

func TestHistoryRecord(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	type rec struct {
		at     time.Duration
		scores map[string]float64
	}
	for _, c := range []struct {
		name  string
		step  time.Duration
		keep  time.Duration
		recs  []rec
		topic string
		want  []ScorePoint
	}{
		{
			name: "passes within one step keep the newest", topic: "a",
			recs: []rec{{0, map[string]float64{"a": 0.1}}, {20 * time.Minute, map[string]float64{"a": 0.2}}, {59 * time.Minute, map[string]float64{"a": 0.3}}},
			want: []ScorePoint{{t0.Add(59 * time.Minute), 0.3}},
		},
		{
			name: "a new step appends", topic: "a",
			recs: []rec{{0, map[string]float64{"a": 0.1}}, {61 * time.Minute, map[string]float64{"a": 0.2}}},
			want: []ScorePoint{{t0, 0.1}, {t0.Add(61 * time.Minute), 0.2}},
		},
		{
			name: "a pass from the past is ignored", topic: "a",
			recs: []rec{{2 * time.Hour, map[string]float64{"a": 0.5}}, {0, map[string]float64{"a": 0.9}}},
			want: []ScorePoint{{t0.Add(2 * time.Hour), 0.5}},
		},
		{
			name: "points older than keep are dropped", topic: "a", keep: 3 * time.Hour,
			recs: []rec{{0, map[string]float64{"a": 0.1}}, {2 * time.Hour, map[string]float64{"a": 0.2}}, {4 * time.Hour, map[string]float64{"a": 0.3}}},
			want: []ScorePoint{{t0.Add(2 * time.Hour), 0.2}, {t0.Add(4 * time.Hour), 0.3}},
		},
		{
			name: "a topic removed by a reload is forgotten", topic: "b",
			recs: []rec{{0, map[string]float64{"a": 0.1, "b": 0.4}}, {time.Hour, map[string]float64{"a": 0.2}}},
			want: nil,
		},
		{
			name: "kept topics survive another's removal", topic: "a",
			recs: []rec{{0, map[string]float64{"a": 0.1, "b": 0.4}}, {time.Hour, map[string]float64{"a": 0.2}}},
			want: []ScorePoint{{t0, 0.1}, {t0.Add(time.Hour), 0.2}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := NewHistory(c.step, c.keep)
			for _, r := range c.recs {
				h.Record(snapAt(t0.Add(r.at), r.scores))
			}
			got := h.Points(c.topic)
			if len(got) != len(c.want) {
				t.Fatalf("points = %v, want %v", got, c.want)
			}
			for i := range got {
				if !got[i].Time.Equal(c.want[i].Time) || got[i].Score != c.want[i].Score {
					t.Errorf("point %d = %v, want %v", i, got[i], c.want[i])
				}
			}
		})
	}
}

// TestHistoryBounded runs a year of one pass a minute: the series must stay
// within eight weeks of hourly points.
func TestHistoryBounded(t *testing.T) {
	h := NewHistory(0, 0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for m := 0; m < 365*24*60; m += 7 {
		h.Record(snapAt(t0.Add(time.Duration(m)*time.Minute), map[string]float64{"a": 0.5}))
	}
	pts := h.Points("a")
	if max := int(DefaultHistoryKeep/DefaultHistoryStep) + 1; len(pts) > max || len(pts) < max-1 {
		t.Errorf("%d points, want about %d", len(pts), max)
	}
	if span := pts[len(pts)-1].Time.Sub(pts[0].Time); span > DefaultHistoryKeep {
		t.Errorf("span %v exceeds keep %v", span, DefaultHistoryKeep)
	}
	if cap(h.topics["a"]) > 2*len(pts)+64 {
		t.Errorf("backing array of %d for %d points: the ring is not bounded", cap(h.topics["a"]), len(pts))
	}
}

func TestHistoryNilIsInert(t *testing.T) {
	var h *History
	h.Record(snapAt(time.Now(), map[string]float64{"a": 1}))
	if p := h.Points("a"); p != nil {
		t.Errorf("nil history returned %v", p)
	}
}
