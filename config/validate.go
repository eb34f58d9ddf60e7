package config

import (
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// SourceKinds are the source kinds the config accepts; the collector has one
// fetcher for each.
var SourceKinds = []string{"feed", "replay", "mastodon", "hackernews", "reddit", "bluesky", "lemmy"}

// searchKinds are the kinds that ask a platform's API for the topics' and
// brands' terms: they take lookback and queries.
var searchKinds = []string{"mastodon", "hackernews", "reddit", "bluesky", "lemmy"}

// SourceQueries are the values of a search source's queries: what it asks
// the platform for.
var SourceQueries = []string{"topics", "brands", "all"}

// StoreDrivers are the supported store drivers.
var StoreDrivers = []string{"sqlite", "postgres"}

var (
	// nameRe is for topic and source names: they become label values and
	// URL path segments (/api/v1/topics/{topic}), so no spaces or slashes.
	nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	// languageRe is a BCP 47 primary language subtag with an optional
	// region (en, de, pt-BR, es-419): what language detectors return.
	languageRe = regexp.MustCompile(`^[a-z]{2,3}(-([A-Z]{2}|[0-9]{3}))?$`)
	// tagRe is a Mastodon hashtag without its "#".
	tagRe = regexp.MustCompile(`^[\p{L}\p{N}_]+$`)
	// subredditRe is a subreddit name without "r/".
	subredditRe = regexp.MustCompile(`^[A-Za-z0-9_]{2,21}$`)
	// envRe is a portable environment variable name.
	envRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
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
	v.nearDuplicates(c.Analysis.NearDuplicates)
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
	switch {
	case v.given(field + ".query"):
		v.validateQuery(t, field)
	case len(t.Terms) == 0:
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
		switch {
		case s.Kind == "":
			v.errorf(field+".kind", "required (one of %s)", list(SourceKinds))
		case !slices.Contains(SourceKinds, s.Kind):
			v.errorf(field+".kind", "unknown kind %q (one of %s)", s.Kind, list(SourceKinds))
		default:
			v.unused(s.Kind, field)
			v.source(s, field)
		}
		if s.Format != "" && !slices.Contains(Formats, s.Format) {
			v.errorf(field+".format", "unknown format %q (one of %s)", s.Format, list(Formats))
		}
		if s.Interval < model.Duration(time.Second) {
			v.errorf(field+".interval", "must be at least 1s, got %s", s.Interval)
		}
	}
}

// sourceFieldKinds names, for each source key that only some kinds use,
// the kinds that use it; name, kind, interval and format apply to all.
var sourceFieldKinds = map[string][]string{
	"url":           {"feed", "hackernews", "reddit", "bluesky"},
	"path":          {"replay"},
	"shift_to_now":  {"replay"},
	"preset":        {"feed"},
	"lookback":      searchKinds,
	"queries":       searchKinds,
	"instances":     {"mastodon", "lemmy"},
	"tags":          {"mastodon"},
	"subreddits":    {"reddit"},
	"token":         {"mastodon"},
	"client_id":     {"reddit"},
	"client_secret": {"reddit"},
	"identifier":    {"bluesky"},
	"app_password":  {"bluesky"},
	"jetstream":     {"bluesky"},
}

// sourceKeys are Source's yaml keys in declaration order, so errors on one
// line come in the order the struct documents them.
var _, sourceKeys = fieldsOf(reflect.TypeFor[Source]())

// unused rejects every key the file gives that kind does not read: a
// setting that silently does nothing is worse than an error.
func (v *validator) unused(kind, field string) {
	for _, key := range sourceKeys {
		kinds, limited := sourceFieldKinds[key]
		if limited && !slices.Contains(kinds, kind) && v.given(field+"."+key) {
			v.errorf(field+"."+key, "not used by kind %q", kind)
		}
	}
}

// given reports whether the file has a key (or list item) at path.
func (v *validator) given(path string) bool {
	_, ok := v.lines[path]
	return ok
}

// source checks the fields of a source's (known) kind.
func (v *validator) source(s Source, field string) {
	switch s.Kind {
	case "feed":
		// With a preset (valid or already reported) the URL and format
		// come from it.
		if !v.given(field + ".preset") {
			if s.URL == "" {
				v.errorf(field+".url", "required for kind feed (or set preset)")
			}
			if s.Format == "" {
				v.errorf(field+".format", "required for kind feed (one of %s)", list(Formats))
			}
		}
		if s.URL != "" {
			v.httpURL(s.URL, field+".url")
		}
	case "replay":
		if s.Path == "" {
			v.errorf(field+".path", "required for kind replay")
		}
	case "mastodon":
		v.instances(s, field)
		for i, t := range s.Tags {
			tf := fmt.Sprintf("%s.tags[%d]", field, i)
			switch {
			case strings.HasPrefix(t, "#"):
				v.errorf(tf, `invalid tag %q: write it without "#"`, t)
			case !tagRe.MatchString(t):
				v.errorf(tf, "invalid tag %q (must match %s)", t, tagRe)
			}
		}
		v.secret(s.Token, field+".token")
		v.search(s, field)
	case "hackernews":
		v.apiURL(s, field)
		v.search(s, field)
	case "reddit":
		v.apiURL(s, field)
		for i, sub := range s.Subreddits {
			if !subredditRe.MatchString(sub) {
				v.errorf(fmt.Sprintf("%s.subreddits[%d]", field, i), `invalid subreddit %q (must match %s, with or without "r/")`, sub, subredditRe)
			}
		}
		v.pair(s.ClientID != "", field+".client_id", v.given(field+".client_secret"), field+".client_secret",
			"set both for OAuth, or neither for anonymous reads: 10 requests/min, often refused from servers")
		v.secret(s.ClientSecret, field+".client_secret")
		v.search(s, field)
	case "bluesky":
		v.apiURL(s, field)
		v.pair(s.Identifier != "", field+".identifier", v.given(field+".app_password"), field+".app_password",
			"set both to search, or neither to stream from jetstream")
		v.secret(s.AppPassword, field+".app_password")
		switch {
		case s.Identifier != "" && v.given(field+".jetstream"):
			v.errorf(field+".jetstream", "not used when identifier is set (a signed-in bluesky source searches instead)")
		case s.Identifier == "":
			if u, err := url.Parse(s.Jetstream); err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Hostname() == "" || u.User != nil {
				v.errorf(field+".jetstream", "invalid URL %q: must be an absolute wss (or ws) URL with a host", redact(s.Jetstream))
			}
		}
		v.search(s, field)
	case "lemmy":
		v.instances(s, field)
		v.search(s, field)
	}
}

// httpURL checks a feed URL or an API base.
func (v *validator) httpURL(raw, field string) {
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errorf(field, "invalid URL %q: must be an absolute http or https URL with a host", redact(raw))
	}
}

// apiURL checks the API base of a kind that has a default one.
func (v *validator) apiURL(s Source, field string) {
	if s.URL == "" {
		v.errorf(field+".url", "must not be empty (leave it out for the default, %s)", DefaultURLs[s.Kind])
		return
	}
	v.httpURL(s.URL, field+".url")
}

// instances checks the servers of a mastodon or lemmy source: base URLs the
// collector appends API paths to.
func (v *validator) instances(s Source, field string) {
	example := instanceExamples[s.Kind]
	if len(s.Instances) == 0 {
		v.errorf(field+".instances", "at least one instance required for kind %s (like %s)", s.Kind, example)
	}
	for i, raw := range s.Instances {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			v.errorf(fmt.Sprintf("%s.instances[%d]", field, i),
				"invalid instance %q: must be an absolute https (or http) URL with a host and no path, like %s", redact(raw), example)
		}
	}
}

var instanceExamples = map[string]string{"mastodon": "https://mastodon.social", "lemmy": "https://lemmy.world"}

// pair checks two fields that go together: each given one needs the other.
func (v *validator) pair(hasA bool, a string, hasB bool, b, hint string) {
	key := func(field string) string { return field[strings.LastIndex(field, ".")+1:] }
	switch {
	case hasA && !hasB:
		v.errorf(a, "requires %s (%s)", key(b), hint)
	case hasB && !hasA:
		v.errorf(b, "requires %s (%s)", key(a), hint)
	}
}

// secret checks a Secret the file gives at field. It names where the
// secret is read from; the value is never read here (the file may appear
// after the config is loaded) and never printed.
func (v *validator) secret(sec Secret, field string) {
	if !v.given(field) {
		return
	}
	env, file := sec.Env, sec.File
	switch {
	case env != "" && file != "":
		v.errorf(field, "set either env or file, not both")
	case env == "" && file == "":
		v.errorf(field, "set env (a variable name) or file (a path); the secret itself never goes in the config")
	case env != "" && !envRe.MatchString(env):
		// Not quoted: a secret pasted here by mistake stays out of the logs.
		v.errorf(field+".env", "invalid environment variable name (must match %s)", envRe)
	}
}

// search checks the fields every search kind shares.
func (v *validator) search(s Source, field string) {
	if !slices.Contains(SourceQueries, s.Queries) {
		v.errorf(field+".queries", "unknown queries %q (one of %s)", s.Queries, list(SourceQueries))
	}
	switch {
	case s.Lookback <= 0:
		v.errorf(field+".lookback", "must be > 0, got %s", s.Lookback)
	case s.Lookback > MaxLookback:
		v.errorf(field+".lookback", "must be at most %dd, got %s", time.Duration(MaxLookback)/(24*time.Hour), s.Lookback)
	}
}

// redact hides the password of a URL with credentials in messages.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
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
	switch s.Driver {
	case "sqlite":
		if strings.TrimSpace(s.Path) == "" {
			v.errorf("store.path", "required")
		}
		if v.given("store.dsn") {
			v.errorf("store.dsn", "only for driver postgres (sqlite uses store.path)")
		}
	case "postgres":
		if v.given("store.path") {
			v.errorf("store.path", "only for driver sqlite (postgres connects with store.dsn)")
		}
		v.secret(s.DSN, "store.dsn")
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

func (v *validator) nearDuplicates(n NearDuplicates) {
	if math.IsNaN(n.Threshold) || n.Threshold <= 0 || n.Threshold > 1 {
		v.errorf("analysis.near_duplicates.threshold", "must be in (0, 1] (a similarity; 0.5 is the default), got %g", n.Threshold)
	}
	v.positive(n.Horizon, "analysis.near_duplicates.horizon")
}
