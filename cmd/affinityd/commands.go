package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/collector"
	"github.com/affinityd/affinityd/config"
	"github.com/affinityd/affinityd/server"
)

// runCheck is `affinityd check`: validate, summarize, print the series budget.
func runCheck(g globalFlags, stdout, stderr io.Writer) int {
	l, err := loadConfig(g)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	cfg := l.cfg
	name := cfg.File
	if name == "" {
		name = "embedded demo configuration"
	}
	topics, sources, brands := len(cfg.Topics()), len(cfg.Sources), len(cfg.Brands())
	fmt.Fprintf(stdout, "%s: ok\n", name)
	fmt.Fprintf(stdout, "  %d relationships, %d topics, %d brands (own + competitors), %d sources\n",
		len(cfg.Relationships), topics, brands, sources)
	perTopic, perSource := seriesPerTopic(brands), seriesPerSource
	fmt.Fprintf(stdout, "  series budget: %d topics × %d + %d sources × %d = %d series\n",
		topics, perTopic, sources, perSource, topics*perTopic+sources*perSource)
	return 0
}

// seriesPerTopic counts the topic series of the metric reference: info, score,
// mentions, authors, engagement, momentum, sentiment, unconfigured
// organisations, then per format
// format_mentions and mentions_total, then share of voice per brand.
func seriesPerTopic(brands int) int { return 8 + 2*len(affinity.Formats) + brands }

// seriesPerSource: six single series, one failure counter per reason and the
// duration histogram's buckets, +Inf, _sum and _count.
var seriesPerSource = 6 + len(server.FailureReasons) + 8 + 3

// openOneShot prepares a daemon for a command that runs the pipeline once
// (scan, replay): store open, configuration built, nothing scheduled.
func openOneShot(ctx context.Context, g globalFlags, logger *slog.Logger) (*daemon, *generation, error) {
	l, err := loadConfig(g)
	if err != nil {
		return nil, nil, err
	}
	d, err := newDaemon(ctx, g, l, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("affinityd: %w", err)
	}
	gen, err := d.build(l)
	if err != nil {
		_ = d.close()
		return nil, nil, fmt.Errorf("affinityd: %w", err)
	}
	d.gen.Store(gen)
	return d, gen, nil
}

// runScan is `affinityd scan`: every source once, then the topic table.
func runScan(g globalFlags, logger *slog.Logger, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, gen, err := openOneShot(ctx, g, logger)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	defer d.close()
	d.metrics.SetSources(sourceInfos(gen.cfg))
	failed, finished, start := 0, 0, time.Now()
	// Sources run concurrently; each line is printed the moment its source
	// finishes (fetchAll calls back one at a time), so a slow source does not
	// hide the others and the count shows how many are still running.
	fmt.Fprintf(stdout, "scanning %d sources\n", len(gen.sources))
	d.fetchAll(ctx, func(name string, st batchStats, err error) {
		finished++
		done := fmt.Sprintf("[%d/%d %s]", finished, len(gen.sources), roundDuration(time.Since(start)))
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "source %-24s failed: %v %s\n", name, err, done)
			return
		}
		fmt.Fprintf(stdout, "source %-24s %6d posts scanned, %6d new, %6d matched %s\n", name, st.Scanned, st.New, st.Matched, done)
	})
	if err := d.score(ctx); err != nil {
		fmt.Fprintf(stderr, "affinityd: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout)
	printTopicTable(stdout, d.snapshot.Load())
	if failed > 0 {
		return 1
	}
	return 0
}

func sourceInfos(cfg *config.Config) []server.SourceInfo {
	infos := make([]server.SourceInfo, 0, len(cfg.Sources))
	for _, s := range cfg.Sources {
		infos = append(infos, server.SourceInfo{Name: s.Name, Kind: s.Kind, Format: s.Format})
	}
	return infos
}

// printTopicTable prints the scan table: one row per topic, relationships in config order.
func printTopicTable(w io.Writer, s *affinity.Snapshot) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RELATIONSHIP\tTOPIC\tPRIORITY\tMENTIONS\tAUTHORS\tFORMATS\tAFFINITY\tLEADING COMPETITOR\tSOV")
	kinds := map[string]affinity.BrandKind{}
	for _, b := range s.Brands {
		kinds[b.Name] = b.Kind
	}
	for _, t := range s.Topics {
		var formats []string
		for _, f := range affinity.Formats {
			if t.FormatMentions[f] > 0 {
				formats = append(formats, string(f))
			}
		}
		present := "-"
		if len(formats) > 0 {
			present = join(formats)
		}
		comp, sov := leadingCompetitor(s, t, kinds)
		compCol, sovCol := "-", "-"
		if comp != "" {
			compCol, sovCol = comp, fmt.Sprintf("%.0f%%", sov*100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%.2f\t%s\t%s\n", t.Relationship, t.Topic, t.Priority,
			t.Mentions, t.Authors, present, t.Score, compCol, sovCol)
	}
	_ = tw.Flush()
}

// leadingCompetitor is the competitor with the highest share of voice in a
// topic; "" when no competitor is mentioned.
func leadingCompetitor(s *affinity.Snapshot, t affinity.TopicScore, kinds map[string]affinity.BrandKind) (string, float64) {
	best, name := 0.0, ""
	for _, b := range s.Brands {
		if kinds[b.Name] == affinity.BrandOwn {
			continue
		}
		if v := t.ShareOfVoice[b.Name]; v > best {
			best, name = v, b.Name
		}
	}
	return name, best
}

func join(s []string) string {
	sort.Strings(s)
	out := s[0]
	for _, x := range s[1:] {
		out += "," + x
	}
	return out
}

type replayOptions struct {
	input, source, format string
}

// runReplay is `affinityd replay`: recorded posts through the same pipeline.
func runReplay(g globalFlags, logger *slog.Logger, o replayOptions, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, gen, err := openOneShot(ctx, g, logger)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	defer d.close()
	sc := config.Source{Name: o.source, Kind: "replay", Path: o.input, Format: o.format}
	d.metrics.SetSources([]server.SourceInfo{{Name: sc.Name, Kind: sc.Kind, Format: sc.Format}})
	src, err := collector.Kinds["replay"](sc, collector.Options{
		Logger: logger.With("source", sc.Name),
		Now:    d.now,
		Open:   func(name string) (io.ReadCloser, error) { return os.Open(name) },
	})
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: replay: %v\n", err)
		return 1
	}
	start := time.Now()
	bar := replayProgress(o.input, stdout)
	// From the first record every time: the store's dedup makes a repeated or
	// interrupted replay count each post once.
	st, err := d.pipeline.drain(ctx, src, gen.analyzer, affinity.SourceState{Source: sc.Name}, time.Hour,
		func(done batchStats, next affinity.SourceState) { bar.Update(consumed(done, next)) })
	bar.Finish()
	secs := time.Since(start).Seconds()
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: replay %s: %v\n", o.input, err)
	}
	if serr := d.score(ctx); serr != nil {
		fmt.Fprintf(stderr, "affinityd: %v\n", serr)
	}
	rate := 0.0
	if secs > 0 {
		rate = float64(st.Scanned) / secs
	}
	fmt.Fprintf(stdout, "replay %s: %d posts read, %d new, %d duplicates, %d matched, %d skipped, %.2f seconds, %.0f posts/s\n",
		o.input, st.Scanned, st.New, st.Duplicates, st.Matched, st.Skipped, secs, rate)
	if err != nil {
		return 1
	}
	return 0
}
