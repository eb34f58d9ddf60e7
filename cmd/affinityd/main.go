// Command affinityd collects public posts, measures how present the topics of
// a company's customer relationships are in social media, and exports it as
// Prometheus metrics. main is wiring only; see daemon.go for the run loop.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
)

const defaultListenAddress = ":9812"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run parses args and runs one subcommand; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("affinityd", "Social media affinity of your customer relationships' topics, as Prometheus metrics.")
	app.UsageWriter(stderr)
	app.ErrorWriter(stderr)
	// --help and --version print and then "terminate": record it instead of
	// exiting, so run stays testable and does not fall through to the daemon.
	terminated, status := false, 0
	app.Terminate(func(code int) { terminated, status = true, code })
	app.HelpFlag.Short('h')
	app.Version(version.Print("affinityd"))

	var g globalFlags
	app.Flag("config.file", "Configuration file. Empty: the embedded offline demo.").Default("").StringVar(&g.configFile)
	app.Flag("config", "Alias of --config.file.").Hidden().StringVar(&g.configFile)
	app.Flag("storage.path", "SQLite database file; overrides store.path of the configuration.").Default("").StringVar(&g.storagePath)
	logCfg := &promslog.Config{Writer: stderr}
	promslogflag.AddFlags(app, logCfg)

	runCmd := app.Command("run", "Run the daemon (default).").Default()
	g.webFlags = kingpinflag.AddFlags(runCmd, defaultListenAddress)
	checkCmd := app.Command("check", "Validate the configuration and print its series budget.")
	scanCmd := app.Command("scan", "Fetch every source once, store what is new and print a table of the topics.")
	replayCmd := app.Command("replay", "Feed recorded posts (JSONL or a feed file) through the pipeline.")
	replayInput := replayCmd.Flag("input", "File to replay: JSONL (see README) or an RSS/Atom/JSON feed.").Required().String()
	replaySource := replayCmd.Flag("source", "Source name the replayed posts are stored under.").Default("replay").String()
	replayFormat := replayCmd.Flag("format", "Usage format for posts that do not name one.").Default("audience").Enum("audience", "community", "network")
	replayBatch := replayCmd.Flag("batch-size", "Posts committed per transaction: at most this many are lost to a crash, and re-read on the next run.").Default("5000").Int()
	reportCmd := app.Command("report", "Print the work template: relationships, topics, affinity and competitive situation.")
	var rep reportOptions
	reportCmd.Flag("format", "Output format.").Default("markdown").EnumVar(&rep.format, reportFormats...)
	reportCmd.Flag("since", "Window to score, e.g. 7d or 36h; default scoring.window.").Default("").StringVar(&rep.since)
	evalCmd, evalOpts := addEvalCommand(app)
	queryCmd, queryOpts := addQueryCommand(app)
	migrateCmd := app.Command("migrate", "Apply the store's pending schema migrations (start-up does too) and print the version.")
	versionCmd := app.Command("version", "Print the version.")

	cmd, err := app.Parse(args)
	if terminated {
		return status
	}
	if err != nil {
		fmt.Fprintf(stderr, "affinityd: %v\n", err)
		return 2
	}
	logger := promslog.New(logCfg)
	switch cmd {
	case versionCmd.FullCommand():
		fmt.Fprintln(stdout, version.Print("affinityd"))
		return 0
	case checkCmd.FullCommand():
		return runCheck(g, stdout, stderr)
	case scanCmd.FullCommand():
		return runScan(g, logger, stdout, stderr)
	case replayCmd.FullCommand():
		return runReplay(g, logger, replayOptions{input: *replayInput, source: *replaySource, format: *replayFormat, batch: *replayBatch}, stdout, stderr)
	case reportCmd.FullCommand():
		return runReport(g, logger, rep, stdout, stderr)
	case queryCmd.FullCommand():
		return runQuery(g, logger, *queryOpts, stdout, stderr)
	case migrateCmd.FullCommand():
		return runMigrate(g, logger, stdout, stderr)
	case evalCmd.FullCommand():
		// The near-duplicate figures are printed at the configured threshold.
		if l, err := loadConfig(g); err == nil {
			evalOpts.nearDupThreshold = l.cfg.Analysis.NearDuplicates.Threshold
		} else if g.configFile != "" {
			fmt.Fprintf(stderr, "affinityd: eval: %v\n", err)
			return 1
		}
		return runEval(*evalOpts, stdout, stderr)
	default:
		return runDaemon(g, logger, stderr)
	}
}
