package collector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
	"github.com/mmcdole/gofeed"
)

// feedAccept prefers feed types but takes anything: many feeds are served
// as text/xml, text/html or application/octet-stream.
const feedAccept = "application/rss+xml, application/atom+xml, application/feed+json, " +
	"application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"

// feedSource fetches one RSS/Atom/JSON Feed URL with conditional GET.
type feedSource struct {
	name   string
	url    string
	format affinity.Format
	client *Client
	logger *slog.Logger
	now    func() time.Time
}

func newFeed(cfg config.Source, opts Options) (Source, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("collector: feed %q: url %q is not an http(s) URL", cfg.Name, redactURL(cfg.URL))
	}
	if opts.Client == nil {
		return nil, fmt.Errorf("collector: feed %q: no HTTP client", cfg.Name)
	}
	return &feedSource{
		name:   cfg.Name,
		url:    cfg.URL,
		format: formatOr(cfg.Format, affinity.FormatAudience),
		client: opts.Client,
		logger: loggerOr(opts.Logger),
		now:    nowOr(opts.Now),
	}, nil
}

func (s *feedSource) Name() string { return s.name }

func (s *feedSource) where() string { return fmt.Sprintf("feed %q", s.name) }

// Fetch does one conditional GET and maps the feed's items to posts.
func (s *feedSource) Fetch(ctx context.Context, state affinity.SourceState) (Result, error) {
	state.Source = s.name
	res := Result{State: state, RateLimitRemaining: -1}
	req, err := s.client.NewRequest(ctx, "GET", s.url, nil)
	if err != nil {
		return res, at(s.where(), err)
	}
	req.Header.Set("Accept", feedAccept)
	if state.ETag != "" {
		req.Header.Set("If-None-Match", state.ETag)
	}
	if state.LastModified != "" {
		req.Header.Set("If-Modified-Since", state.LastModified)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return res, at(s.where(), err)
	}
	if !resp.IsModified() {
		res.NotModified = true
		return res, nil
	}
	feed, truncated, err := parseFeed(resp.Body, resp.ContentType)
	if err != nil {
		return res, at(s.where(), err)
	}
	if truncated {
		s.logger.Warn("feed has too many items: kept the first ones", "items_kept", len(feed.Items))
	}
	base, _ := url.Parse(resp.URL)
	res.Posts = feedPosts(feed, base, s.name, s.format, s.now())
	res.State.ETag = resp.ETag()
	res.State.LastModified = resp.LastModified()
	s.logger.Debug("feed parsed", "status", resp.StatusCode, "bytes", len(resp.Body),
		"items", len(feed.Items), "posts", len(res.Posts))
	return res, nil
}

// feedPosts maps a parsed feed to posts, first occurrence of an id wins (a
// feed listing an item twice would otherwise make one batch collide with
// itself). base is where the feed came from; relative links resolve against
// the feed's own link, itself resolved against base.
func feedPosts(feed *gofeed.Feed, base *url.URL, name string, format affinity.Format, now time.Time) []affinity.Post {
	if feed.Link != "" {
		if l, err := url.Parse(strings.TrimSpace(feed.Link)); err == nil {
			if base != nil {
				base = base.ResolveReference(l)
			} else if l.IsAbs() {
				base = l
			}
		}
	}
	posts := make([]affinity.Post, 0, len(feed.Items))
	seen := make(map[string]bool, len(feed.Items))
	for _, it := range feed.Items {
		if it == nil {
			continue
		}
		p := affinity.Post{
			Source:    name,
			URL:       resolve(base, it.Link),
			Author:    itemAuthor(it),
			Published: itemTime(it),
			Collected: now,
			Language:  feed.Language,
			Title:     it.Title,
			Text:      it.Content,
			Format:    format,
		}
		if strings.TrimSpace(p.Text) == "" {
			p.Text = it.Description
		}
		p.ID = itemID(it, p)
		if seen[p.ID] {
			continue
		}
		seen[p.ID] = true
		posts = append(posts, p)
	}
	return posts
}

// itemID is the item's GUID, else its link, else a hash of what it says:
// stable across fetches, so the store recognises an item seen before.
func itemID(it *gofeed.Item, p affinity.Post) string {
	if g := strings.TrimSpace(it.GUID); g != "" {
		return g
	}
	if p.URL != "" {
		return p.URL
	}
	date := it.Published
	if date == "" {
		date = it.Updated
	}
	h := sha256.Sum256([]byte(it.Title + "\x00" + date + "\x00" + p.Text))
	return "h:" + hex.EncodeToString(h[:])
}

func itemAuthor(it *gofeed.Item) string {
	people := it.Authors
	if len(people) == 0 && it.Author != nil { //nolint:staticcheck // older translators fill only Author
		people = []*gofeed.Person{it.Author} //nolint:staticcheck
	}
	for _, a := range people {
		if a == nil {
			continue
		}
		if n := strings.TrimSpace(a.Name); n != "" {
			return n
		}
		if e := strings.TrimSpace(a.Email); e != "" {
			return e
		}
	}
	return ""
}

// itemTime is the publication time, else the update time, else zero: gofeed
// leaves both nil on dates it cannot parse, and Post.Time then falls back to
// the collection time.
func itemTime(it *gofeed.Item) time.Time {
	switch {
	case it.PublishedParsed != nil:
		return it.PublishedParsed.UTC()
	case it.UpdatedParsed != nil:
		return it.UpdatedParsed.UTC()
	}
	return time.Time{}
}

// resolve makes link absolute against base; a link that does not parse is
// kept as given (the store canonicalises what it can).
func resolve(base *url.URL, link string) string {
	link = strings.TrimSpace(link)
	if link == "" || base == nil {
		return link
	}
	l, err := url.Parse(link)
	if err != nil || l.IsAbs() {
		return link
	}
	return base.ResolveReference(l).String()
}

func formatOr(f string, def affinity.Format) affinity.Format {
	if affinity.Format(f).Valid() {
		return affinity.Format(f)
	}
	return def
}

func loggerOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

func nowOr(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
