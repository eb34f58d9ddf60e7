package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func minutes(n int) model.Duration { return model.Duration(time.Duration(n) * time.Minute) }

// Every kind, field by field: what the file says, the kind's defaults and
// the presets expanded.
func TestLoadValidSources(t *testing.T) {
	c, err := Load("testdata/valid-sources.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Source{
		{Name: "news", Kind: "feed", URL: "https://news.example.com/feed.xml", Format: "audience", Interval: minutes(15)},
		{
			Name: "acme-youtube", Kind: "feed", Preset: "youtube:UCBR8-60-B28hp2BmDPdntcQ",
			URL:    "https://www.youtube.com/feeds/videos.xml?channel_id=UCBR8-60-B28hp2BmDPdntcQ",
			Format: "audience", Interval: minutes(15),
		},
		{
			Name: "google-news", Kind: "feed", Preset: `google-news:"Acme Bank" app & more`,
			URL:    "https://news.google.com/rss/search?q=%22Acme+Bank%22+app+%26+more&hl=en-US&gl=US&ceid=US:en",
			Format: "audience", Interval: minutes(15),
		},
		{
			Name: "reddit-rss", Kind: "feed", Preset: "subreddit:r/personalfinance",
			URL:    "https://www.reddit.com/r/personalfinance/new/.rss",
			Format: "community", Interval: minutes(60),
		},
		{
			Name: "fintech-tag", Kind: "feed", Preset: "mastodon-tag:mastodon.social/Café_fintech",
			URL:      "https://mastodon.social/tags/Caf%C3%A9_fintech.rss",
			Format:   "community", // given, so the preset's "network" does not apply
			Interval: minutes(15),
		},
		{
			Name: "hnrss", Kind: "feed", Preset: "hnrss:acme bank",
			URL:    "https://hnrss.org/newest?q=acme+bank",
			Format: "community", Interval: minutes(15),
		},
		{Name: "backfill", Kind: "replay", Path: filepath.Join("testdata", "replay", "acme.jsonl"), Interval: minutes(60)},
		{
			Name: "mastodon", Kind: "mastodon",
			Instances: []string{"https://mastodon.social", "https://fosstodon.org/"},
			Tags:      []string{"fintech", "banking_app", "Café"},
			Token:     Secret{Env: "MASTODON_TOKEN"},
			Format:    "network", Interval: minutes(5), Lookback: days(7), Queries: "all",
		},
		{
			Name: "hn", Kind: "hackernews", URL: "https://hn.algolia.com",
			Format: "community", Interval: minutes(10), Lookback: days(7), Queries: "all",
		},
		{
			Name: "reddit", Kind: "reddit", URL: "https://oauth.reddit.com",
			Subreddits: []string{"personalfinance", "fintech"}, // "r/" dropped
			ClientID:   "abcdEFGH1234",
			// A secret file is anchored at the config file, like a replay path.
			ClientSecret: Secret{File: filepath.Join("testdata", "secrets", "reddit-client-secret")},
			Format:       "community", Interval: minutes(10), Lookback: days(3), Queries: "topics",
		},
		{
			Name: "bluesky", Kind: "bluesky", URL: "https://bsky.social",
			Identifier: "acme.bsky.social", AppPassword: Secret{File: "/run/secrets/bluesky"},
			Jetstream: "", // signed in: it searches
			Format:    "audience", Interval: minutes(5), Lookback: days(7), Queries: "all",
		},
		{
			Name: "bluesky-stream", Kind: "bluesky", URL: "https://bsky.social",
			Jetstream: "wss://jetstream2.us-east.bsky.network/subscribe",
			Format:    "network", Interval: minutes(5), Lookback: days(7), Queries: "all",
		},
		{
			Name: "lemmy", Kind: "lemmy", Instances: []string{"https://lemmy.world", "https://lemmy.ml"},
			Format: "community", Interval: minutes(30), Lookback: days(90), Queries: "brands",
		},
	}
	if len(c.Sources) != len(want) {
		t.Fatalf("got %d sources, want %d", len(c.Sources), len(want))
	}
	for i, w := range want {
		if !reflect.DeepEqual(c.Sources[i], w) {
			t.Errorf("Sources[%d] =\n%+v\nwant\n%+v", i, c.Sources[i], w)
		}
	}
	kinds := map[string]bool{}
	for _, s := range c.Sources {
		kinds[s.Kind] = true
	}
	for _, k := range SourceKinds {
		if !kinds[k] {
			t.Errorf("valid-sources.yml has no source of kind %s", k)
		}
	}
}

func TestDefaultsCoverEveryKind(t *testing.T) {
	for _, k := range SourceKinds {
		if _, ok := DefaultIntervals[k]; !ok {
			t.Errorf("no default interval for kind %s", k)
		}
	}
	for _, k := range searchKinds {
		if !slices.Contains(SourceKinds, k) {
			t.Errorf("search kind %s is not a source kind", k)
		}
		if _, ok := DefaultFormats[k]; !ok {
			t.Errorf("no default format for search kind %s", k)
		}
	}
	for key, kinds := range sourceFieldKinds {
		if !slices.Contains(sourceKeys, key) {
			t.Errorf("sourceFieldKinds names %q, not a key of Source", key)
		}
		for _, k := range kinds {
			if !slices.Contains(SourceKinds, k) {
				t.Errorf("sourceFieldKinds[%q] names unknown kind %q", key, k)
			}
		}
	}
}

func TestExpandPreset(t *testing.T) {
	tests := []struct {
		preset, url, format string
	}{
		{"youtube:UCBR8-60-B28hp2BmDPdntcQ", "https://www.youtube.com/feeds/videos.xml?channel_id=UCBR8-60-B28hp2BmDPdntcQ", "audience"},
		{"youtube: UCBR8-60-B28hp2BmDPdntcQ ", "https://www.youtube.com/feeds/videos.xml?channel_id=UCBR8-60-B28hp2BmDPdntcQ", "audience"},
		{"google-news:open banking", "https://news.google.com/rss/search?q=open+banking&hl=en-US&gl=US&ceid=US:en", "audience"},
		{"google-news:site:example.com acme", "https://news.google.com/rss/search?q=site%3Aexample.com+acme&hl=en-US&gl=US&ceid=US:en", "audience"},
		{"subreddit:fintech", "https://www.reddit.com/r/fintech/new/.rss", "community"},
		{"subreddit:/r/fintech", "https://www.reddit.com/r/fintech/new/.rss", "community"},
		{"mastodon-tag:mastodon.social/fintech", "https://mastodon.social/tags/fintech.rss", "network"},
		{"mastodon-tag:localhost:3000/test", "https://localhost:3000/tags/test.rss", "network"},
		{"hnrss:bank & app", "https://hnrss.org/newest?q=bank+%26+app", "community"},
	}
	for _, tt := range tests {
		u, f, err := expandPreset(tt.preset)
		if err != nil || u != tt.url || f != tt.format {
			t.Errorf("expandPreset(%q) = %q, %q, %v; want %q, %q", tt.preset, u, f, err, tt.url, tt.format)
		}
	}
	for _, bad := range []string{
		"", "youtube", "youtube:", "youtube:@acme", "youtube:UC123", "google-news:", "google-news:  ",
		"subreddit:a", "subreddit:personal finance", "mastodon-tag:mastodon.social", "mastodon-tag:/fintech",
		"mastodon-tag:mastodon.social/#fintech", "mastodon-tag:https://mastodon.social/fintech",
		"hnrss:", "rss:https://example.com", "YouTube:UCBR8-60-B28hp2BmDPdntcQ",
	} {
		if u, _, err := expandPreset(bad); err == nil {
			t.Errorf("expandPreset(%q) = %q, want an error", bad, u)
		} else if !strings.Contains(err.Error(), "hnrss:QUERY") {
			t.Errorf("expandPreset(%q) error %q does not list the presets", bad, err)
		}
	}
}

func TestFeedPresetsDocumentsEveryPreset(t *testing.T) {
	if len(FeedPresets) != len(feedPresets) {
		t.Fatalf("FeedPresets has %d entries, want %d", len(FeedPresets), len(feedPresets))
	}
	for _, p := range feedPresets {
		d := FeedPresets[p.name]
		if !strings.HasPrefix(d, p.form+": ") || !strings.Contains(d, "format "+p.format) {
			t.Errorf("FeedPresets[%q] = %q", p.name, d)
		}
	}
}

const secretsConfig = `brand: {name: Acme}
relationships:
  - name: Self-service
    type: self-service
    topics: [{name: app, terms: [banking app]}]
sources:
  - name: fedi
    kind: mastodon
    instances: [https://mastodon.social]
    token: {file: SECRET}
  - name: reddit
    kind: reddit
    client_id: abc
    client_secret: {env: REDDIT_SECRET}
`

func TestParseResolvesSecretFiles(t *testing.T) {
	tests := []struct {
		name, file, path, want string
	}{
		{"relative to the config file", "/etc/affinityd/affinityd.yml", "secrets/token", "/etc/affinityd/secrets/token"},
		{"absolute stays", "/etc/affinityd/affinityd.yml", "/run/secrets/token", "/run/secrets/token"},
		{"no file keeps it relative", "", "secrets/token", "secrets/token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(strings.Replace(secretsConfig, "SECRET", tt.path, 1)), tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Sources[0].Token.File; got != filepath.FromSlash(tt.want) {
				t.Errorf("token file = %q, want %q", got, tt.want)
			}
			if got := c.Sources[1].ClientSecret; got != (Secret{Env: "REDDIT_SECRET"}) {
				t.Errorf("client secret = %+v, want env REDDIT_SECRET untouched", got)
			}
		})
	}
	// The embedded demo's paths name files of an embed.FS: left alone.
	c, err := parse([]byte(strings.Replace(secretsConfig, "SECRET", "token", 1)), "demo/affinityd.yml", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources[0].Token.File; got != "token" {
		t.Errorf("unanchored token file = %q, want it left relative", got)
	}
}

// Loading never reads a secret: the file may appear after the config (a
// Kubernetes secret mounted later), and a missing variable is the
// collector's error at fetch time, not a config error.
func TestParseDoesNotReadSecrets(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("REDDIT_SECRET", "")
	os.Unsetenv("REDDIT_SECRET")
	input := strings.Replace(secretsConfig, "SECRET", "missing/token", 1)
	if _, err := Parse([]byte(input), filepath.Join(dir, "affinityd.yml")); err != nil {
		t.Errorf("Parse with a missing secret file and variable = %v, want no error", err)
	}
}

// A secret written into the config by mistake is refused without being
// echoed into logs.
func TestSecretNeverInErrors(t *testing.T) {
	const value = "s3cr3t-t0ken-value"
	for _, input := range []string{
		"token: " + value,
		"token: [" + value + "]",
		"token: {env: " + value + "-x}",
	} {
		c := strings.Replace(secretsConfig, "token: {file: SECRET}", input, 1)
		_, err := Parse([]byte(c), "x.yml")
		if err == nil {
			t.Errorf("Parse with %q: no error", input)
			continue
		}
		if strings.Contains(err.Error(), value) {
			t.Errorf("Parse with %q: error shows the secret: %v", input, err)
		}
	}
}
