package affinity

import "time"

// TopicWindow holds the counts of one topic over one time window, as the store
// computes them from its time-bucketed mentions.
type TopicWindow struct {
	Topic      string
	Mentions   int64            // distinct posts matching the topic
	Authors    int64            // distinct non-empty authors of those posts
	Engagement float64          // sum of normalized per-post engagement
	Positive   int64            // posts with sentiment > 0
	Negative   int64            // posts with sentiment < 0
	Formats    map[Format]int64 // mentions per usage format
	Brands     map[string]int64 // brand name -> posts matching the topic that mention it
	// BrandPositive and BrandNegative count, per brand, those of its posts
	// with sentiment > 0 and < 0: the brand's net sentiment within the topic.
	BrandPositive map[string]int64
	BrandNegative map[string]int64
}

// Window is a half-open time interval [From, To).
type Window struct {
	From, To time.Time
}

// Duration is the window's length.
func (w Window) Duration() time.Duration { return w.To.Sub(w.From) }
