package analysis

import (
	"math"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
)

// Windows returns the scoring window ending at now and the baseline before it.
func Windows(s config.Scoring, now time.Time) (window, baseline affinity.Window) {
	w := time.Duration(s.Window)
	b := time.Duration(s.Baseline)
	window = affinity.Window{From: now.Add(-w), To: now}
	baseline = affinity.Window{From: window.From.Add(-b), To: window.From}
	return window, baseline
}

// Saturate is sat(x, x0) = min(1, ln(1+x)/ln(1+x0)): a log curve that reaches 1
// at the reference x0, so the first mentions weigh most and virality cannot
// push a component past 1.
func Saturate(x, x0 float64) float64 {
	if x <= 0 || x0 <= 0 {
		return 0
	}
	return math.Min(1, math.Log1p(x)/math.Log1p(x0))
}

// AffinityScore is the weighted sum of the saturated components, in [0, 1].
func AffinityScore(s config.Scoring, mentions, authors int64, engagement float64, formats int) float64 {
	score := s.Weights.Mentions*Saturate(float64(mentions), s.References.Mentions) +
		s.Weights.Authors*Saturate(float64(authors), s.References.Authors) +
		s.Weights.Engagement*Saturate(engagement, s.References.Engagement) +
		s.Weights.Formats*float64(formats)/float64(len(affinity.Formats))
	return math.Max(0, math.Min(1, score))
}

// Momentum is (m/|W|) / (m_B/|B|). An empty baseline counts as one mention,
// so a topic that appears from nothing shows a finite spike instead of +Inf.
func Momentum(m, mB int64, w, b time.Duration) float64 {
	if m == 0 || w <= 0 || b <= 0 {
		return 0
	}
	base := float64(max(mB, 1)) / b.Seconds()
	return (float64(m) / w.Seconds()) / base
}

// NetSentiment is (pos − neg) / all in [−1, 1]; 0 when there are no posts,
// so a topic or brand nobody wrote about reads as neutral rather than a gap.
func NetSentiment(pos, neg, all int64) float64 {
	if all <= 0 {
		return 0
	}
	return float64(pos-neg) / float64(all)
}

// Score computes one snapshot from the current and baseline window counts.
// Every configured topic and brand appears, with zeros where nothing was
// seen, so dashboards get 0 rather than a gap.
func Score(cfg *config.Config, now time.Time, cur, base map[string]affinity.TopicWindow,
	totals map[string]map[affinity.Format]int64) *affinity.Snapshot {
	window, baseline := Windows(cfg.Scoring, now)
	snap := &affinity.Snapshot{
		Computed:      now,
		Window:        window,
		Baseline:      baseline,
		MentionTotals: map[string]map[affinity.Format]int64{},
	}
	for _, b := range cfg.Brands() {
		snap.Brands = append(snap.Brands, affinity.Brand{Name: b.Name, Kind: affinity.BrandKind(b.Kind)})
	}
	for _, rel := range cfg.Relationships {
		for _, t := range rel.Topics {
			c := cur[t.Name]
			ts := affinity.TopicScore{
				Topic:            t.Name,
				Relationship:     rel.Name,
				RelationshipType: rel.Type,
				Priority:         t.Priority,
				Segments:         rel.Segments,
				QueryHash:        t.QueryHash(),
				Mentions:         c.Mentions,
				Authors:          c.Authors,
				Engagement:       c.Engagement,
				FormatMentions:   map[affinity.Format]int64{},
				BaselineMentions: base[t.Name].Mentions,
				ShareOfVoice:     map[string]float64{},
				BrandSentiment:   map[string]float64{},
			}
			for _, f := range affinity.Formats {
				n := c.Formats[f]
				ts.FormatMentions[f] = n
				if n > 0 {
					ts.FormatsPresent++
				}
			}
			ts.Momentum = Momentum(c.Mentions, ts.BaselineMentions, window.Duration(), baseline.Duration())
			ts.Sentiment = NetSentiment(c.Positive, c.Negative, c.Mentions)
			ts.Score = AffinityScore(cfg.Scoring, c.Mentions, c.Authors, c.Engagement, ts.FormatsPresent)
			var brandTotal int64
			for _, b := range snap.Brands {
				brandTotal += c.Brands[b.Name]
			}
			best := 0.0
			for _, b := range snap.Brands {
				sov := 0.0
				if brandTotal > 0 {
					sov = float64(c.Brands[b.Name]) / float64(brandTotal)
				}
				ts.ShareOfVoice[b.Name] = sov
				ts.BrandSentiment[b.Name] = NetSentiment(c.BrandPositive[b.Name], c.BrandNegative[b.Name], c.Brands[b.Name])
				if sov > best { // ties go to the brand listed first
					best, ts.Leader = sov, b.Name
				}
			}
			snap.Topics = append(snap.Topics, ts)
			perFormat := map[affinity.Format]int64{}
			for _, f := range affinity.Formats {
				perFormat[f] = totals[t.Name][f]
			}
			snap.MentionTotals[t.Name] = perFormat
		}
	}
	return snap
}
