package collector

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Query is one thing a search source asks a platform for: a topic's terms or
// a brand's names. Key names it in cursors and logs ("topic:NAME", "brand:NAME").
type Query struct {
	Key   string
	Terms []string
}

// Search renders the terms as a search string: phrases quoted, joined by OR,
// the syntax Algolia, Reddit, Lemmy and Bluesky all accept.
func (q Query) Search() string {
	parts := make([]string, 0, len(q.Terms))
	for _, t := range q.Terms {
		t = strings.TrimSpace(strings.ReplaceAll(t, `"`, ""))
		if t == "" {
			continue
		}
		if strings.ContainsAny(t, " \t-") {
			t = `"` + t + `"`
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, " OR ")
}

// Cursors keeps one cursor per query (or per instance and tag) inside the
// opaque SourceState.Cursor, so each is resumed independently after a restart.
type Cursors map[string]string

// DecodeCursors reads a state's cursor; an empty or foreign one gives an empty map.
func DecodeCursors(s string) Cursors {
	c := Cursors{}
	if s != "" {
		_ = json.Unmarshal([]byte(s), &c) // a cursor from an older format restarts from the look-back
	}
	return c
}

// Encode writes the cursors back, keys sorted (encoding/json sorts map keys),
// so an unchanged state compares equal.
func (c Cursors) Encode() string {
	if len(c) == 0 {
		return ""
	}
	b, _ := json.Marshal(map[string]string(c))
	return string(b)
}

// RateLimitRemaining reads the request budget from the headers platforms use
// (X-RateLimit-Remaining on Mastodon, X-Ratelimit-Remaining on Reddit, which
// sends a float); -1 when none is present.
func RateLimitRemaining(h http.Header) float64 {
	for _, k := range []string{"X-RateLimit-Remaining", "X-Ratelimit-Remaining", "RateLimit-Remaining"} {
		if v := h.Get(k); v != "" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return f
			}
		}
	}
	return -1
}
