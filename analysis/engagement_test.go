package analysis

import (
	"math"
	"testing"

	"github.com/affinityd/affinityd/affinity"
)

func TestEngagementScore(t *testing.T) {
	tests := []struct {
		name string
		in   affinity.Engagement
		want float64
	}{
		{"nothing known", affinity.Engagement{}, 0},
		{"likes", affinity.Engagement{Likes: 9}, math.Log(10)},
		{"reposts count double", affinity.Engagement{Reposts: 2}, math.Log(5)},
		{"all together", affinity.Engagement{Likes: 10, Reposts: 5, Replies: 4, Score: 20}, math.Log(1 + 10 + 10 + 4 + 20)},
		{"negative score ignored", affinity.Engagement{Likes: 2, Score: -50}, math.Log(3)},
		{"negative counts never go below zero", affinity.Engagement{Likes: -100}, 0},
		{"viral is damped", affinity.Engagement{Likes: 1_000_000}, math.Log(1_000_001)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EngagementScore(tt.in); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("EngagementScore(%+v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
