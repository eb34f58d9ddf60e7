package main

import (
	"context"
	"fmt"

	"github.com/affinityd/affinityd/analysis"
	"github.com/affinityd/affinityd/server"
)

// Term lists: how many the pages show, and the support an emerging term needs
// in the window so that a single post does not lead the list.
const (
	termsShown         = 20
	emergingMinSupport = 3
)

// topicTerms is the server's terms provider: top, emerging terms and
// unconfigured organisations of a topic over the current scoring window.
func (d *daemon) topicTerms(ctx context.Context, topic string) (server.TopicTerms, error) {
	w, b := analysis.Windows(d.gen.Load().cfg.Scoring, d.now())
	var out server.TopicTerms
	var err error
	if out.Top, err = d.store.TopicTerms(ctx, topic, w, termsShown); err != nil {
		return out, fmt.Errorf("top terms: %w", err)
	}
	if out.Emerging, err = d.store.EmergingTerms(ctx, topic, w, b, emergingMinSupport, termsShown); err != nil {
		return out, fmt.Errorf("emerging terms: %w", err)
	}
	if out.Organisations, err = d.store.TopicOrganisations(ctx, topic, w, termsShown); err != nil {
		return out, fmt.Errorf("organisations: %w", err)
	}
	return out, nil
}
