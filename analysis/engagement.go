package analysis

import (
	"math"

	"github.com/affinityd/affinityd/affinity"
)

// EngagementScore is ln(1 + likes + 2·reposts + replies + max(score, 0)).
// Reposts weigh double because they carry the post to another audience; the
// logarithm damps viral outliers so one post with 50,000 likes does not
// outweigh hundreds of ordinary ones in a topic's sum. Negative counts (a
// downvoted score, a platform's bug) count as 0, so the result is never below 0.
func EngagementScore(e affinity.Engagement) float64 {
	pos := func(n int64) float64 { return float64(max(n, 0)) }
	return math.Log1p(pos(e.Likes) + 2*pos(e.Reposts) + pos(e.Replies) + pos(e.Score))
}
