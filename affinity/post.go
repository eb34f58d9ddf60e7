package affinity

import "time"

// Format is a usage format of social media: where a topic is present.
type Format string

// The usage formats of the method; every source declares one.
const (
	FormatAudience  Format = "audience"  // news, blogs, media
	FormatCommunity Format = "community" // forums, Reddit, Lemmy, HN
	FormatNetwork   Format = "network"   // Mastodon, Bluesky
)

// Formats lists every usage format in a fixed order (metrics and tables rely on it).
var Formats = []Format{FormatAudience, FormatCommunity, FormatNetwork}

// Valid reports whether f is one of Formats.
func (f Format) Valid() bool {
	for _, g := range Formats {
		if f == g {
			return true
		}
	}
	return false
}

// Engagement is what a platform tells about reactions to a post; zero where it
// tells nothing.
type Engagement struct {
	Likes   int64 `json:"likes"`
	Reposts int64 `json:"reposts"`
	Replies int64 `json:"replies"`
	Score   int64 `json:"score"` // points/karma where the platform has them (HN, Reddit, Lemmy)
}

// Post is one public item as a source delivered it, mapped to one shape.
type Post struct {
	Source     string     `json:"source"`    // configured source name
	ID         string     `json:"id"`        // platform id, unique within Source
	URL        string     `json:"url"`       // link to the post as given; the store canonicalizes it
	Author     string     `json:"author"`    // handle or name; empty when unknown
	Published  time.Time  `json:"published"` // zero when the platform gave none
	Collected  time.Time  `json:"collected"`
	Language   string     `json:"lang"` // BCP 47 tag when the platform tells it
	Title      string     `json:"title"`
	Text       string     `json:"text"` // body as delivered (may be HTML); analysis normalizes it
	Engagement Engagement `json:"engagement"`
	Format     Format     `json:"format"`
	// Copies is how many near-duplicates the store collapsed into this post
	// (reposts, cross-posts, syndicated copies); set on posts read back.
	Copies int64 `json:"copies,omitempty"`
}

// Time is the moment a post counts at: its publication time, or its collection
// time when it has none or claims to be from the future (clocks and feeds lie).
func (p Post) Time() time.Time {
	if p.Published.IsZero() || (!p.Collected.IsZero() && p.Published.After(p.Collected)) {
		return p.Collected
	}
	return p.Published
}

// SourceState is what a source remembers between fetches; the store saves it
// in the same transaction as the posts it led to.
type SourceState struct {
	Source       string
	Cursor       string // opaque to everyone but the source kind that wrote it
	ETag         string
	LastModified string
	NextCheck    time.Time // not before this; set from Retry-After, backoff or cache headers
}

// Analysis is what the analysis stages found in one post.
type Analysis struct {
	Topics     []string // names of the configured topics the post matches
	Brands     []string // names of the configured brands (own and competitors) it mentions
	Sentiment  float64  // in [-1, 1]; 0 is neutral
	Engagement float64  // normalized engagement, see analysis.EngagementScore
	// Terms are the normalized candidate terms of a post that matched a topic
	// (empty for posts that matched none: extraction is spent where it counts).
	Terms []string
	// Organisations are organisation-like names in a matched post that are not
	// configured brands: who else occupies the topic.
	Organisations []string
	// Language is the post's base language ("en", "pt"): the platform's
	// tag reduced to its language, else detected from the text, else "und".
	Language string
	// NearDup are the post's near-duplicate keys (analysis.NearDupKeys); nil
	// for a post without words, which is never collapsed.
	NearDup []uint64
}

// TermCount is a term and how often it occurred, with its score where one applies.
type TermCount struct {
	Term  string  `json:"term"`
	Count int64   `json:"count"`
	Score float64 `json:"score,omitempty"`
}

// AnalyzedPost is a post with what analysis found in it.
type AnalyzedPost struct {
	Post     Post
	Analysis Analysis
}

// Batch is one fetch's worth of work that the store commits in one transaction:
// the new posts, their mentions and the source's state.
type Batch struct {
	Source string
	Posts  []AnalyzedPost
	State  *SourceState // nil leaves the stored state unchanged
	// NearDup says how posts collapse into copies of one stored post; the
	// zero value collapses none.
	NearDup NearDupRule
}

// NearDupRule collapses near-duplicates: a post sharing at least MinBands of
// its near-duplicate keys with a post stored (or earlier in the batch) whose
// time lies within Horizon of its own is stored as a copy of that post.
type NearDupRule struct {
	MinBands int           // shared keys that make a copy; 0 disables collapsing
	Horizon  time.Duration // how far apart in time a copy and its original may be
}

// CommitResult tells what a commit actually inserted, so counters rise only by that.
type CommitResult struct {
	New        int // posts inserted
	Duplicates int // posts already stored (by id or canonical URL)
	// NearDuplicates are the posts inserted as copies of another post: stored,
	// but counted once, as their original's copies (no mentions of their own).
	NearDuplicates int
	// Demoted are originals stored before that became copies of a post of
	// this batch: it is dated earlier, so it is their original (a slow feed,
	// a backfill).
	Demoted  int
	Mentions map[string]map[Format]int // topic -> format -> mentions added to the durable totals
}
