package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/collector"
	"github.com/affinityd/affinityd/config"
	"github.com/affinityd/affinityd/server"
	"github.com/affinityd/affinityd/store"
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
	if err := checkStore(g, cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// seriesPerTopic counts the topic series of the metric reference: info, score,
// mentions, authors, engagement, momentum, sentiment, unconfigured
// organisations, then per format
// format_mentions and mentions_total, then per brand share of voice,
// brand sentiment and brand_mentions_total.
func seriesPerTopic(brands int) int { return 8 + 2*len(affinity.Formats) + 3*brands }

// seriesPerSource: eight single series (scanned, new, near-duplicate, items
// skipped, rate limit remaining, up, fetches, last success), one failure counter per reason, one
// skipped-runs counter per skip reason and the duration histogram's buckets,
// +Inf, _sum and _count.
var seriesPerSource = 8 + len(server.FailureReasons) + len(server.SkipReasons) + 8 + 3

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
	batch                 int // posts per commit
}

// runReplay is `affinityd replay`: recorded posts through the same pipeline.
func runReplay(g globalFlags, logger *slog.Logger, o replayOptions, stdout, stderr io.Writer) int {
	if o.batch < 0 {
		fmt.Fprintf(stderr, "affinityd: replay: --batch-size %d: want a positive number of posts\n", o.batch)
		return 2
	}
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
		Logger:      logger.With("source", sc.Name),
		Now:         d.now,
		Open:        func(name string) (io.ReadCloser, error) { return os.Open(name) },
		ReplayBatch: o.batch,
	})
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: replay: %v\n", err)
		return 1
	}
	from, err := replayStart(ctx, d.store, sc.Name, o.input)
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: replay: %v\n", err)
		return 1
	}
	if from.Cursor != "" {
		fmt.Fprintf(stdout, "replay %s: resuming after line %s\n", o.input, from.Cursor)
	}
	start := time.Now()
	bar := replayProgress(o.input, stdout)
	st, err := d.pipeline.drain(ctx, src, gen.analyzer, from, time.Hour,
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
	fmt.Fprintf(stdout, "replay %s: %d posts read, %d new, %d duplicates, %d near-duplicates, %d matched, %d skipped, %.2f seconds, %.0f posts/s\n",
		o.input, st.Scanned, st.New, st.Duplicates, st.NearDuplicates, st.Matched, st.Skipped, secs, rate)
	if err != nil {
		return 1
	}
	return 0
}

// replayStart is where a replay of input begins: after the last committed
// line when an interrupted replay of the same JSONL file left its cursor
// (saved in each batch's transaction) short of the file's end, else at the
// first line, so replaying a finished file checks it all again. The file is
// told apart by its path and first bytes, kept in the state's ETag, which
// replay files have no other use for; the store's dedup still guards a
// wrong guess. Feed files are parsed whole anyway and always start over.
func replayStart(ctx context.Context, st store.Store, source, input string) (affinity.SourceState, error) {
	from := affinity.SourceState{Source: source, ETag: replayMark(input)}
	saved, ok, err := st.SourceState(ctx, source)
	if err != nil {
		return from, err
	}
	if !ok || from.ETag == "" || saved.ETag != from.ETag || !strings.EqualFold(filepath.Ext(input), ".jsonl") {
		return from, nil
	}
	done, err := strconv.ParseInt(saved.Cursor, 10, 64)
	if err != nil || done <= 0 {
		return from, nil
	}
	f, err := os.Open(input)
	if err != nil {
		return from, nil // the replay itself reports it
	}
	defer f.Close()
	if lines, err := countLines(f); err == nil && done < lines {
		from.Cursor = saved.Cursor
	}
	return from, nil
}

// replayMark identifies a replay file: "replay:" + absolute path + a hash of
// its first 4 KiB; "" when it cannot be read (the replay reports why).
func replayMark(input string) string {
	abs, err := filepath.Abs(input)
	if err != nil {
		return ""
	}
	f, err := os.Open(abs)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return ""
	}
	sum := sha256.Sum256(head[:n])
	return "replay:" + abs + ":" + hex.EncodeToString(sum[:8])
}
