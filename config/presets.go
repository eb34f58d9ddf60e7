package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// feedPreset is a short form of a well-known feed: PRESET:VALUE.
type feedPreset struct {
	name   string // before the colon
	form   string // how it is written, for messages
	about  string // what it reads, for docs
	want   string // what VALUE must be, for messages
	format string // the usage format the feed represents
	// url builds the feed URL from VALUE (trimmed), false when VALUE is malformed.
	url func(value string) (string, bool)
}

var (
	youtubeChannelRe = regexp.MustCompile(`^UC[A-Za-z0-9_-]{22}$`)
	// hostRe is a host name with an optional port, as in mastodon-tag:HOST/TAG.
	hostRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$`)
)

// feedPresets in the order messages and docs list them.
var feedPresets = []feedPreset{
	{
		name: "youtube", form: "youtube:CHANNEL_ID", format: "audience",
		about: "a YouTube channel's new videos",
		want:  "CHANNEL_ID is the 24-character ID starting with UC (not a @handle)",
		url: func(id string) (string, bool) {
			return "https://www.youtube.com/feeds/videos.xml?channel_id=" + id, youtubeChannelRe.MatchString(id)
		},
	},
	{
		name: "google-news", form: "google-news:QUERY", format: "audience",
		about: "Google News search results (en-US edition)",
		want:  "QUERY must not be blank",
		url: func(q string) (string, bool) {
			return "https://news.google.com/rss/search?q=" + url.QueryEscape(q) + "&hl=en-US&gl=US&ceid=US:en", q != ""
		},
	},
	{
		name: "subreddit", form: "subreddit:NAME", format: "community",
		about: "a subreddit's new posts (public RSS, rate-limited; kind reddit is the API)",
		want:  fmt.Sprintf("NAME must match %s, with or without \"r/\"", subredditRe),
		url: func(name string) (string, bool) {
			name = trimSubreddit(name)
			return "https://www.reddit.com/r/" + name + "/new/.rss", subredditRe.MatchString(name)
		},
	},
	{
		name: "mastodon-tag", form: "mastodon-tag:HOST/TAG", format: "network",
		about: "a hashtag on one Mastodon server (public RSS; kind mastodon is the API)",
		want:  `HOST/TAG like mastodon.social/fintech, the tag without "#"`,
		url: func(v string) (string, bool) {
			host, tag, _ := strings.Cut(v, "/")
			return "https://" + host + "/tags/" + url.PathEscape(tag) + ".rss", hostRe.MatchString(host) && tagRe.MatchString(tag)
		},
	},
	{
		name: "hnrss", form: "hnrss:QUERY", format: "community",
		about: "new Hacker News posts matching a search, through hnrss.org",
		want:  "QUERY must not be blank",
		url: func(q string) (string, bool) {
			return "https://hnrss.org/newest?q=" + url.QueryEscape(q), q != ""
		},
	},
}

// FeedPresets describes the presets a feed source accepts, by name: the
// form it is written in, what it reads and the format it represents.
var FeedPresets = func() map[string]string {
	m := make(map[string]string, len(feedPresets))
	for _, p := range feedPresets {
		m[p.name] = fmt.Sprintf("%s: %s (format %s)", p.form, p.about, p.format)
	}
	return m
}()

// expandPreset returns the URL and format a preset stands for. Its errors
// list the presets.
func expandPreset(preset string) (feedURL, format string, err error) {
	name, value, _ := strings.Cut(strings.TrimSpace(preset), ":")
	forms := make([]string, len(feedPresets))
	for i, p := range feedPresets {
		forms[i] = p.form
	}
	for _, p := range feedPresets {
		if p.name != name {
			continue
		}
		u, ok := p.url(strings.TrimSpace(value))
		if !ok {
			return "", "", fmt.Errorf("invalid preset %q: %s (presets: %s)", preset, p.want, list(forms))
		}
		return u, p.format, nil
	}
	return "", "", fmt.Errorf("unknown preset %q (one of %s)", preset, list(forms))
}

// trimSubreddit drops the "r/" (or "/r/") a name is often written with.
func trimSubreddit(name string) string {
	return strings.TrimPrefix(strings.TrimPrefix(name, "/"), "r/")
}

// expand fills in what short forms stand for, before validation checks the
// result: a feed's preset becomes its URL (and its format, unless the
// source gives one), and subreddit names lose their "r/".
func (v *validator) expand(c *Config) {
	for i := range c.Sources {
		s := &c.Sources[i]
		field := fmt.Sprintf("sources[%d]", i)
		if s.Kind == "reddit" {
			for j, sub := range s.Subreddits {
				s.Subreddits[j] = trimSubreddit(sub)
			}
		}
		if s.Kind != "feed" || !v.given(field+".preset") {
			continue
		}
		if v.given(field + ".url") {
			v.errorf(field+".preset", "set either preset or url, not both")
			continue
		}
		u, format, err := expandPreset(s.Preset)
		if err != nil {
			v.errorf(field+".preset", "%s", err)
			continue
		}
		s.URL = u
		if s.Format == "" {
			s.Format = format
		}
	}
}
