package server

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	stdhtml "html"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/affinityd/affinityd/affinity"
)

// ScoringInfo is what the topic page needs from the configuration to show how
// a score adds up; the snapshot carries results, not the formula's inputs.
type ScoringInfo struct {
	Weights    ScoreWeights
	References ScoreReferences
	// OccupiedThreshold is scoring.occupied_threshold (θ).
	OccupiedThreshold float64
	// OccupiedMinMentions is the "real presence" a topic needs before a
	// competitor can occupy it; the alert rules use 5.
	OccupiedMinMentions int64
	// RelationshipPriority maps a relationship's name to its priority: the
	// snapshot only carries each topic's own priority.
	RelationshipPriority map[string]string
	// Topics maps a topic's name to its definition: what it matches is
	// configuration, which the snapshot does not carry.
	Topics map[string]TopicDefinition
}

// TopicDefinition is what a topic matches, as configured: a boolean query, or
// terms and synonyms; exclusions; the languages it counts (none: all).
type TopicDefinition struct {
	Query     string
	Terms     []string
	Synonyms  []string
	Exclude   []string
	Languages []string
}

// ScoreWeights are scoring.weights.
type ScoreWeights struct{ Mentions, Authors, Engagement, Formats float64 }

// ScoreReferences are scoring.references, where a component saturates.
type ScoreReferences struct{ Mentions, Authors, Engagement float64 }

// TermCount is a term and how often it occurred (the shared noun).
type TermCount = affinity.TermCount

// TopicTerms is what term extraction knows about one topic over the window.
type TopicTerms struct {
	Top           []TermCount `json:"top"`
	Emerging      []TermCount `json:"emerging"`
	Organisations []TermCount `json:"organisations"` // co-mentioned, not configured as brands
}

// TermsFunc returns a topic's terms; the provider lives with term extraction.
type TermsFunc func(ctx context.Context, topic string) (TopicTerms, error)

// Evidence sizes: the page lists a handful, ranked from a larger recent set
// so "most engaging" means something without a query of its own.
const (
	evidenceShown  = 10
	evidencePool   = 200
	excerptRunes   = 280
	sparkWidth     = 120.0
	sparkHeight    = 28.0
	mainSparkSpan  = 28 * 24 * time.Hour
	topicSparkSpan = DefaultHistoryKeep
)

// --- view models: everything a template needs, computed in Go so templates stay dumb ---

type layoutData struct {
	Title   string
	Section string // "topics" or "sources": marks the current nav link
	Root    string // relative path to "/", so the page works behind a path prefix
}

type statusData struct {
	layoutData
	Snapshot *affinity.Snapshot
	Groups   []relGroup
	Sources  []SourceStatus
	Up, Down int
}

type relGroup struct {
	Name, Type, Priority string
	Segments             []string
	Topics               []topicRow
}

type topicRow struct {
	affinity.TopicScore
	Formats  []formatCount
	Spark    sparkline
	Occupier string // competitor occupying the topic, "" when none or unknown
}

type formatCount struct {
	Format affinity.Format
	Count  int64
}

type sparkline struct {
	Points     string // polyline points; empty when there is no history
	LastX      float64
	LastY      float64
	Label      string
	Width      float64
	Height     float64
	Single     bool
	HasHistory bool
}

type topicData struct {
	layoutData
	Snapshot     *affinity.Snapshot
	Topic        affinity.TopicScore
	RelPriority  string
	Formats      []formatCount
	Totals       []formatCount
	Components   []component
	HasWeights   bool
	Sum          float64
	Clamped      bool
	Mismatch     bool // the contributions do not add up to the score: formula drift
	SoV          []sovRow
	Definition   *TopicDefinition // nil when the daemon did not pass it
	Occupier     string
	Threshold    float64
	MinMentions  int64
	Spark        sparkline
	Terms        termsView
	Latest       []postView
	Engaging     []postView
	AnyCopies    bool // an evidence post stands for near-duplicates: explain "+N copies"
	EvidenceErr  bool
	EvidenceNone bool // no provider
}

type component struct {
	Name, Symbol       string
	Value              string
	Reference          string
	Saturated          float64
	Weight             float64
	Contribution       float64
	Explain            string
	ReferenceAvailable bool
}

type sovRow struct {
	Brand    string
	Kind     affinity.BrandKind
	Share    float64
	Leader   bool
	Occupies bool
	// Sentiment is the net sentiment of the topic's posts that mention the
	// brand; HasSentiment is false when none do (or the snapshot predates it).
	Sentiment    float64
	HasSentiment bool
}

type termsView struct {
	Available                    bool // a provider is wired
	Err                          bool
	Top, Emerging, Organisations []TermCount
}

type postView struct {
	Text       string // excerpt, shown as text: post text is hostile input
	Author     string
	Source     string
	Format     affinity.Format
	Published  time.Time
	Href       string // only http(s); "" when the URL is unsafe or missing
	RawURL     string // shown as text when Href is empty
	Engagement affinity.Engagement
	Weight     int64
	Copies     int64 // near-duplicates collapsed into this post
}

type sourcesData struct {
	layoutData
	Sources []SourceStatus
}

// --- handlers ---

func (a *api) statusPage(w http.ResponseWriter, r *http.Request) {
	s := a.o.Snapshot()
	data := statusData{layoutData: layoutData{Title: "Topics", Section: "topics", Root: "./"}, Snapshot: s, Sources: a.sourcesList()}
	for _, src := range data.Sources {
		if src.Up {
			data.Up++
		} else if src.Fetches > 0 {
			data.Down++
		}
	}
	if s != nil {
		info := a.scoring()
		for _, t := range s.Topics {
			n := len(data.Groups)
			if n == 0 || data.Groups[n-1].Name != t.Relationship {
				data.Groups = append(data.Groups, relGroup{Name: t.Relationship, Type: t.RelationshipType,
					Priority: info.RelationshipPriority[t.Relationship], Segments: t.Segments})
				n++
			}
			data.Groups[n-1].Topics = append(data.Groups[n-1].Topics, topicRow{
				TopicScore: t,
				Formats:    presentFormats(t.FormatMentions),
				Spark:      newSparkline(a.o.History.Points(t.Topic), s.Computed, mainSparkSpan, sparkWidth, sparkHeight),
				Occupier:   occupier(s, t, info),
			})
		}
	}
	a.render(w, r, http.StatusOK, statusTemplate, data)
}

func (a *api) topicPage(w http.ResponseWriter, r *http.Request) {
	s := a.o.Snapshot()
	if s == nil {
		a.render(w, r, http.StatusServiceUnavailable, messageTemplate, messageData{
			layoutData: layoutData{Title: "Not ready", Section: "topics", Root: "../"},
			Message:    "No scores computed yet. The first scoring pass runs shortly after start."})
		return
	}
	t, ok := s.Topic(r.PathValue("topic"))
	if !ok {
		a.render(w, r, http.StatusNotFound, messageTemplate, messageData{
			layoutData: layoutData{Title: "No such topic", Section: "topics", Root: "../"},
			Message:    "There is no configured topic of that name."})
		return
	}
	info, hasInfo := a.scoringInfo()
	data := topicData{
		layoutData:  layoutData{Title: t.Topic, Section: "topics", Root: "../"},
		Snapshot:    s,
		Topic:       t,
		RelPriority: info.RelationshipPriority[t.Relationship],
		Formats:     allFormats(t.FormatMentions),
		Totals:      allFormats(s.MentionTotals[t.Topic]),
		HasWeights:  hasInfo,
		Occupier:    occupier(s, t, info),
		Threshold:   info.OccupiedThreshold,
		MinMentions: info.OccupiedMinMentions,
		Spark:       newSparkline(a.o.History.Points(t.Topic), s.Computed, topicSparkSpan, 2*sparkWidth, 2*sparkHeight),
	}
	data.Components, data.Sum = components(t, info, hasInfo)
	data.Clamped = hasInfo && (data.Sum > 1 || data.Sum < 0)
	data.Mismatch = hasInfo && math.Abs(min(max(data.Sum, 0), 1)-t.Score) > 1e-9
	for _, b := range s.Brands {
		share := t.ShareOfVoice[b.Name]
		sent, ok := t.BrandSentiment[b.Name]
		data.SoV = append(data.SoV, sovRow{Brand: b.Name, Kind: b.Kind, Share: share,
			Leader: b.Name == t.Leader, Occupies: b.Name == data.Occupier,
			Sentiment: sent, HasSentiment: ok && share > 0})
	}
	if def, ok := info.Topics[t.Topic]; ok {
		data.Definition = &def
	}
	data.Terms = a.terms(r.Context(), t.Topic)
	if a.o.Evidence == nil {
		data.EvidenceNone = true
	} else if posts, err := a.o.Evidence(r.Context(), t.Topic, evidencePool); err != nil {
		a.o.Logger.Warn("evidence lookup failed", "topic", t.Topic, "err", err)
		data.EvidenceErr = true
	} else {
		data.Latest, data.Engaging = evidenceViews(posts)
		data.AnyCopies = slices.ContainsFunc(slices.Concat(data.Latest, data.Engaging), func(v postView) bool { return v.Copies > 0 })
	}
	a.render(w, r, http.StatusOK, topicTemplate, data)
}

func (a *api) sourcesPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, sourcesTemplate, sourcesData{
		layoutData: layoutData{Title: "Sources", Section: "sources", Root: "./"}, Sources: a.sourcesList()})
}

type messageData struct {
	layoutData
	Message string
}

func (a *api) sourcesList() []SourceStatus {
	if a.o.Metrics == nil {
		return nil
	}
	return a.o.Metrics.Sources()
}

func (a *api) scoringInfo() (ScoringInfo, bool) {
	if a.o.Scoring == nil {
		return ScoringInfo{}, false
	}
	return a.o.Scoring(), true
}

func (a *api) scoring() ScoringInfo { info, _ := a.scoringInfo(); return info }

func (a *api) terms(ctx context.Context, topic string) termsView {
	if a.o.Terms == nil {
		return termsView{}
	}
	tt, err := a.o.Terms(ctx, topic)
	if err != nil {
		a.o.Logger.Warn("terms lookup failed", "topic", topic, "err", err)
		return termsView{Available: true, Err: true}
	}
	return termsView{Available: true, Top: tt.Top, Emerging: tt.Emerging, Organisations: tt.Organisations}
}

// render executes into a buffer first: a template error becomes a clean 500
// instead of half a page, and the security headers go out with every page.
func (a *api) render(w http.ResponseWriter, r *http.Request, code int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		a.o.Logger.Warn("page failed", "path", r.URL.Path, "err", err)
		http.Error(w, "page failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Post text is hostile input. Escaping is the defence; this policy is the
	// second wall: no script runs on these pages at all, nothing is loaded
	// from elsewhere, and evidence links do not leak the daemon's address.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// --- computations for the views ---

// saturate is the README's sat(x, x0) = min(1, ln(1+x)/ln(1+x0)), as
// analysis.Saturate computes it. It is repeated here rather than imported so
// the server does not depend on analysis and config; the topic page says so
// when its sum and the snapshot's score disagree (Mismatch), and the browser
// test asserts they agree on the demo.
func saturate(x, x0 float64) float64 {
	if x <= 0 || x0 <= 0 {
		return 0
	}
	return math.Min(1, math.Log1p(x)/math.Log1p(x0))
}

// components breaks the score into the README formula's terms.
func components(t affinity.TopicScore, info ScoringInfo, ok bool) ([]component, float64) {
	wt, ref := info.Weights, info.References
	formats := float64(len(affinity.Formats))
	cs := []component{
		{Name: "Mentions", Symbol: "m", Value: fmt.Sprint(t.Mentions), Reference: formatFloat(ref.Mentions, 0),
			Saturated: saturate(float64(t.Mentions), ref.Mentions), Weight: wt.Mentions,
			Explain: "distinct posts matching the topic"},
		{Name: "Authors", Symbol: "a", Value: fmt.Sprint(t.Authors), Reference: formatFloat(ref.Authors, 0),
			Saturated: saturate(float64(t.Authors), ref.Authors), Weight: wt.Authors,
			Explain: "distinct authors of those posts"},
		{Name: "Engagement", Symbol: "e", Value: formatFloat(t.Engagement, 2), Reference: formatFloat(ref.Engagement, 0),
			Saturated: saturate(t.Engagement, ref.Engagement), Weight: wt.Engagement,
			Explain: "sum of log-damped likes, reposts, replies and points"},
		{Name: "Formats", Symbol: "f", Value: fmt.Sprintf("%d of %d", t.FormatsPresent, len(affinity.Formats)),
			Reference: fmt.Sprint(len(affinity.Formats)), Saturated: float64(t.FormatsPresent) / formats, Weight: wt.Formats,
			Explain: "usage formats with at least one mention (linear, not log-saturated)"},
	}
	sum := 0.0
	for i := range cs {
		cs[i].ReferenceAvailable = ok
		cs[i].Contribution = cs[i].Weight * cs[i].Saturated
		sum += cs[i].Contribution
	}
	return cs, sum
}

// occupier is the competitor holding at least θ of the share of voice while
// the topic has real presence; "" when none or the thresholds are unknown.
func occupier(s *affinity.Snapshot, t affinity.TopicScore, info ScoringInfo) string {
	if info.OccupiedThreshold <= 0 || t.Mentions < info.OccupiedMinMentions {
		return ""
	}
	best, name := 0.0, ""
	for _, b := range s.Brands {
		if b.Kind == affinity.BrandOwn {
			continue
		}
		if v := t.ShareOfVoice[b.Name]; v >= info.OccupiedThreshold && v > best {
			best, name = v, b.Name
		}
	}
	return name
}

func presentFormats(m map[affinity.Format]int64) []formatCount {
	var out []formatCount
	for _, f := range affinity.Formats {
		if m[f] > 0 {
			out = append(out, formatCount{f, m[f]})
		}
	}
	return out
}

func allFormats(m map[affinity.Format]int64) []formatCount {
	out := make([]formatCount, 0, len(affinity.Formats))
	for _, f := range affinity.Formats {
		out = append(out, formatCount{f, m[f]})
	}
	return out
}

// newSparkline draws scores on an absolute [0, 1] axis (scores are absolute,
// so the height means the same on every topic) over span ending at now.
func newSparkline(pts []ScorePoint, now time.Time, span time.Duration, width, height float64) sparkline {
	sp := sparkline{Width: width, Height: height}
	from := now.Add(-span)
	var inSpan []ScorePoint
	for _, p := range pts {
		if !p.Time.Before(from) && !p.Time.After(now) {
			inSpan = append(inSpan, p)
		}
	}
	days := int(span.Hours() / 24)
	if len(inSpan) == 0 {
		sp.Label = fmt.Sprintf("No score history for the last %d days yet", days)
		return sp
	}
	const pad = 3.0
	var b strings.Builder
	for i, p := range inSpan {
		x := pad + (width-2*pad)*float64(p.Time.Sub(from))/float64(span)
		y := pad + (height-2*pad)*(1-min(max(p.Score, 0), 1))
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x, y)
		sp.LastX, sp.LastY = x, y
	}
	sp.HasHistory = true
	sp.Points = b.String()
	sp.Single = len(inSpan) == 1
	first, last := inSpan[0], inSpan[len(inSpan)-1]
	sp.Label = fmt.Sprintf("Affinity score over the last %d days: %s on %s, %s now (%d points)", days,
		formatFloat(first.Score, 2), first.Time.UTC().Format("Jan 2"), formatFloat(last.Score, 2), len(inSpan))
	return sp
}

// engagementWeight ranks posts by reactions; the same weighting as the
// engagement component (reposts spread furthest) without its log, which
// would not change the order.
func engagementWeight(e affinity.Engagement) int64 {
	return e.Likes + 2*e.Reposts + e.Replies + max(e.Score, 0)
}

// evidenceViews turns the newest posts into the latest few and the most
// engaging few among them (ties keep newest first).
func evidenceViews(posts []affinity.Post) (latest, engaging []postView) {
	views := make([]postView, 0, len(posts))
	for _, p := range posts {
		views = append(views, newPostView(p))
	}
	latest = views[:min(evidenceShown, len(views))]
	ranked := slices.Clone(views)
	slices.SortStableFunc(ranked, func(x, y postView) int { return cmp.Compare(y.Weight, x.Weight) })
	for _, v := range ranked {
		if v.Weight == 0 || len(engaging) == evidenceShown {
			break
		}
		engaging = append(engaging, v)
	}
	return latest, engaging
}

// formattingTag matches the layout markup feeds wrap their text in. Only
// these are dropped, for reading; anything else (<script>, <img onerror>…)
// stays in the text, shown literally, so a person sees what the post tried.
// Either way the result is text that html/template escapes.
var formattingTag = regexp.MustCompile(`(?i)</?(?:p|br|b|i|u|em|strong|small|span|div|ul|ol|li|blockquote|h[1-6]|a|code|pre)(?:\s[^<>]*)?/?>`)

// displayText is a post's text for reading: formatting tags dropped, entities
// decoded (&amp;#8217; reads as ’), whitespace collapsed.
func displayText(s string) string {
	s = formattingTag.ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(stdhtml.UnescapeString(s)), " ")
}

func newPostView(p affinity.Post) postView {
	text := displayText(p.Title)
	if body := displayText(p.Text); body != "" {
		if text != "" {
			text += " — "
		}
		text += body
	}
	v := postView{Text: excerpt(text, excerptRunes), Author: p.Author, Source: p.Source, Format: p.Format,
		Published: p.Time(), Engagement: p.Engagement, Weight: engagementWeight(p.Engagement), Copies: p.Copies}
	if href, ok := safeHref(p.URL); ok {
		v.Href = href
	} else {
		v.RawURL = p.URL
	}
	return v
}

// safeHref accepts only absolute http(s) URLs with a host: a post's URL comes
// from the platform or a feed, and javascript:, data: or relative links must
// not become clickable on our page.
func safeHref(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	return u.String(), true
}

func excerpt(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n])) + "…"
}
