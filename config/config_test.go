package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func days(n int) model.Duration { return model.Duration(time.Duration(n) * 24 * time.Hour) }

func TestLoadValid(t *testing.T) {
	c, err := Load("testdata/valid.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.File != "testdata/valid.yml" {
		t.Errorf("File = %q", c.File)
	}

	wantBrand := Brand{Name: "Acme Bank", Kind: "own", Aliases: []string{"Acme", "@acmebank", "#acmebank"}}
	if !reflect.DeepEqual(c.Brand, wantBrand) {
		t.Errorf("Brand =\n%+v\nwant\n%+v", c.Brand, wantBrand)
	}
	wantCompetitors := []Brand{
		{Name: "Globex Bank", Kind: "direct", Aliases: []string{"Globex", "@globexbank"}},
		{Name: "MoneyTalk Magazine", Kind: "media", Aliases: []string{"MoneyTalk"}},
		{Name: "Paywise", Kind: "platform"},
	}
	if !reflect.DeepEqual(c.Competitors, wantCompetitors) {
		t.Errorf("Competitors =\n%+v\nwant\n%+v", c.Competitors, wantCompetitors)
	}

	wantRelationships := []Relationship{
		{
			Name: "Mortgage advice", Type: "dedicated-personal-assistance", Priority: "high",
			Segments: []string{"young families", "first-time buyers"},
			Topics: []Topic{
				{
					Name: "mortgage-rates", Priority: "high",
					Terms:        []string{"mortgage rate", "mortgage rates", "fixed-rate mortgage"},
					Synonyms:     []string{"home loan rate", "Hypothekenzins"},
					Exclude:      []string{"reverse mortgage"},
					Languages:    []string{"en", "de"},
					Relationship: "Mortgage advice",
				},
				{
					Name: "home-buying", Priority: "medium", // default
					Terms:        []string{"buying a home", "first home"},
					Synonyms:     []string{"house hunting"},
					Exclude:      []string{"home depot"},
					Languages:    []string{"en-GB"},
					Relationship: "Mortgage advice",
				},
			},
		},
		{
			Name: "Mobile banking", Type: "self-service", Priority: "medium", // default
			Segments: []string{"digital natives"},
			Topics: []Topic{
				{
					Name: "mobile-app", Priority: "high",
					Terms:        []string{"banking app", "mobile banking"},
					Synonyms:     []string{"bank app"},
					Exclude:      []string{"app store review bot"},
					Relationship: "Mobile banking",
				},
				{
					Name: "instant-payments", Priority: "low",
					Terms:        []string{"instant payment", "real-time payment"},
					Synonyms:     []string{"SEPA instant"},
					Languages:    []string{"en", "de", "fr"},
					Relationship: "Mobile banking",
				},
			},
		},
		{
			Name: "Money community", Type: "communities", Priority: "low",
			Segments: []string{"students"},
			Topics: []Topic{
				{
					Name: "budgeting", Priority: "medium",
					Terms:        []string{"budgeting", "monthly budget"},
					Synonyms:     []string{"envelope method"},
					Exclude:      []string{"government budget"},
					Languages:    []string{"en"},
					Relationship: "Money community",
				},
				{
					Name: "financial-literacy", Priority: "medium",
					Terms:        []string{"financial literacy"},
					Synonyms:     []string{"money skills", "personal finance basics"},
					Relationship: "Money community",
				},
			},
		},
	}
	if len(c.Relationships) != len(wantRelationships) {
		t.Fatalf("got %d relationships, want %d", len(c.Relationships), len(wantRelationships))
	}
	for i, want := range wantRelationships {
		if !reflect.DeepEqual(c.Relationships[i], want) {
			t.Errorf("Relationships[%d] =\n%+v\nwant\n%+v", i, c.Relationships[i], want)
		}
	}

	wantSources := []Source{
		{Name: "hn-banking", Kind: "feed", URL: "https://hnrss.org/newest?q=bank", Format: "community", Interval: model.Duration(10 * time.Minute)},
		{Name: "mastodon-fintech", Kind: "feed", URL: "https://mastodon.social/tags/fintech.rss", Format: "network", Interval: DefaultFeedInterval},
		// A replay path is resolved against the config file's directory.
		{Name: "backfill", Kind: "replay", Path: filepath.Join("testdata", "replay", "acme.jsonl"), Interval: DefaultReplayInterval, ShiftToNow: true},
	}
	if !reflect.DeepEqual(c.Sources, wantSources) {
		t.Errorf("Sources =\n%+v\nwant\n%+v", c.Sources, wantSources)
	}

	wantScoring := Scoring{
		Window: days(14), Baseline: days(56), Interval: model.Duration(5 * time.Minute),
		OccupiedThreshold: 0.6,
		// The weights block replaces the default whole: formats, left out, is 0.
		Weights: Weights{Mentions: 0.5, Authors: 0.3, Engagement: 0.2, Formats: 0},
		// References default one by one.
		References: References{Mentions: 100, Authors: 25, Engagement: 100},
	}
	if c.Scoring != wantScoring {
		t.Errorf("Scoring =\n%+v\nwant\n%+v", c.Scoring, wantScoring)
	}
	wantStore := Store{Driver: "sqlite", Path: "/var/lib/affinityd/affinityd.db", Retention: days(90)}
	if c.Store != wantStore {
		t.Errorf("Store = %+v, want %+v", c.Store, wantStore)
	}
	wantCollector := Collector{
		Timeout:              model.Duration(20 * time.Second),
		ConnectTimeout:       model.Duration(10 * time.Second), // default
		MaxBodySize:          5 * MiB,
		MaxConcurrentFetches: 4, // default
		UserAgent:            "acme-listening/1.0 (+https://acme.example/bot)",
	}
	if c.Collector != wantCollector {
		t.Errorf("Collector = %+v, want %+v", c.Collector, wantCollector)
	}
}

func TestLoadMinimalAppliesDefaults(t *testing.T) {
	c, err := Load("testdata/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Brand.Kind != "own" {
		t.Errorf("Brand.Kind = %q, want own", c.Brand.Kind)
	}
	if c.Competitors != nil {
		t.Errorf("Competitors = %+v, want none", c.Competitors)
	}
	r := c.Relationships[0]
	if r.Priority != "medium" || r.Topics[0].Priority != "medium" {
		t.Errorf("priorities = %q, %q, want medium, medium", r.Priority, r.Topics[0].Priority)
	}
	if r.Topics[0].Relationship != "Self-service" {
		t.Errorf("Topic.Relationship = %q", r.Topics[0].Relationship)
	}
	if got := c.Sources[0].Interval; got != model.Duration(15*time.Minute) {
		t.Errorf("feed interval = %s, want 15m", got)
	}
	if got := c.Sources[1].Interval; got != model.Duration(time.Hour) {
		t.Errorf("replay interval = %s, want 1h", got)
	}
	if got, want := c.Sources[1].Path, filepath.Join("testdata", "demo.jsonl"); got != want {
		t.Errorf("replay path = %q, want %q", got, want)
	}
	wantScoring := Scoring{
		Window: days(7), Baseline: days(28), Interval: model.Duration(time.Minute),
		OccupiedThreshold: 0.5,
		Weights:           Weights{Mentions: 0.4, Authors: 0.3, Engagement: 0.2, Formats: 0.1},
		References:        References{Mentions: 50, Authors: 25, Engagement: 100},
	}
	if c.Scoring != wantScoring {
		t.Errorf("Scoring =\n%+v\nwant\n%+v", c.Scoring, wantScoring)
	}
	if want := (Store{Driver: "sqlite", Path: "affinityd.db", Retention: days(400)}); c.Store != want {
		t.Errorf("Store = %+v, want %+v", c.Store, want)
	}
	wantCollector := Collector{
		Timeout:              model.Duration(30 * time.Second),
		ConnectTimeout:       model.Duration(10 * time.Second),
		MaxBodySize:          10 * MiB,
		MaxConcurrentFetches: 4,
		UserAgent:            "", // the collector fills in its own
	}
	if c.Collector != wantCollector {
		t.Errorf("Collector = %+v, want %+v", c.Collector, wantCollector)
	}
}

// Each invalid file holds one mistake; the whole message is the contract.
func TestLoadInvalid(t *testing.T) {
	const relTypes = "(one of personal-assistance, dedicated-personal-assistance, self-service, automated-services, communities, co-creation)"
	const (
		presets     = "youtube:CHANNEL_ID, google-news:QUERY, subreddit:NAME, mastodon-tag:HOST/TAG, hnrss:QUERY"
		instance    = "must be an absolute https (or http) URL with a host and no path, like "
		redditPair  = "(set both for OAuth, or neither for anonymous reads: 10 requests/min, often refused from servers)"
		blueskyPair = "(set both to search, or neither to stream from jetstream)"
	)
	tests := []struct {
		file string
		want string
	}{
		// Decoding: syntax, keys and types.
		{"invalid-syntax.yml", `9: invalid YAML: did not find expected ',' or ']'`},
		{"invalid-multiple-documents.yml", `15: invalid YAML: only one document allowed`},
		{"invalid-unknown-field.yml", `7: relationships[0].topcs: unknown field (did you mean "topics"?)`},
		{"invalid-unknown-top-level.yml", `15: alerting: unknown field (allowed: brand, competitors, relationships, sources, scoring, store, collector, analysis)`},
		{"invalid-duplicate-key.yml", `4: brand.name: duplicate key (first at line 3)`},
		{"invalid-wrong-type-duration.yml", `15: sources[0].interval: invalid duration "fast" (want e.g. 30s, 15m, 7d)`},
		{"invalid-wrong-type-list.yml", `9: relationships[0].topics[0].terms: expected a list, got "banking app"`},
		{"invalid-wrong-type-mapping.yml", `2: brand: expected a mapping, got "Acme Bank"`},
		{"invalid-wrong-type-number.yml", `16: scoring.occupied_threshold: invalid number "half"`},
		{"invalid-wrong-type-size.yml", `16: collector.max_body_size: invalid size "10 parsecs" (want e.g. 10MiB, 512KiB, 1MB or a number of bytes)`},

		// Brands.
		{"invalid-empty.yml", "1: brand.name: required\ntestdata/invalid-empty.yml:1: sources: at least one source required"},
		{"invalid-brand-name-missing.yml", `2: brand.name: required`},
		{"invalid-brand-kind.yml", `4: brand.kind: must be "own" or left out, got "direct" (competitors go under competitors:)`},
		{"invalid-blank-alias.yml", `4: brand.aliases[1]: must not be blank`},
		{"invalid-competitor-kind-missing.yml", `16: competitors[0].kind: required (one of direct, media, platform, community)`},
		{"invalid-competitor-kind.yml", `17: competitors[0].kind: unknown kind "rival" (one of direct, media, platform, community)`},
		{"invalid-duplicate-brand.yml", `19: competitors[0].aliases[1]: duplicate brand name or alias "ACME" (first defined at line 4, compared without case)`},

		// Relationships.
		{"invalid-relationship-name-missing.yml", `5: relationships[0].name: required`},
		{"invalid-relationship-name-duplicate.yml", `10: relationships[1].name: duplicate relationship name "Self-service" (first defined at line 5)`},
		{"invalid-relationship-type.yml", `6: relationships[0].type: unknown relationship type "selfservice" ` + relTypes},
		{"invalid-relationship-type-missing.yml", `5: relationships[0].type: required ` + relTypes},
		{"invalid-priority.yml", `7: relationships[0].priority: unknown priority "urgent" (one of high, medium, low)`},
		{"invalid-segment-blank.yml", `7: relationships[0].segments[1]: must not be blank`},
		{"invalid-relationship-no-topics.yml", `7: relationships[0].topics: at least one topic required`},

		// Topics.
		{"invalid-topic-name.yml", `8: relationships[0].topics[0].name: invalid name "mobile app" (must match ^[A-Za-z0-9][A-Za-z0-9_.-]*$)`},
		{"invalid-topic-name-missing.yml", `8: relationships[0].topics[0].name: required`},
		{"invalid-topic-duplicate.yml", `15: relationships[1].topics[1].name: duplicate topic name "mobile-app" (first defined at line 8)`},
		{"invalid-topic-priority.yml", `9: relationships[0].topics[0].priority: unknown priority "HIGH" (one of high, medium, low)`},
		{"invalid-terms-empty.yml", `9: relationships[0].topics[0].terms: at least one term required`},
		{"invalid-terms-missing.yml", `8: relationships[0].topics[0].terms: at least one term required`},
		{"invalid-term-blank.yml", `9: relationships[0].topics[0].terms[0]: must not be blank`},
		{"invalid-synonym-blank.yml", `10: relationships[0].topics[0].synonyms[1]: must not be blank`},
		{"invalid-exclude-blank.yml", `11: relationships[0].topics[0].exclude[0]: must not be blank`},
		{"invalid-exclude-term.yml", `10: relationships[0].topics[0].exclude[0]: "Mobile Banking" is also a term or synonym of the topic; it would exclude every match`},
		{"invalid-language.yml", `10: relationships[0].topics[0].languages[1]: invalid language "English" (want a BCP 47 language like "en", "de" or "pt-BR")`},

		// Boolean topic queries: the column points into the query text.
		{"invalid-query-parenthesis.yml", `9: relationships[0].topics[0].query: column 1: unbalanced parenthesis: this ( is never closed`},
		{"invalid-query-close.yml", `9: relationships[0].topics[0].query: column 24: unbalanced parenthesis: ) without a matching (`},
		{"invalid-query-lowercase-operator.yml", `9: relationships[0].topics[0].query: column 15: missing operator between "banking app" and "and" (operators are upper case: AND)`},
		{"invalid-query-near-distance.yml", `9: relationships[0].topics[0].query: column 5: NEAR needs a distance in words, like NEAR/5`},
		{"invalid-query-near-range.yml", `9: relationships[0].topics[0].query: column 5: NEAR/0: the distance must be between 1 and 100 words`},
		{"invalid-query-near-operand.yml", `9: relationships[0].topics[0].query: column 2: NEAR/3 needs terms, phrases or OR groups of them on each side, not AND`},
		{"invalid-query-not-only.yml", `9: relationships[0].topics[0].query: column 1: the query matches posts that contain none of its terms; NOT needs a positive side, like: banking AND NOT investment`},
		{"invalid-query-quote.yml", `9: relationships[0].topics[0].query: column 1: unterminated quote`},
		{"invalid-query-dangling.yml", `9: relationships[0].topics[0].query: column 15: AND needs a term after it`},
		{"invalid-query-with-terms.yml", `10: relationships[0].topics[0].query: set either terms (and synonyms) or query, not both; put the terms into the query joined with OR`},
		{"invalid-query-blank.yml", `9: relationships[0].topics[0].query: must not be blank`},

		// Sources.
		{"invalid-no-sources.yml", `2: sources: at least one source required`},
		{"invalid-source-name.yml", `11: sources[0].name: invalid name "news/feed" (must match ^[A-Za-z0-9][A-Za-z0-9_.-]*$)`},
		{"invalid-source-name-duplicate.yml", `15: sources[1].name: duplicate source name "news" (first defined at line 11)`},
		{"invalid-source-kind.yml", `12: sources[0].kind: unknown kind "rss" (one of feed, replay, mastodon, hackernews, reddit, bluesky, lemmy)`},
		{"invalid-source-kind-missing.yml", `11: sources[0].kind: required (one of feed, replay, mastodon, hackernews, reddit, bluesky, lemmy)`},
		{"invalid-feed-url-missing.yml", `11: sources[0].url: required for kind feed (or set preset)`},
		{"invalid-feed-url.yml", `13: sources[0].url: invalid URL "news.example.com/feed.xml": must be an absolute http or https URL with a host`},
		{"invalid-feed-url-scheme.yml", `13: sources[0].url: invalid URL "ftp://news.example.com/feed.xml": must be an absolute http or https URL with a host`},
		{"invalid-feed-path.yml", `15: sources[0].path: not used by kind "feed"`},
		{"invalid-replay-path-missing.yml", `15: sources[1].path: required for kind replay`},
		{"invalid-replay-url.yml", `18: sources[1].url: not used by kind "replay"`},
		{"invalid-format-missing.yml", `11: sources[0].format: required for kind feed (one of audience, community, network)`},
		{"invalid-format.yml", `14: sources[0].format: unknown format "blog" (one of audience, community, network)`},
		{"invalid-interval.yml", `15: sources[0].interval: must be at least 1s, got 500ms`},
		{"invalid-source-unused-field.yml", `20: sources[2].subreddits: not used by kind "mastodon"`},
		{"invalid-preset-kind.yml", `13: sources[0].preset: not used by kind "hackernews"`},
		{"invalid-api-url.yml", `13: sources[0].url: invalid URL "hn.algolia.com": must be an absolute http or https URL with a host`},
		{"invalid-api-url-empty.yml", `13: sources[0].url: must not be empty (leave it out for the default, https://hn.algolia.com)`},
		{"invalid-queries.yml", `13: sources[0].queries: unknown queries "competitors" (one of topics, brands, all)`},
		{"invalid-lookback-zero.yml", `14: sources[0].lookback: must be > 0, got 0s`},
		{"invalid-lookback-too-long.yml", `13: sources[0].lookback: must be at most 90d, got 180d`},

		// Feed presets.
		{"invalid-preset-unknown.yml", `13: sources[0].preset: unknown preset "vimeo:acme" (one of ` + presets + `)`},
		{"invalid-preset-malformed.yml", `13: sources[0].preset: invalid preset "youtube:@acmebank": CHANNEL_ID is the 24-character ID starting with UC (not a @handle) (presets: ` + presets + `)`},
		{"invalid-preset-with-url.yml", `13: sources[0].preset: set either preset or url, not both`},

		// Mastodon and Lemmy.
		{"invalid-mastodon-instances-missing.yml", `11: sources[0].instances: at least one instance required for kind mastodon (like https://mastodon.social)`},
		{"invalid-instance-url.yml", `13: sources[0].instances[0]: invalid instance "mastodon.social": ` + instance + `https://mastodon.social`},
		{"invalid-instance-path.yml", `15: sources[0].instances[1]: invalid instance "https://lemmy.ml/c/technology": ` + instance + `https://lemmy.world`},
		{"invalid-instance-credentials.yml", `13: sources[0].instances[0]: invalid instance "https://bot:xxxxx@mastodon.social": ` + instance + `https://mastodon.social`},
		{"invalid-mastodon-tag-hash.yml", `14: sources[0].tags[0]: invalid tag "#fintech": write it without "#"`},
		{"invalid-mastodon-tag.yml", `14: sources[0].tags[1]: invalid tag "open-banking" (must match ^[\p{L}\p{N}_]+$)`},

		// Reddit and Bluesky.
		{"invalid-subreddit.yml", `13: sources[0].subreddits[1]: invalid subreddit "personal finance" (must match ^[A-Za-z0-9_]{2,21}$, with or without "r/")`},
		{"invalid-reddit-client-id-alone.yml", `13: sources[0].client_id: requires client_secret ` + redditPair},
		{"invalid-reddit-client-secret-alone.yml", `13: sources[0].client_secret: requires client_id ` + redditPair},
		{"invalid-bluesky-identifier-alone.yml", `13: sources[0].identifier: requires app_password ` + blueskyPair},
		{"invalid-bluesky-app-password-alone.yml", `13: sources[0].app_password: requires identifier ` + blueskyPair},
		{"invalid-bluesky-jetstream-with-identifier.yml", `15: sources[0].jetstream: not used when identifier is set (a signed-in bluesky source searches instead)`},
		{"invalid-bluesky-jetstream-url.yml", `13: sources[0].jetstream: invalid URL "https://jetstream2.us-east.bsky.network/subscribe": must be an absolute wss (or ws) URL with a host`},

		// Secrets: where they are, never what they are.
		{"invalid-secret-both.yml", `16: sources[1].token: set either env or file, not both`},
		{"invalid-secret-empty.yml", `14: sources[0].token: set env (a variable name) or file (a path); the secret itself never goes in the config`},
		{"invalid-secret-env-name.yml", `14: sources[0].token.env: invalid environment variable name (must match ^[A-Za-z_][A-Za-z0-9_]*$)`},
		{"invalid-secret-plain.yml", `14: sources[0].token: expected a mapping with env or file, got a plain value; the secret itself never goes in the config`},

		// Scoring, store, collector.
		{"invalid-scoring-window.yml", `16: scoring.window: must be > 0, got 0s`},
		{"invalid-scoring-interval.yml", `16: scoring.interval: must be > 0, got 0s`},
		{"invalid-weights-sum.yml", `16: scoring.weights: must sum to 1, got 0.9 (a weight left out of the block is 0)`},
		{"invalid-weight-negative.yml", `18: scoring.weights.authors: must be >= 0, got -0.2`},
		{"invalid-references.yml", `17: scoring.references.authors: must be > 0, got 0`},
		{"invalid-occupied-threshold.yml", `16: scoring.occupied_threshold: must be in (0, 1], got 1.5`},
		{"invalid-store-driver.yml", `16: store.driver: unsupported driver "mongodb" (supported: sqlite, postgres)`},
		{"invalid-store-dsn-sqlite.yml", `17: store.dsn: only for driver postgres (sqlite uses store.path)`},
		{"invalid-store-path-postgres.yml", `17: store.path: only for driver sqlite (postgres connects with store.dsn)`},
		{"invalid-store-dsn-both.yml", `17: store.dsn: set either env or file, not both`},
		{"invalid-retention.yml", `16: store.retention: must be at least scoring.window + scoring.baseline (5w), got 30d`},
		{"invalid-collector-timeout.yml", `16: collector.connect_timeout: must be > 0, got 0s`},
		{"invalid-max-body-size.yml", `16: collector.max_body_size: must be at least 1KiB, got 512B`},
		{"invalid-max-concurrent-fetches.yml", `16: collector.max_concurrent_fetches: must be at least 1, got 0`},
		{"invalid-near-duplicates-threshold.yml", `17: analysis.near_duplicates.threshold: must be in (0, 1] (a similarity; 0.5 is the default), got 1.5`},
		{"invalid-near-duplicates-horizon.yml", `17: analysis.near_duplicates.horizon: must be > 0, got 0s`},

		// Every error at once, by line.
		{"invalid-several.yml", strings.Join([]string{
			`6: relationships[0].type: unknown relationship type "selfservice" ` + relTypes,
			`testdata/invalid-several.yml:9: relationships[0].topics[0].terms: at least one term required`,
			`testdata/invalid-several.yml:14: sources[0].format: unknown format "blog" (one of audience, community, network)`,
			`testdata/invalid-several.yml:16: store.driver: unsupported driver "mysql" (supported: sqlite, postgres)`,
		}, "\n")},
	}

	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, tt := range tests {
		tested[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := "testdata/" + tt.file
			c, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want an error", path, c)
			}
			if want := path + ":" + tt.want; err.Error() != want {
				t.Errorf("Load(%s) error:\n got: %s\nwant: %s", path, err, want)
			}
		})
	}
	for _, f := range files {
		if !tested[filepath.Base(f)] {
			t.Errorf("%s has no expected error in this table", f)
		}
	}
}

func TestErrorsAreInspectable(t *testing.T) {
	_, err := Load("testdata/invalid-several.yml")
	errs := Errors(err)
	want := []struct {
		line  int
		field string
	}{
		{6, "relationships[0].type"},
		{9, "relationships[0].topics[0].terms"},
		{14, "sources[0].format"},
		{16, "store.driver"},
	}
	if len(errs) != len(want) {
		t.Fatalf("Errors() = %d errors, want %d: %v", len(errs), len(want), err)
	}
	for i, w := range want {
		if e := errs[i]; e.File != "testdata/invalid-several.yml" || e.Line != w.line || e.Field != w.field {
			t.Errorf("error %d = {%s %d %s}, want line %d field %s", i, e.File, e.Line, e.Field, w.line, w.field)
		}
	}
	var first *Error
	if !errors.As(err, &first) || first.Line != 6 {
		t.Errorf("errors.As found %+v, want the line-6 error", first)
	}

	// One error comes back as an *Error too.
	_, err = Load("testdata/invalid-format.yml")
	if errs := Errors(err); len(errs) != 1 || errs[0].Msg != `unknown format "blog" (one of audience, community, network)` {
		t.Errorf("Errors() = %+v", errs)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want an os.ErrNotExist", err)
	}
}

// yaml reports some syntax errors off by one or without a line; Parse puts
// every one at the line where the problem starts.
func TestParseSyntaxErrorLines(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"unclosed list", "brand:\n  name: Acme\nsources: [a,\nstore: {}\n", "x.yml:3: invalid YAML: did not find expected ',' or ']'"},
		{"bad indentation", "brand:\n  name: Acme\n aliases: []\n", "x.yml:3: invalid YAML: did not find expected key"},
		{"error on line 1", "brand: name: Acme\n", "x.yml:1: invalid YAML: mapping values are not allowed in this context"},
		{"reserved character", "brand:\n  name: @acme\n", "x.yml:2: invalid YAML: found character that cannot start any token"},
		{"unterminated string", "brand:\n  name: \"Acme\n", "x.yml:2: invalid YAML: found unexpected end of stream"},
		{"control character", "brand:\n  name: Acme\n  aliases: [\x01]\n", "x.yml:3: invalid YAML: control characters are not allowed"},
		{"invalid UTF-8", "brand:\n  name: Acme\n\n  aliases: [\xff]\n", "x.yml:4: invalid YAML: invalid leading UTF-8 octet"},
		{"not a mapping", "- brand\n", "x.yml:1: expected a mapping, got a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "x.yml")
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse error:\n got: %v\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestParseResolvesReplayPaths(t *testing.T) {
	data, err := os.ReadFile("testdata/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, path, want string
	}{
		{"relative to the config file", "/etc/affinityd/affinityd.yml", "demo.jsonl", "/etc/affinityd/demo.jsonl"},
		{"relative with a directory", "/etc/affinityd/affinityd.yml", "replay/../demo.jsonl", "/etc/affinityd/demo.jsonl"},
		{"absolute stays", "/etc/affinityd/affinityd.yml", "/srv/replay/demo.jsonl", "/srv/replay/demo.jsonl"},
		{"no file keeps it relative", "", "demo.jsonl", "demo.jsonl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := strings.Replace(string(data), "path: demo.jsonl", "path: "+tt.path, 1)
			c, err := Parse([]byte(input), tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Sources[1].Path; got != filepath.FromSlash(tt.want) {
				t.Errorf("replay path = %q, want %q", got, tt.want)
			}
			if c.File != tt.file {
				t.Errorf("File = %q, want %q", c.File, tt.file)
			}
		})
	}
}

func TestParseUnnamedInput(t *testing.T) {
	_, err := Parse([]byte("brand: {}\n"), "")
	want := "<config>:1: brand.name: required\n<config>:1: sources: at least one source required"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got: %v\nwant: %s", err, want)
	}
}

func TestParseAliases(t *testing.T) {
	// Anchors and aliases share lists between topics.
	input := `brand: {name: Acme}
relationships:
  - name: Self-service
    type: self-service
    topics:
      - name: app
        terms: &app [banking app]
      - name: app-de
        terms: *app
        languages: [de]
sources: [{name: news, kind: feed, url: "https://news.example.com/", format: audience}]
`
	c, err := Parse([]byte(input), "x.yml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Relationships[0].Topics[1].Terms; !reflect.DeepEqual(got, []string{"banking app"}) {
		t.Errorf("aliased terms = %q", got)
	}
}

func TestParseStopsAliasBombs(t *testing.T) {
	// 1,000 relationships × 1,000 topics × 1,000 terms through aliases.
	var b strings.Builder
	b.WriteString("brand: {name: Acme}\nrelationships:\n  - &r\n    name: r\n    type: self-service\n    topics:\n      - &t {name: t, terms: [")
	b.WriteString(strings.Repeat("a, ", 999) + "a]}\n")
	b.WriteString(strings.Repeat("      - *t\n", 999))
	b.WriteString(strings.Repeat("  - *r\n", 999))
	_, err := Parse([]byte(b.String()), "bomb.yml")
	errs := Errors(err)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Msg, "too many nodes") {
		t.Errorf("Parse of an alias bomb = %v, want one too-many-nodes error", err)
	}
}

func TestParseWithoutAnchoring(t *testing.T) {
	// For input named in messages but not read from disk (the embedded demo).
	data, err := os.ReadFile("testdata/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := parse(data, "demo/affinityd.yml", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources[1].Path; got != "demo.jsonl" {
		t.Errorf("replay path = %q, want it left relative", got)
	}
}

func TestStorePostgres(t *testing.T) {
	data, err := os.ReadFile("testdata/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, store string
		want        Secret
	}{
		{"DSN from AFFINITY_STORE_DSN by default", "store:\n  driver: postgres\n", Secret{Env: "AFFINITY_STORE_DSN"}},
		{"DSN from a named variable", "store:\n  driver: postgres\n  dsn:\n    env: DATABASE_URL\n", Secret{Env: "DATABASE_URL"}},
		{"DSN file relative to the config file", "store:\n  driver: postgres\n  dsn:\n    file: secrets/dsn\n", Secret{File: filepath.FromSlash("/etc/affinityd/secrets/dsn")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(append(data, "\n"+tt.store...), "/etc/affinityd/affinityd.yml")
			if err != nil {
				t.Fatal(err)
			}
			if c.Store.Driver != "postgres" || c.Store.DSN != tt.want {
				t.Errorf("store = %+v, want driver postgres and dsn %+v", c.Store, tt.want)
			}
		})
	}
	// SQLite needs no DSN, and gets none by default.
	c, err := Parse(data, "/etc/affinityd/affinityd.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Driver != "sqlite" || c.Store.DSN.IsSet() {
		t.Errorf("default store = %+v, want sqlite without a DSN", c.Store)
	}
}
