package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/analysis"
	"github.com/affinityd/affinityd/config"
	"github.com/affinityd/affinityd/server"
	"github.com/prometheus/common/model"
)

// occupiedMinMentions is the "real presence" a topic needs before a
// competitor can occupy it: at least this many mentions in the window. The
// same number is written into deploy/prometheus/rules/affinityd-alerts.yml
// (AffinityTopicOccupied), so the report, the status page and the alert
// agree on which topics are occupied. Below it a single post naming a
// competitor would "occupy" a topic, which says nothing.
const occupiedMinMentions = 5

// reportFormats are the renderings of the work template.
var reportFormats = []string{"markdown", "csv", "json"}

type reportOptions struct {
	format string
	since  string // a Prometheus duration ("7d"); "" keeps scoring.window
}

// workReport is the method's work template "customer relationship – topics
// – social media affinity", filled from the store.
type workReport struct {
	Generated           time.Time            `json:"generated"`
	Window              reportWindow         `json:"window"`
	WindowLength        string               `json:"window_length"`
	OccupiedThreshold   float64              `json:"occupied_threshold"`
	OccupiedMinMentions int64                `json:"occupied_min_mentions"`
	OwnBrand            string               `json:"own_brand"`
	Relationships       []reportRelationship `json:"relationships"`
}

// reportWindow is the scored interval [From, To).
type reportWindow struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

type reportRelationship struct {
	Name     string        `json:"name"`
	Type     string        `json:"type"`
	Priority string        `json:"priority"`
	Segments []string      `json:"customer_segments"`
	Topics   []reportTopic `json:"topics"`
}

type reportTopic struct {
	Topic          string   `json:"topic"`
	Priority       string   `json:"priority"`
	Affinity       float64  `json:"affinity"`
	Mentions       int64    `json:"mentions"`
	FormatsPresent []string `json:"formats_present"`
	// Competitive situation: the brand with the highest share of voice (ours
	// or a competitor), and whether a competitor occupies the topic.
	LeadingBrand     string   `json:"leading_brand"`
	LeadingBrandKind string   `json:"leading_brand_kind"`
	LeadingShare     float64  `json:"leading_share_of_voice"`
	Occupied         bool     `json:"occupied"`
	OccupiedBy       string   `json:"occupied_by"`
	EmergingTerms    []string `json:"emerging_terms"`
	// Net sentiment, (positive - negative) / posts of the topic that mention
	// the brand, in [-1, 1]; nil (null, an empty cell, "–") when no post of
	// the topic mentions it, which is not the same as neutral.
	LeadingSentiment *float64 `json:"leading_brand_sentiment"`
	OwnSentiment     *float64 `json:"own_brand_sentiment"`
}

// runReport is `affinityd report`: score the stored posts over the window and
// print the work template.
func runReport(g globalFlags, logger *slog.Logger, o reportOptions, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var since time.Duration
	if o.since != "" {
		d, err := model.ParseDuration(o.since)
		if err != nil || d <= 0 {
			fmt.Fprintf(stderr, "affinityd: report: --since %q: want a positive duration such as 7d or 36h\n", o.since)
			return 1
		}
		since = time.Duration(d)
	}
	d, gen, err := openOneShot(ctx, g, logger)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	defer d.close()
	rep, err := buildReport(ctx, d, gen.cfg, since, reportTerms(d))
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: report: %v\n", err)
		return 1
	}
	if err := writeReport(stdout, o.format, rep); err != nil {
		fmt.Fprintf(stderr, "affinityd: report: %v\n", err)
		return 1
	}
	if rep.empty() {
		fmt.Fprintf(stderr, "affinityd: report: no mentions in the window; run `affinityd scan` or the daemon on this store first (%s)\n",
			storagePath(g, gen.cfg))
	}
	return 0
}

// reportTerms is where the report gets its emerging terms: the same
// provider the topic pages use, over the scoring window.
func reportTerms(d *daemon) server.TermsFunc { return d.topicTerms }

// scoringInfo is what the topic page needs to show how a score adds up; the
// handler's Options.Scoring is func() server.ScoringInfo { return scoringInfo(d.gen.Load().cfg) }.
func scoringInfo(cfg *config.Config) server.ScoringInfo {
	s := cfg.Scoring
	info := server.ScoringInfo{
		Weights: server.ScoreWeights{Mentions: s.Weights.Mentions, Authors: s.Weights.Authors,
			Engagement: s.Weights.Engagement, Formats: s.Weights.Formats},
		References:           server.ScoreReferences{Mentions: s.References.Mentions, Authors: s.References.Authors, Engagement: s.References.Engagement},
		OccupiedThreshold:    s.OccupiedThreshold,
		OccupiedMinMentions:  occupiedMinMentions,
		RelationshipPriority: map[string]string{},
		Topics:               map[string]server.TopicDefinition{},
	}
	for _, r := range cfg.Relationships {
		info.RelationshipPriority[r.Name] = r.Priority
		for _, t := range r.Topics {
			info.Topics[t.Name] = server.TopicDefinition{Query: t.Query, Terms: t.Terms, Synonyms: t.Synonyms,
				Exclude: t.Exclude, Languages: t.Languages}
		}
	}
	return info
}

// scoreWindow scores the store over a window of the given length ending now
// (0 keeps scoring.window), with the same formula as the daemon's passes. It
// does not touch the daemon's snapshot: a report's window is its own.
func scoreWindow(ctx context.Context, d *daemon, cfg *config.Config, window time.Duration) (*affinity.Snapshot, error) {
	c := *cfg // shallow copy: only Scoring.Window changes
	if window > 0 {
		c.Scoring.Window = model.Duration(window)
	}
	now := d.now()
	w, b := analysis.Windows(c.Scoring, now)
	cur, err := d.store.TopicWindows(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("window: %w", err)
	}
	base, err := d.store.TopicWindows(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	totals, err := d.store.MentionTotals(ctx)
	if err != nil {
		return nil, fmt.Errorf("totals: %w", err)
	}
	return analysis.Score(&c, now, cur, base, totals), nil
}

func buildReport(ctx context.Context, d *daemon, cfg *config.Config, window time.Duration, terms server.TermsFunc) (*workReport, error) {
	snap, err := scoreWindow(ctx, d, cfg, window)
	if err != nil {
		return nil, err
	}
	rep := &workReport{
		Generated: snap.Computed, Window: reportWindow{snap.Window.From, snap.Window.To}, WindowLength: windowLength(snap.Window.Duration()),
		OccupiedThreshold: cfg.Scoring.OccupiedThreshold, OccupiedMinMentions: occupiedMinMentions,
	}
	kinds := map[string]affinity.BrandKind{}
	for _, b := range snap.Brands {
		kinds[b.Name] = b.Kind
		if b.Kind == affinity.BrandOwn && rep.OwnBrand == "" {
			rep.OwnBrand = b.Name
		}
	}
	for _, r := range cfg.Relationships {
		rel := reportRelationship{Name: r.Name, Type: r.Type, Priority: r.Priority, Segments: r.Segments, Topics: []reportTopic{}}
		if rel.Segments == nil {
			rel.Segments = []string{}
		}
		for _, t := range r.Topics {
			ts, ok := snap.Topic(t.Name)
			if !ok {
				continue
			}
			rt := reportTopic{Topic: t.Name, Priority: t.Priority, Affinity: ts.Score, Mentions: ts.Mentions,
				FormatsPresent: []string{}, EmergingTerms: []string{}}
			for _, f := range affinity.Formats {
				if ts.FormatMentions[f] > 0 {
					rt.FormatsPresent = append(rt.FormatsPresent, string(f))
				}
			}
			if ts.Leader != "" {
				rt.LeadingBrand, rt.LeadingBrandKind, rt.LeadingShare = ts.Leader, string(kinds[ts.Leader]), ts.ShareOfVoice[ts.Leader]
				rt.LeadingSentiment = brandSentiment(ts, ts.Leader)
			}
			if rep.OwnBrand != "" {
				rt.OwnSentiment = brandSentiment(ts, rep.OwnBrand)
			}
			rt.OccupiedBy = occupyingCompetitor(snap, ts, cfg.Scoring.OccupiedThreshold)
			rt.Occupied = rt.OccupiedBy != ""
			if terms != nil {
				tt, err := terms(ctx, t.Name)
				if err != nil {
					return nil, fmt.Errorf("terms of %s: %w", t.Name, err)
				}
				for _, e := range tt.Emerging {
					rt.EmergingTerms = append(rt.EmergingTerms, e.Term)
				}
			}
			rel.Topics = append(rel.Topics, rt)
		}
		rep.Relationships = append(rep.Relationships, rel)
	}
	return rep, nil
}

// brandSentiment is a brand's net sentiment in a topic, nil when no post of
// the topic mentions the brand (its share of voice is 0).
func brandSentiment(t affinity.TopicScore, brand string) *float64 {
	v, ok := t.BrandSentiment[brand]
	if !ok || t.ShareOfVoice[brand] <= 0 {
		return nil
	}
	return &v
}

// occupyingCompetitor is the competitor with the highest share of voice at or
// above θ in a topic with real presence; "" when none.
func occupyingCompetitor(s *affinity.Snapshot, t affinity.TopicScore, threshold float64) string {
	if t.Mentions < occupiedMinMentions {
		return ""
	}
	best, name := 0.0, ""
	for _, b := range s.Brands {
		if v := t.ShareOfVoice[b.Name]; b.Kind != affinity.BrandOwn && v >= threshold && v > best {
			best, name = v, b.Name
		}
	}
	return name
}

func (r *workReport) empty() bool {
	for _, rel := range r.Relationships {
		for _, t := range rel.Topics {
			if t.Mentions > 0 {
				return false
			}
		}
	}
	return true
}

func writeReport(w io.Writer, format string, r *workReport) error {
	switch format {
	case "", "markdown":
		return writeMarkdown(w, r)
	case "csv":
		return writeCSV(w, r)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return fmt.Errorf("unknown format %q (one of %s)", format, strings.Join(reportFormats, ", "))
}

func writeMarkdown(w io.Writer, r *workReport) error {
	var b strings.Builder
	b.WriteString("# Customer relationships – topics – social media affinity\n\n")
	fmt.Fprintf(&b, "Window: %s – %s (%s). Generated %s.\n\n", r.Window.From.UTC().Format("2006-01-02 15:04"),
		r.Window.To.UTC().Format("2006-01-02 15:04 UTC"), r.WindowLength, r.Generated.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Affinity is absolute, in [0, 1]. A topic is occupied when a competitor holds at least %s of the brand mentions "+
		"while the topic has at least %d mentions in the window.\n", percent(r.OccupiedThreshold), r.OccupiedMinMentions)
	b.WriteString("Sentiment is net: (positive − negative) / the topic's posts that mention the brand, in [−1, 1]; " +
		"– where no post of the topic mentions the brand.")
	if r.OwnBrand != "" {
		fmt.Fprintf(&b, " Ours is %s.", mdText(r.OwnBrand))
	}
	b.WriteString("\n")
	for _, rel := range r.Relationships {
		fmt.Fprintf(&b, "\n## %s\n\n", mdText(rel.Name))
		fmt.Fprintf(&b, "Type: %s · priority: %s · customer segments: %s\n\n", mdText(rel.Type), mdText(rel.Priority), orDash(mdText(strings.Join(rel.Segments, ", "))))
		b.WriteString("| Topic | Priority | Affinity | Mentions | Formats present | Leading brand | Share of voice | Leader's sentiment | Our sentiment | Occupied | Emerging terms |\n")
		b.WriteString("|---|---|--:|--:|---|---|--:|--:|--:|---|---|\n")
		for _, t := range rel.Topics {
			lead, share := "–", "–"
			if t.LeadingBrand != "" {
				lead, share = mdText(t.LeadingBrand)+" ("+mdText(t.LeadingBrandKind)+")", percent(t.LeadingShare)
			}
			occ := "no"
			if t.Occupied {
				occ = "**yes**, by " + mdText(t.OccupiedBy)
			}
			terms := make([]string, len(t.EmergingTerms))
			for i, e := range t.EmergingTerms {
				terms[i] = mdText(e)
			}
			fmt.Fprintf(&b, "| %s | %s | %.2f | %d | %s | %s | %s | %s | %s | %s | %s |\n", mdText(t.Topic), mdText(t.Priority), t.Affinity, t.Mentions,
				orDash(strings.Join(t.FormatsPresent, ", ")), lead, share, sentimentText(t.LeadingSentiment), sentimentText(t.OwnSentiment),
				occ, strings.Join(terms, ", "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeCSV writes one row per topic, the relationship's columns repeated, so
// a spreadsheet can filter and pivot without merged cells.
func writeCSV(w io.Writer, r *workReport) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"relationship", "relationship_type", "relationship_priority", "customer_segments",
		"topic", "topic_priority", "affinity", "mentions", "formats_present",
		"leading_brand", "leading_brand_kind", "leading_share_of_voice", "leading_brand_sentiment", "own_brand", "own_brand_sentiment",
		"occupied", "occupied_by", "emerging_terms",
		"window_from", "window_to"})
	for _, rel := range r.Relationships {
		for _, t := range rel.Topics {
			_ = cw.Write([]string{csvText(rel.Name), rel.Type, rel.Priority, csvText(strings.Join(rel.Segments, ";")),
				t.Topic, t.Priority, strconv.FormatFloat(t.Affinity, 'f', 4, 64), strconv.FormatInt(t.Mentions, 10),
				strings.Join(t.FormatsPresent, ";"), csvText(t.LeadingBrand), t.LeadingBrandKind,
				strconv.FormatFloat(t.LeadingShare, 'f', 4, 64), csvSentiment(t.LeadingSentiment), csvText(r.OwnBrand), csvSentiment(t.OwnSentiment),
				strconv.FormatBool(t.Occupied), csvText(t.OccupiedBy),
				csvText(strings.Join(t.EmergingTerms, ";")),
				r.Window.From.UTC().Format(time.RFC3339), r.Window.To.UTC().Format(time.RFC3339)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvText puts text on one line and defuses spreadsheet formulas: terms come from posts, and a cell
// starting with = + - @ (or a tab/CR) would run in Excel or LibreOffice.
// The OWASP advice: prefix such a cell with a single quote.
func csvText(s string) string {
	s = strings.Join(strings.Fields(s), " ") // one line per row, whatever a term holds
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// mdText makes text safe in a Markdown table cell: no line breaks, and the
// characters that would start markup, split the cell or open raw HTML are
// backslash-escaped (CommonMark renders "\<" as a literal "<").
func mdText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>|#!&~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// windowLength says "7d" rather than Prometheus' "1w": the configuration and
// --since speak in days.
func windowLength(d time.Duration) string {
	if day := 24 * time.Hour; d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return model.Duration(d).String()
}

// sentimentText is a net sentiment for a person: signed, with its reading in
// words (±0.05 is the neutral band, as on the topic page).
func sentimentText(v *float64) string {
	if v == nil {
		return "–"
	}
	s := strconv.FormatFloat(*v, 'f', 2, 64)
	if *v > 0 {
		s = "+" + s
	}
	switch {
	case *v >= 0.05:
		return s + " positive"
	case *v <= -0.05:
		return s + " negative"
	}
	return s + " neutral"
}

// csvSentiment leaves the cell empty when no post mentions the brand.
func csvSentiment(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 4, 64)
}

func percent(f float64) string { return strconv.FormatFloat(f*100, 'f', 0, 64) + " %" }

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
