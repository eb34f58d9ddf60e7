package server

import (
	"strings"

	"github.com/affinityd/affinityd/affinity"
	"github.com/prometheus/client_golang/prometheus"
)

// SnapshotFunc returns the latest scoring snapshot; nil before the first pass.
type SnapshotFunc func() *affinity.Snapshot

// SnapshotCollector exports the latest snapshot as const metrics at scrape
// time: scores are computed on their own schedule, so samples carry no
// timestamps and a scrape never waits for NLP or the store.
type SnapshotCollector struct {
	snapshot SnapshotFunc

	info, score, mentions, authors, engagement, momentum, sentiment *prometheus.Desc
	formatMentions, shareOfVoice, mentionsTotal, organisations      *prometheus.Desc
	brandSentiment, brandMentionsTotal                              *prometheus.Desc
}

// NewSnapshotCollector builds the descriptors once; window and cadence go
// into HELP so a reader knows what a value covers.
func NewSnapshotCollector(snapshot SnapshotFunc, window, cadence string) *SnapshotCollector {
	over := " over the last " + window + ", recomputed every " + cadence + "."
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "topic", name), help, labels, nil)
	}
	return &SnapshotCollector{
		snapshot: snapshot,
		info: d("info", "Configured topics and their relationship; join with group_left. query_hash changes when the topic's terms change.",
			"topic", "relationship", "relationship_type", "priority", "customer_segment", "query_hash"),
		score:      d("score", "Affinity score in [0, 1] (see README for the formula)"+over, "topic"),
		mentions:   d("mentions", "Distinct posts matching the topic"+over, "topic"),
		authors:    d("authors", "Distinct authors of posts matching the topic"+over, "topic"),
		engagement: d("engagement", "Sum of normalized per-post engagement of posts matching the topic"+over, "topic"),
		momentum: d("momentum_ratio", "Mention rate against the baseline before the window (1 = unchanged)"+over,
			"topic"),
		sentiment:      d("sentiment", "Net sentiment (positive - negative) / all of posts matching the topic, in [-1, 1]"+over, "topic"),
		formatMentions: d("format_mentions", "Posts matching the topic per usage format"+over, "topic", "format"),
		shareOfVoice: d("share_of_voice_ratio", "Share of brand mentions in posts matching the topic, per configured brand"+over,
			"topic", "brand", "brand_kind"),
		brandSentiment: d("brand_sentiment", "Net sentiment (positive - negative) / all of posts matching the topic that mention the brand, in [-1, 1]"+over,
			"topic", "brand"),
		brandMentionsTotal: d("brand_mentions_total", "Posts matching the topic that mention the brand, stored since the database was created (durable across restarts); share of voice over any range is increase() of one brand over all.",
			"topic", "brand", "brand_kind"),
		organisations: d("unconfigured_organisations", "Organisations co-mentioned with the topic that are not configured brands"+over+" Names: /api/v1/topics/{topic}.", "topic"),
		mentionsTotal: d("mentions_total", "Mentions of the topic stored since the database was created, per usage format (durable across restarts).",
			"topic", "format"),
	}
}

// Describe sends the descriptors.
func (c *SnapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

func (c *SnapshotCollector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{c.info, c.score, c.mentions, c.authors, c.engagement, c.momentum,
		c.sentiment, c.formatMentions, c.shareOfVoice, c.mentionsTotal, c.organisations,
		c.brandSentiment, c.brandMentionsTotal}
}

// Collect emits the snapshot; labels come only from config, never from posts.
func (c *SnapshotCollector) Collect(ch chan<- prometheus.Metric) {
	c.collect(c.snapshot(), nil, ch)
}

// collect sends the metrics of s, only those of the family only unless it is nil.
func (c *SnapshotCollector) collect(s *affinity.Snapshot, only *prometheus.Desc, ch chan<- prometheus.Metric) {
	if s == nil {
		return
	}
	kinds := map[string]string{}
	for _, b := range s.Brands {
		kinds[b.Name] = string(b.Kind)
	}
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		if only == nil || d == only {
			ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
		}
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) { send(d, prometheus.GaugeValue, v, labels...) }
	for _, t := range s.Topics {
		gauge(c.info, 1, t.Topic, t.Relationship, t.RelationshipType, t.Priority, strings.Join(t.Segments, ","), t.QueryHash)
		gauge(c.score, t.Score, t.Topic)
		gauge(c.mentions, float64(t.Mentions), t.Topic)
		gauge(c.authors, float64(t.Authors), t.Topic)
		gauge(c.engagement, t.Engagement, t.Topic)
		gauge(c.momentum, t.Momentum, t.Topic)
		gauge(c.sentiment, t.Sentiment, t.Topic)
		gauge(c.organisations, float64(t.UnconfiguredOrganisations), t.Topic)
		for _, f := range affinity.Formats {
			gauge(c.formatMentions, float64(t.FormatMentions[f]), t.Topic, string(f))
			send(c.mentionsTotal, prometheus.CounterValue, float64(s.MentionTotals[t.Topic][f]), t.Topic, string(f))
		}
		for _, b := range s.Brands {
			gauge(c.shareOfVoice, t.ShareOfVoice[b.Name], t.Topic, b.Name, kinds[b.Name])
			gauge(c.brandSentiment, t.BrandSentiment[b.Name], t.Topic, b.Name)
			send(c.brandMentionsTotal, prometheus.CounterValue,
				float64(s.BrandMentionTotals[t.Topic][b.Name]), t.Topic, b.Name, kinds[b.Name])
		}
	}
}
