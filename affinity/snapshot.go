package affinity

import "time"

// BrandKind says whose a brand is: our own, or which kind of competitor.
type BrandKind string

// Brand kinds; competitors are direct, media, platform or community.
const (
	BrandOwn       BrandKind = "own"
	BrandDirect    BrandKind = "direct"
	BrandMedia     BrandKind = "media"
	BrandPlatform  BrandKind = "platform"
	BrandCommunity BrandKind = "community"
)

// Brand is a configured brand, ours or a competitor's.
type Brand struct {
	Name string
	Kind BrandKind
}

// TopicScore is one topic's affinity and its components over the snapshot's window.
type TopicScore struct {
	Topic            string
	Relationship     string
	RelationshipType string
	Priority         string
	Segments         []string
	QueryHash        string // changes when the topic's terms change

	Mentions         int64
	Authors          int64
	Engagement       float64
	FormatMentions   map[Format]int64
	FormatsPresent   int     // usage formats with at least one mention, 0..3
	BaselineMentions int64   // mentions in the baseline window
	Momentum         float64 // (m/|W|) / (m_B/|B|); 0 when both are empty
	Sentiment        float64 // (pos-neg)/all in [-1, 1]
	Score            float64 // affinity in [0, 1]

	// ShareOfVoice maps every configured brand to its share of brand mentions
	// in posts matching the topic; 0 for all when no brand is mentioned.
	ShareOfVoice map[string]float64
	// BrandSentiment maps every configured brand to the net sentiment
	// (pos-neg)/all of the posts matching the topic that mention it; 0 when none.
	BrandSentiment map[string]float64
	// UnconfiguredOrganisations counts organisations co-mentioned with the
	// topic in the window that are not configured brands (names: the API).
	UnconfiguredOrganisations int64
	// Leader is the brand with the highest share of voice, "" when none.
	Leader string
}

// Snapshot is the immutable result of one scoring pass; surfaces read it
// through an atomic pointer and never change it.
type Snapshot struct {
	Computed time.Time
	Window   Window
	Baseline Window
	Topics   []TopicScore // in config order
	Brands   []Brand      // own brand first, then competitors in config order
	// MentionTotals is the store's durable count of mentions per topic and format
	// since the database was created; it only grows.
	MentionTotals map[string]map[Format]int64
	// BrandMentionTotals is the store's durable count, per topic and brand, of
	// posts matching the topic that mention the brand; it only grows.
	BrandMentionTotals map[string]map[string]int64
}

// Topic returns the score of the named topic.
func (s *Snapshot) Topic(name string) (TopicScore, bool) {
	for _, t := range s.Topics {
		if t.Topic == name {
			return t, true
		}
	}
	return TopicScore{}, false
}
