// Package config loads, defaults and validates affinityd's YAML configuration.
// Errors name the file, the line and the field.
package config

import (
	"github.com/prometheus/common/model"
)

// Config is the whole configuration, swapped whole on reload.
type Config struct {
	Brand         Brand          `yaml:"brand"`
	Competitors   []Brand        `yaml:"competitors"`
	Relationships []Relationship `yaml:"relationships"`
	Sources       []Source       `yaml:"sources"`
	Scoring       Scoring        `yaml:"scoring"`
	Store         Store          `yaml:"store"`
	Collector     Collector      `yaml:"collector"`
	Analysis      Analysis       `yaml:"analysis"`

	// File is the path the config was read from; "" for the embedded demo.
	File string `yaml:"-"`
}

// Brand is our own brand (kind "own") or a competitor (kind direct, media,
// platform or community).
type Brand struct {
	Name    string   `yaml:"name"`
	Kind    string   `yaml:"kind"`    // set to "own" for Config.Brand at load
	Aliases []string `yaml:"aliases"` // extra spellings, handles (@acme) and hashtags (#acme)
}

// Relationship types of the business model canvas.
var RelationshipTypes = []string{
	"personal-assistance", "dedicated-personal-assistance", "self-service",
	"automated-services", "communities", "co-creation",
}

// Priorities of relationships and topics.
var Priorities = []string{"high", "medium", "low"}

// CompetitorKinds are the kinds a competitor may have.
var CompetitorKinds = []string{"direct", "media", "platform", "community"}

// Formats are the usage formats a source may declare.
var Formats = []string{"audience", "community", "network"}

// Relationship is a customer relationship and the topics that define it.
type Relationship struct {
	Name     string   `yaml:"name"`
	Type     string   `yaml:"type"`
	Priority string   `yaml:"priority"` // default "medium"
	Segments []string `yaml:"segments"` // customer segments it serves
	Topics   []Topic  `yaml:"topics"`
}

// Topic is a topic of a relationship: the terms that mean it.
type Topic struct {
	Name     string   `yaml:"name"` // [A-Za-z0-9_.-]+, unique across relationships
	Priority string   `yaml:"priority"`
	Terms    []string `yaml:"terms"`    // words and phrases; at least one, unless Query is set
	Synonyms []string `yaml:"synonyms"` // count like terms
	// Query is a boolean query (AND, OR, NOT, NEAR/n, parentheses, quoted
	// phrases) given instead of terms and synonyms; see ParseQuery.
	Query     string   `yaml:"query"`
	Exclude   []string `yaml:"exclude"`   // a post containing one of these does not match
	Languages []string `yaml:"languages"` // empty: every language

	// Relationship is filled at load with the name of the relationship the topic belongs to.
	Relationship string `yaml:"-"`
	// Expr is Query parsed at load; nil for a topic of terms.
	Expr *Query `yaml:"-"`
}

// Source is one place posts come from. Which fields apply depends on Kind;
// the README's source table lists them.
type Source struct {
	Name     string         `yaml:"name"` // [A-Za-z0-9_.-]+, unique
	Kind     string         `yaml:"kind"` // feed | replay | mastodon | hackernews | reddit | bluesky | lemmy
	URL      string         `yaml:"url"`  // feed: the feed; API kinds: the API base (default per kind)
	Path     string         `yaml:"path"` // replay: JSONL or feed file; relative to the config file
	Interval model.Duration `yaml:"interval"`
	Format   string         `yaml:"format"` // audience | community | network; API kinds default to theirs
	// ShiftToNow moves a replay's timestamps so its newest post is "now":
	// demo data stays inside the scoring window whatever the date.
	ShiftToNow bool `yaml:"shift_to_now"`

	// Preset fills URL and Format of a feed from a short form:
	// youtube:CHANNEL_ID, google-news:QUERY, subreddit:NAME, mastodon-tag:HOST/TAG, hnrss:QUERY.
	Preset string `yaml:"preset"`
	// Lookback bounds how far back the first fetch of a search source reaches;
	// default 7d, at most 90d.
	Lookback model.Duration `yaml:"lookback"`
	// Queries says what search sources ask for: "topics", "brands" or "all" (default).
	Queries string `yaml:"queries"`
	// Instances are the servers a mastodon or lemmy source reads (https URLs).
	Instances []string `yaml:"instances"`
	// Tags are the hashtags a mastodon source follows, without "#"; empty:
	// derived from the topics' terms.
	Tags []string `yaml:"tags"`
	// Subreddits a reddit source lists (r/NAME/new), "r/" optional and
	// dropped at load; empty: search only.
	Subreddits []string `yaml:"subreddits"`
	// Token is a bearer token (mastodon, optional).
	Token Secret `yaml:"token"`
	// ClientID and ClientSecret are a reddit app's OAuth credentials (client
	// credentials grant); both or neither. Without them the source reads
	// anonymously: allowed, but 10 requests/min and often refused from servers.
	ClientID     string `yaml:"client_id"`
	ClientSecret Secret `yaml:"client_secret"`
	// Identifier (handle, DID or e-mail) and AppPassword sign a bluesky source
	// in to search; both or neither. Without them it streams from Jetstream.
	Identifier  string `yaml:"identifier"`
	AppPassword Secret `yaml:"app_password"`
	// Jetstream is the WebSocket URL a bluesky source without credentials
	// streams from (default DefaultJetstream); not used with credentials.
	Jetstream string `yaml:"jetstream"`
}

// Secret names where a credential is read from: an environment variable or a
// file. The configuration never holds the secret itself, so it can be shared
// and logged.
type Secret struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"` // relative to the config file
}

// Scoring configures the affinity score; see the README for the formula.
type Scoring struct {
	Window            model.Duration `yaml:"window"`   // default 7d
	Baseline          model.Duration `yaml:"baseline"` // default 28d, the time before Window
	Interval          model.Duration `yaml:"interval"` // how often scores are recomputed; default 1m
	OccupiedThreshold float64        `yaml:"occupied_threshold"`
	Weights           Weights        `yaml:"weights"`
	References        References     `yaml:"references"`
}

// Weights of the score's components; they must sum to 1. A weights block in
// the file replaces the defaults whole: a weight it leaves out is 0.
type Weights struct {
	Mentions   float64 `yaml:"mentions"`
	Authors    float64 `yaml:"authors"`
	Engagement float64 `yaml:"engagement"`
	Formats    float64 `yaml:"formats"`
}

// References are the values at which a component saturates to 1.
type References struct {
	Mentions   float64 `yaml:"mentions"`
	Authors    float64 `yaml:"authors"`
	Engagement float64 `yaml:"engagement"`
}

// Store configures persistence.
type Store struct {
	Driver string `yaml:"driver"` // "sqlite" (default) or "postgres"
	Path   string `yaml:"path"`   // SQLite file; default "affinityd.db"
	// DSN is where the PostgreSQL connection string (a postgres:// URL or
	// key=value pairs) is read from; it carries a password, so it is a
	// Secret. Default for driver postgres: the variable AFFINITY_STORE_DSN.
	DSN       Secret         `yaml:"dsn"`
	Retention model.Duration `yaml:"retention"` // posts and mentions older than this are pruned; default 400d
}

// Collector configures fetching.
type Collector struct {
	Timeout              model.Duration `yaml:"timeout"`                // whole request; default 30s
	ConnectTimeout       model.Duration `yaml:"connect_timeout"`        // default 10s
	MaxBodySize          Bytes          `yaml:"max_body_size"`          // default 10MiB
	MaxConcurrentFetches int            `yaml:"max_concurrent_fetches"` // default 4
	UserAgent            string         `yaml:"user_agent"`             // "": the collector's "affinityd/VERSION (+https://github.com/affinityd/affinityd)"
}

// Bytes is a size in bytes, written in YAML as 10MiB, 512KiB or a plain number.
type Bytes int64

// Analysis configures the analysis stages.
type Analysis struct {
	NearDuplicates NearDuplicates `yaml:"near_duplicates"`
}

// NearDuplicates configures how reposts, cross-posts and syndicated copies
// collapse into one mention (see the README).
type NearDuplicates struct {
	Enabled bool `yaml:"enabled"` // default true
	// Threshold is the similarity in (0, 1] (the estimated Jaccard
	// similarity of the posts' word pairs) from which a post is a copy;
	// default 0.5.
	Threshold float64 `yaml:"threshold"`
	// Horizon is how far apart in time a copy and its original may be; default 7d.
	Horizon model.Duration `yaml:"horizon"`
}
