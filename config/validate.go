package config

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// SourceKinds are the source kinds the config accepts; the collector has one
// fetcher for each.
var SourceKinds = []string{"feed", "replay"}

// StoreDrivers are the supported store drivers (PostgreSQL comes later).
var StoreDrivers = []string{"sqlite"}

var (
	// nameRe is for topic and source names: they become label values and
	// URL path segments (/api/v1/topics/{topic}), so no spaces or slashes.
	nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	// languageRe is a BCP 47 primary language subtag with an optional
	// region (en, de, pt-BR, es-419): what language detectors return.
	languageRe = regexp.MustCompile(`^[a-z]{2,3}(-([A-Z]{2}|[0-9]{3}))?$`)
)

// validator checks a decoded, defaulted Config and collects every problem,
// placing each at the line of its field (or the nearest enclosing one the
// file has, for a missing field).
type validator struct {
	file  string
	lines map[string]int
	errs  []*Error
}

func (v *validator) errorf(field, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: v.line(field), Field: field, Msg: fmt.Sprintf(format, args...)})
}

// line of field, or of its closest parent present in the file.
func (v *validator) line(field string) int {
	for {
		if l, ok := v.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return v.lines[""]
		}
		field = field[:i]
	}
}

func (v *validator) validate(c *Config) {
	v.brands(c)
	topics := map[string]string{} // topic name → field path of its first definition
	relationships := map[string]string{}
	for i, r := range c.Relationships {
		v.relationship(r, fmt.Sprintf("relationships[%d]", i), relationships, topics)
	}
	v.sources(c.Sources)
	v.scoring(c.Scoring)
	v.store(c.Store, c.Scoring)
	v.collector(c.Collector)
}

// brands checks the own brand and the competitors. Names and aliases are
// what the matcher looks for in posts, so one spelling must mean one brand.
func (v *validator) brands(c *Config) {
	if c.Brand.Kind != "own" {
		v.errorf("brand.kind", `must be "own" or left out, got %q (competitors go under competitors:)`, c.Brand.Kind)
	}
	spellings := map[string]string{} // folded name or alias → field path of its first use
	check := func(b Brand, field string) {
		if strings.TrimSpace(b.Name) == "" {
			v.errorf(field+".name", "required")
		} else {
			v.uniqueBrand(spellings, b.Name, field+".name")
		}
		for i, a := range b.Aliases {
			af := fmt.Sprintf("%s.aliases[%d]", field, i)
			if strings.TrimSpace(a) == "" {
				v.errorf(af, "must not be blank")
				continue
			}
			v.uniqueBrand(spellings, a, af)
		}
	}
	check(c.Brand, "brand")
	for i, b := range c.Competitors {
		field := fmt.Sprintf("competitors[%d]", i)
		check(b, field)
		switch {
		case b.Kind == "":
			v.errorf(field+".kind", "required (one of %s)", list(CompetitorKinds))
		case !slices.Contains(CompetitorKinds, b.Kind):
			v.errorf(field+".kind", "unknown kind %q (one of %s)", b.Kind, list(CompetitorKinds))
		}
	}
}

func (v *validator) uniqueBrand(seen map[string]string, spelling, field string) {
	key := strings.ToLower(strings.TrimSpace(spelling))
	if first, dup := seen[key]; dup {
		v.errorf(field, "duplicate brand name or alias %q (first defined at line %d, compared without case)", spelling, v.line(first))
		return
	}
	seen[key] = field
}

func (v *validator) relationship(r Relationship, field string, names, topics map[string]string) {
	switch {
	case strings.TrimSpace(r.Name) == "":
		v.errorf(field+".name", "required")
	case names[r.Name] != "":
		v.errorf(field+".name", "duplicate relationship name %q (first defined at line %d)", r.Name, v.line(names[r.Name]))
	default:
		names[r.Name] = field + ".name"
	}
	switch {
	case r.Type == "":
		v.errorf(field+".type", "required (one of %s)", list(RelationshipTypes))
	case !slices.Contains(RelationshipTypes, r.Type):
		v.errorf(field+".type", "unknown relationship type %q (one of %s)", r.Type, list(RelationshipTypes))
	}
	v.priority(r.Priority, field+".priority")
	v.notBlank(r.Segments, field+".segments")
	if len(r.Topics) == 0 {
		v.errorf(field+".topics", "at least one topic required")
	}
	for i, t := range r.Topics {
		v.topic(t, fmt.Sprintf("%s.topics[%d]", field, i), topics)
	}
}

func (v *validator) topic(t Topic, field string, topics map[string]string) {
	if v.name(t.Name, field+".name") {
		if first, dup := topics[t.Name]; dup {
			v.errorf(field+".name", "duplicate topic name %q (first defined at line %d)", t.Name, v.line(first))
		} else {
			topics[t.Name] = field + ".name"
		}
	}
	v.priority(t.Priority, field+".priority")
	if len(t.Terms) == 0 {
		v.errorf(field+".terms", "at least one term required")
	}
	v.notBlank(t.Terms, field+".terms")
	v.notBlank(t.Synonyms, field+".synonyms")
	v.notBlank(t.Exclude, field+".exclude")
	// An exclusion equal to a term (or synonym) would veto every post the
	// term matches: the topic could never be present.
	matching := map[string]bool{}
	for _, s := range slices.Concat(t.Terms, t.Synonyms) {
		matching[strings.ToLower(strings.TrimSpace(s))] = true
	}
	for i, x := range t.Exclude {
		if key := strings.ToLower(strings.TrimSpace(x)); key != "" && matching[key] {
			v.errorf(fmt.Sprintf("%s.exclude[%d]", field, i), "%q is also a term or synonym of the topic; it would exclude every match", x)
		}
	}
	for i, l := range t.Languages {
		if !languageRe.MatchString(l) {
			v.errorf(fmt.Sprintf("%s.languages[%d]", field, i), `invalid language %q (want a BCP 47 language like "en", "de" or "pt-BR")`, l)
		}
	}
}

// name checks a topic or source name and reports whether it is usable.
func (v *validator) name(name, field string) bool {
	switch {
	case name == "":
		v.errorf(field, "required")
	case !nameRe.MatchString(name):
		v.errorf(field, "invalid name %q (must match %s)", name, nameRe)
	default:
		return true
	}
	return false
}

func (v *validator) priority(p, field string) {
	if !slices.Contains(Priorities, p) {
		v.errorf(field, "unknown priority %q (one of %s)", p, list(Priorities))
	}
}

func (v *validator) notBlank(items []string, field string) {
	for i, s := range items {
		if strings.TrimSpace(s) == "" {
			v.errorf(fmt.Sprintf("%s[%d]", field, i), "must not be blank")
		}
	}
}

func (v *validator) sources(sources []Source) {
	if len(sources) == 0 {
		v.errorf("sources", "at least one source required")
	}
	names := map[string]string{}
	for i, s := range sources {
		field := fmt.Sprintf("sources[%d]", i)
		if v.name(s.Name, field+".name") {
			if first, dup := names[s.Name]; dup {
				v.errorf(field+".name", "duplicate source name %q (first defined at line %d)", s.Name, v.line(first))
			} else {
				names[s.Name] = field + ".name"
			}
		}
		switch s.Kind {
		case "feed":
			if s.URL == "" {
				v.errorf(field+".url", "required for kind feed")
			} else if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.errorf(field+".url", "invalid URL %q: must be an absolute http or https URL with a host", s.URL)
			}
			if s.Path != "" {
				v.errorf(field+".path", "not allowed for kind feed (path is for replay sources)")
			}
			if s.Format == "" {
				v.errorf(field+".format", "required for kind feed (one of %s)", list(Formats))
			}
		case "replay":
			if s.Path == "" {
				v.errorf(field+".path", "required for kind replay")
			}
			if s.URL != "" {
				v.errorf(field+".url", "not allowed for kind replay (url is for feed sources)")
			}
		case "":
			v.errorf(field+".kind", "required (one of %s)", list(SourceKinds))
		default:
			v.errorf(field+".kind", "unknown kind %q (one of %s)", s.Kind, list(SourceKinds))
		}
		if s.Format != "" && !slices.Contains(Formats, s.Format) {
			v.errorf(field+".format", "unknown format %q (one of %s)", s.Format, list(Formats))
		}
		if s.Interval < model.Duration(time.Second) {
			v.errorf(field+".interval", "must be at least 1s, got %s", s.Interval)
		}
	}
}

func (v *validator) scoring(s Scoring) {
	v.positive(s.Window, "scoring.window")
	v.positive(s.Baseline, "scoring.baseline")
	v.positive(s.Interval, "scoring.interval")
	if !(s.OccupiedThreshold > 0 && s.OccupiedThreshold <= 1) {
		v.errorf("scoring.occupied_threshold", "must be in (0, 1], got %g", s.OccupiedThreshold)
	}
	w := s.Weights
	weights := []struct {
		key   string
		value float64
	}{{"mentions", w.Mentions}, {"authors", w.Authors}, {"engagement", w.Engagement}, {"formats", w.Formats}}
	negative := false
	for _, x := range weights {
		if x.value < 0 || math.IsNaN(x.value) {
			v.errorf("scoring.weights."+x.key, "must be >= 0, got %g", x.value)
			negative = true
		}
	}
	// The score must stay in [0, 1] so its curve means the same over months.
	if sum := w.Mentions + w.Authors + w.Engagement + w.Formats; !negative && math.Abs(sum-1) > 1e-6 {
		v.errorf("scoring.weights", "must sum to 1, got %.6g (a weight left out of the block is 0)", sum)
	}
	r := s.References
	for _, x := range []struct {
		key   string
		value float64
	}{{"mentions", r.Mentions}, {"authors", r.Authors}, {"engagement", r.Engagement}} {
		if !(x.value > 0) {
			v.errorf("scoring.references."+x.key, "must be > 0, got %g", x.value)
		}
	}
}

func (v *validator) store(s Store, sc Scoring) {
	if !slices.Contains(StoreDrivers, s.Driver) {
		v.errorf("store.driver", "unsupported driver %q (supported: %s)", s.Driver, list(StoreDrivers))
	}
	if strings.TrimSpace(s.Path) == "" {
		v.errorf("store.path", "required")
	}
	// Scoring reads the window and the baseline before it: pruning sooner
	// would make momentum fall for no reason.
	if need := sc.Window + sc.Baseline; s.Retention < need {
		v.errorf("store.retention", "must be at least scoring.window + scoring.baseline (%s), got %s", need, s.Retention)
	}
}

func (v *validator) collector(c Collector) {
	v.positive(c.Timeout, "collector.timeout")
	v.positive(c.ConnectTimeout, "collector.connect_timeout")
	if c.MaxBodySize < KiB {
		v.errorf("collector.max_body_size", "must be at least 1KiB, got %s", c.MaxBodySize)
	}
	if c.MaxConcurrentFetches < 1 {
		v.errorf("collector.max_concurrent_fetches", "must be at least 1, got %d", c.MaxConcurrentFetches)
	}
}

func (v *validator) positive(d model.Duration, field string) {
	if d <= 0 {
		v.errorf(field, "must be > 0, got %s", d)
	}
}

func list(values []string) string {
	return strings.Join(values, ", ")
}
