package deploy

// The end-to-end proof of the occupancy alert: a local feed server plays posts, the real
// affinityd binary collects and scores them, a real Prometheus scrapes it with the
// project's own rule files, and a real Alertmanager, configured from the project's own
// example route, posts the alert to a webhook listener in this test. Everything listens
// on 127.0.0.1 and is stopped and removed when the test ends.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	// e2eOccupancyAlert is the alert the test relies on; e2eOccupancyRule checks that
	// deploy/prometheus/rules/affinityd-alerts.yml still defines it under this name.
	e2eOccupancyAlert = "AffinityTopicOccupied"
	e2eAlertRuleFile  = "prometheus/rules/affinityd-alerts.yml"
	e2eRuleGlob       = "prometheus/rules/*.yml"

	e2eTopic = "cloud_backup"
	e2eOwn   = "Acme"
	e2eRival = "Globex"

	// Every loop of Prometheus and Alertmanager runs at this pace, and every alert's
	// for: is shortened to e2eFor, so a case takes seconds instead of hours.
	e2eInterval = "1s"
	e2eFor      = "3s"
	// e2eTimeout bounds one case from all its processes being ready to its verdict
	// (starting them has 30 s of its own).
	e2eTimeout = 90 * time.Second
)

// e2eDaemonConfig is the affinityd configuration of both cases; %s is the feed's URL.
// scoring.interval 1s makes the scores follow the feed within a second.
const e2eDaemonConfig = `brand:
  name: Acme
competitors:
  - name: Globex
    kind: direct
relationships:
  - name: backup-customers
    type: self-service
    priority: high
    segments: [small-business]
    topics:
      - name: cloud_backup
        priority: high
        terms: ["cloud backup"]
        synonyms: ["online backup"]
sources:
  - name: e2e-feed
    kind: feed
    url: %s
    interval: 1m
    format: audience
scoring:
  interval: 1s
`

// e2ePrometheusConfig: job "affinityd" as in prometheus/prometheus.yml (AffinitydDown
// matches it). Arguments: interval, interval, rule glob, Alertmanager, affinityd.
const e2ePrometheusConfig = `global:
  scrape_interval: %[1]s
  evaluation_interval: %[2]s
rule_files:
  - %[3]q
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%[4]q]
scrape_configs:
  - job_name: affinityd
    static_configs:
      - targets: [%[5]q]
`

// TestE2EOccupancyAlert runs the whole chain twice, in parallel: where a competitor
// leads a topic the occupancy alert reaches the webhook with the topic and the brand;
// where our brand leads it never even becomes pending.
func TestE2EOccupancyAlert(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("starts affinityd, Prometheus and Alertmanager")
	}
	tools := e2eEnsureTools(t)
	e2eOccupancyRule(t)
	rules := e2eShortenedRules(t)
	daemon := e2eBuildDaemon(t)

	for _, tc := range []struct {
		name, feed string
		// SoV of cloud_backup the fixture implies (8 of 10 brand mentions lead).
		sov      map[string]float64
		occupied bool
	}{
		{"competitor_leads", "testdata/e2e/feed-competitor-leads.xml.tmpl", map[string]float64{e2eRival: 0.8, e2eOwn: 0.2}, true},
		{"brand_leads", "testdata/e2e/feed-brand-leads.xml.tmpl", map[string]float64{e2eOwn: 0.8, e2eRival: 0.2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
			defer cancel()
			s := e2eStart(t, tools, daemon, rules, tc.feed)

			// The scores of the fixture reached Prometheus.
			var arrived time.Time
			s.eventually(ctx, "the fixture's scores in Prometheus", func() (bool, string) {
				v, err := s.query(ctx, `affinity_topic_mentions{topic="`+e2eTopic+`"}`)
				// 11 posts of the fixture match the topic; not one more (no double count).
				if err != nil || len(v) != 1 || v[0].value != 11 {
					return false, fmt.Sprintf("affinity_topic_mentions: %v %v", v, err)
				}
				arrived = time.Now()
				return true, ""
			})
			sov, err := s.query(ctx, `affinity_topic_share_of_voice_ratio{topic="`+e2eTopic+`"}`)
			if err != nil {
				t.Fatal(err)
			}
			for brand, want := range tc.sov {
				got := math.NaN()
				for _, v := range sov {
					if v.labels["brand"] == brand {
						got = v.value
					}
				}
				if math.Abs(got-want) > 1e-9 {
					t.Errorf("share of voice of %s in %s = %v, want %v (from the fixture); all: %v", brand, e2eTopic, got, want, sov)
				}
			}

			if tc.occupied {
				s.expectOccupied(ctx)
			} else {
				s.expectSilence(ctx, arrived)
			}
			s.checkRuleHealth(ctx)
		})
	}
}

// expectOccupied waits for the occupancy alert of Globex in cloud_backup at the
// webhook, delivered through the example's own route (not the test's catch-all).
func (s *e2eStack) expectOccupied(ctx context.Context) {
	t := s.t
	var got e2eAlert
	s.eventually(ctx, "a firing "+e2eOccupancyAlert+" at the webhook", func() (bool, string) {
		for _, n := range s.hook.notifications() {
			for _, a := range n.Alerts {
				if a.Labels["alertname"] == e2eOccupancyAlert && a.Status == "firing" && n.Status == "firing" {
					got, got.receiver = a, n.Receiver
					return true, ""
				}
			}
		}
		return false, "webhook got: " + s.hook.summary()
	})
	t.Logf("receiver %s got %s %v, %s after the first process started", got.receiver, e2eOccupancyAlert, got.Labels, time.Since(s.started).Round(time.Second))
	if got.Labels["topic"] != e2eTopic || got.Labels["brand"] != e2eRival {
		t.Errorf("%s labels = %v, want topic=%s brand=%s", e2eOccupancyAlert, got.Labels, e2eTopic, e2eRival)
	}
	if got.Labels["brand_kind"] != "direct" {
		t.Errorf("%s brand_kind = %q, want direct (Globex's kind in the configuration)", e2eOccupancyAlert, got.Labels["brand_kind"])
	}
	if !s.exampleReceivers[got.receiver] {
		t.Errorf("%s reached receiver %q: the test's catch-all, not a webhook of alertmanager/alertmanager.yml's route", e2eOccupancyAlert, got.receiver)
	}
	for _, n := range s.hook.notifications() {
		for _, a := range n.Alerts {
			if a.Labels["alertname"] == e2eOccupancyAlert && a.Labels["brand"] != e2eRival {
				t.Errorf("%s for brand %q (labels %v); only %s leads", e2eOccupancyAlert, a.Labels["brand"], a.Labels, e2eRival)
			}
		}
	}
	alerts, err := s.alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(alerts, func(a e2eAlert) bool {
		return a.Labels["alertname"] == e2eOccupancyAlert && a.State == "firing" && a.Labels["brand"] == e2eRival
	}) {
		t.Errorf("Prometheus /api/v1/alerts lacks the firing %s: %v", e2eOccupancyAlert, alerts)
	}
}

// expectSilence waits until the occupancy rule has been evaluated on the fixture's
// scores for well over its for: and Alertmanager has had time to send, and then finds
// nothing: no notification, no pending or firing alert, not even an ALERTS sample.
// A silent webhook alone proves nothing, so the same chain must meanwhile have delivered
// some other alert of the topic (the new topic's momentum spike).
func (s *e2eStack) expectSilence(ctx context.Context, arrived time.Time) {
	t := s.t
	// Evaluations of the occupancy rule's group after the data arrived: at least the
	// shortened for: plus three more intervals.
	forDur, _ := time.ParseDuration(e2eFor)
	interval, _ := time.ParseDuration(e2eInterval)
	enough := arrived.Add(forDur + 3*interval)
	s.eventually(ctx, "the occupancy rule evaluated past its for: on the fixture's data", func() (bool, string) {
		g, err := s.occupancyGroup(ctx)
		if err != nil {
			return false, err.Error()
		}
		return g.LastEvaluation.After(enough), fmt.Sprintf("group %s last evaluated %s, waiting for %s", g.Name, g.LastEvaluation, enough)
	})
	s.eventually(ctx, "another alert of "+e2eTopic+" at the webhook (the chain works)", func() (bool, string) {
		for _, n := range s.hook.notifications() {
			for _, a := range n.Alerts {
				if a.Labels["topic"] == e2eTopic && a.Labels["alertname"] != e2eOccupancyAlert {
					return true, ""
				}
			}
		}
		return false, "webhook got: " + s.hook.summary()
	})
	// Alertmanager's group_wait for a new group (the occupancy route groups by topic
	// and brand) with room to spare.
	time.Sleep(3 * interval)

	for _, n := range s.hook.notifications() {
		for _, a := range n.Alerts {
			if a.Labels["alertname"] == e2eOccupancyAlert {
				t.Errorf("webhook received %s (%s) although %s leads: %v", e2eOccupancyAlert, a.Status, e2eOwn, a.Labels)
			}
		}
	}
	alerts, err := s.alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == e2eOccupancyAlert {
			t.Errorf("Prometheus has %s %s although %s leads: %v", a.State, e2eOccupancyAlert, e2eOwn, a.Labels)
		}
	}
	ever, err := s.query(ctx, `ALERTS{alertname="`+e2eOccupancyAlert+`"}[10m]`)
	if err != nil {
		t.Fatal(err)
	}
	if len(ever) != 0 {
		t.Errorf("%s was pending or firing at some point: %v", e2eOccupancyAlert, ever)
	}
	t.Logf("no %s; the webhook got: %s", e2eOccupancyAlert, s.hook.summary())
}

// checkRuleHealth fails on any project rule that a real Prometheus could not evaluate
// (a many-to-many join, for instance), which promtool's unit tests may not reach.
func (s *e2eStack) checkRuleHealth(ctx context.Context) {
	groups, err := s.ruleGroups(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Health == "err" {
				s.t.Errorf("rule %s (group %s) fails in Prometheus: %s", r.Name, g.Name, r.LastError)
			}
		}
	}
}

// ---------------------------------------------------------------- setup

type e2eTools struct{ prometheus, alertmanager string }

var (
	e2eInstallOnce sync.Once
	e2eInstallOut  []byte
	e2eInstallErr  error
)

// e2eEnsureTools finds the Prometheus and Alertmanager servers, running the install
// script once when either is missing. It never skips: in CI and elsewhere a missing
// server fails the test with what to do.
func e2eEnsureTools(t *testing.T) e2eTools {
	t.Helper()
	look := func() (e2eTools, error) {
		p, err := exec.LookPath("prometheus")
		if err != nil {
			return e2eTools{}, err
		}
		// Debian names the server prometheus-alertmanager; upstream's tarball, alertmanager.
		a, err := exec.LookPath("prometheus-alertmanager")
		if err != nil {
			if a, err = exec.LookPath("alertmanager"); err != nil {
				return e2eTools{}, err
			}
		}
		return e2eTools{p, a}, nil
	}
	if tl, err := look(); err == nil {
		return tl
	}
	e2eInstallOnce.Do(func() {
		cmd := exec.Command("sh", installScript)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		e2eInstallOut, e2eInstallErr = cmd.CombinedOutput()
	})
	tl, err := look()
	if err != nil {
		t.Fatalf("the end-to-end test needs Debian's prometheus and prometheus-alertmanager: %v\n"+
			"deploy/%s: %v\n%s\nInstall them as root: sh deploy/%s (or apt-get install prometheus prometheus-alertmanager)",
			err, installScript, e2eInstallErr, e2eInstallOut, installScript)
	}
	return tl
}

// e2eOccupancyRule checks that the original alert file defines the occupancy alert the
// test waits for, with a for: the test shortens.
func e2eOccupancyRule(t *testing.T) {
	t.Helper()
	var rf ruleFile
	readYAML(t, e2eAlertRuleFile, &rf)
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == e2eOccupancyAlert {
				if r.For == "" {
					t.Fatalf("%s: %s has no for:", e2eAlertRuleFile, e2eOccupancyAlert)
				}
				return
			}
		}
	}
	t.Fatalf("%s defines no alert %s; the end-to-end test proves that alert", e2eAlertRuleFile, e2eOccupancyAlert)
}

var e2eForLine = regexp.MustCompile(`(?m)^(\s+for:\s*)\S+(\s*)$`)

// e2eShortenedRules copies deploy/prometheus/rules/*.yml into a temporary directory with
// every for: set to e2eFor, since the real durations (minutes to hours) would make the
// test wait that long. Nothing else in the files changes. It returns the copies' glob.
func e2eShortenedRules(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob(e2eRuleGlob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files match %s: %v", e2eRuleGlob, err)
	}
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = e2eForLine.ReplaceAll(b, []byte("${1}"+e2eFor+"${2}"))
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "*.yml")
}

// e2eBuildDaemon builds the affinityd binary the way a user does.
func e2eBuildDaemon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "affinityd")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/affinityd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ../cmd/affinityd: %v\n%s", err, out)
	}
	return bin
}

// e2eStack is one case's chain: feed server → affinityd → Prometheus → Alertmanager →
// webhook, each with its own port and directory.
type e2eStack struct {
	t                *testing.T
	prometheus       string // base URL
	hook             *e2eWebhook
	exampleReceivers map[string]bool // receivers with a webhook in alertmanager.yml
	started          time.Time
}

func e2eStart(t *testing.T, tools e2eTools, daemonBin, ruleGlob, feedTemplate string) *e2eStack {
	t.Helper()
	dir := t.TempDir()
	s := &e2eStack{t: t, started: time.Now()}

	feed := e2eFeedServer(t, feedTemplate)
	s.hook = e2eNewWebhook(t)

	// Alertmanager, from the project's example with the webhook URLs pointed here.
	amAddr := e2eFreeAddr(t)
	amCfg, example := e2eAlertmanagerConfig(t, s.hook.srv.URL)
	s.exampleReceivers = example
	e2eWrite(t, filepath.Join(dir, "alertmanager.yml"), amCfg)
	am := e2eRun(t, "alertmanager", tools.alertmanager,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "alertmanager"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=", // no gossip: one instance, nothing on other interfaces
	)

	// affinityd on the fixture feed.
	dAddr := e2eFreeAddr(t)
	e2eWrite(t, filepath.Join(dir, "affinityd.yml"), fmt.Sprintf(e2eDaemonConfig, feed.URL+"/feed.xml"))
	d := e2eRun(t, "affinityd", daemonBin,
		"--config.file="+filepath.Join(dir, "affinityd.yml"),
		"--storage.path="+filepath.Join(dir, "affinityd.db"),
		"--web.listen-address="+dAddr,
	)

	// Prometheus scraping it with the shortened copies of the project's rules.
	pAddr := e2eFreeAddr(t)
	e2eWrite(t, filepath.Join(dir, "prometheus.yml"),
		fmt.Sprintf(e2ePrometheusConfig, e2eInterval, e2eInterval, ruleGlob, amAddr, dAddr))
	p := e2eRun(t, "prometheus", tools.prometheus,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus"),
		"--web.listen-address="+pAddr,
		"--rules.alert.resend-delay="+e2eInterval,
	)
	s.prometheus = "http://" + pAddr

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range []struct {
		proc *e2eProc
		url  string
	}{{am, "http://" + amAddr + "/-/ready"}, {d, "http://" + dAddr + "/-/ready"}, {p, s.prometheus + "/-/ready"}} {
		s.eventually(ctx, r.proc.name+" ready", func() (bool, string) {
			if r.proc.exited() {
				t.Fatalf("%s exited early:\n%s", r.proc.name, r.proc.logs.tail())
			}
			code, _, err := e2eGet(ctx, r.url)
			return code == http.StatusOK, fmt.Sprintf("GET %s: %d %v", r.url, code, err)
		})
	}
	return s
}

// eventually polls cond until it holds; on timeout it fails with cond's last word.
func (s *e2eStack) eventually(ctx context.Context, what string, cond func() (bool, string)) {
	s.t.Helper()
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		select {
		case <-ctx.Done():
			s.t.Fatalf("timed out waiting for %s: %s", what, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ---------------------------------------------------------------- processes

type e2eProc struct {
	name string
	cmd  *exec.Cmd
	logs *e2eLog
	done chan struct{}
}

func (p *e2eProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// e2eRun starts a process whose output goes to a buffer; t.Cleanup stops it (SIGTERM,
// then SIGKILL after 10 s) before its directories are removed, and prints its log if
// the test failed.
func e2eRun(t *testing.T, name, bin string, args ...string) *e2eProc {
	t.Helper()
	p := &e2eProc{name: name, cmd: exec.Command(bin, args...), logs: &e2eLog{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("---- %s %s\n%s", name, strings.Join(args, " "), p.logs.tail())
		}
	})
	return p
}

// e2eLog is a goroutine-safe buffer for a process's output.
type e2eLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *e2eLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

// tail is the last 16 KiB: enough for the story, short enough for a test log.
func (l *e2eLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf.Bytes()
	if len(b) > 16<<10 {
		b = b[len(b)-16<<10:]
	}
	return string(b)
}

func e2eFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func e2eWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------- feed and webhook

// e2eFeedServer serves the template with its pubDates relative to now.
func e2eFeedServer(t *testing.T, path string) *httptest.Server {
	t.Helper()
	now := time.Now()
	tmpl, err := template.New(filepath.Base(path)).Funcs(template.FuncMap{
		"hoursAgo": func(h int) string { return now.Add(-time.Duration(h) * time.Hour).Format(time.RFC1123Z) },
	}).ParseFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	if err := tmpl.Execute(&body, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/feed.xml" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		_, _ = w.Write(body.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// e2eNotification is the part of Alertmanager's webhook payload (version 4) the test reads.
type e2eNotification struct {
	Receiver string     `json:"receiver"`
	Status   string     `json:"status"`
	Alerts   []e2eAlert `json:"alerts"`
}

// e2eAlert is an alert in a webhook payload or in Prometheus's /api/v1/alerts.
type e2eAlert struct {
	Status   string            `json:"status"` // webhook: firing | resolved
	State    string            `json:"state"`  // Prometheus: pending | firing
	Labels   map[string]string `json:"labels"`
	receiver string
}

// e2eWebhook records every notification Alertmanager posts.
type e2eWebhook struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []e2eNotification
	bad []string
}

func e2eNewWebhook(t *testing.T) *e2eWebhook {
	t.Helper()
	h := &e2eWebhook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var n e2eNotification
		if err == nil {
			err = json.Unmarshal(b, &n)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.bad = append(h.bad, fmt.Sprintf("%s %s: %v: %s", r.Method, r.URL.Path, err, b))
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.got = append(h.got, n)
	}))
	t.Cleanup(func() {
		h.srv.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, b := range h.bad {
			t.Errorf("webhook received an unreadable notification: %s", b)
		}
		if t.Failed() {
			t.Logf("---- webhook notifications\n%s", h.summaryLocked())
		}
	})
	return h
}

func (h *e2eWebhook) notifications() []e2eNotification {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]e2eNotification(nil), h.got...)
}

func (h *e2eWebhook) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.summaryLocked()
}

func (h *e2eWebhook) summaryLocked() string {
	if len(h.got) == 0 {
		return "nothing"
	}
	var b strings.Builder
	for _, n := range h.got {
		for _, a := range n.Alerts {
			fmt.Fprintf(&b, "\n  receiver=%s %s %v", n.Receiver, a.Status, a.Labels)
		}
	}
	return b.String()
}

// e2eAlertmanagerConfig is alertmanager/alertmanager.yml with its webhook URLs pointed
// at the test's listener (one path per receiver) and its waits shortened to
// e2eInterval. Receivers without a webhook (the default) get one too, so the test sees
// every alert the route sends anywhere. It returns the config and the receivers that had
// a webhook in the example.
func e2eAlertmanagerConfig(t *testing.T, hookURL string) (string, map[string]bool) {
	t.Helper()
	var cfg map[string]any
	readYAML(t, alertmanagerConfig, &cfg)
	route, ok := cfg["route"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no route", alertmanagerConfig)
	}
	// Children inherit the root's waits; a child that sets its own gets the short one too.
	var shorten func(r map[string]any, root bool)
	shorten = func(r map[string]any, root bool) {
		for _, k := range []string{"group_wait", "group_interval"} {
			if _, set := r[k]; set || root {
				r[k] = e2eInterval
			}
		}
		subs, _ := r["routes"].([]any)
		for _, sub := range subs {
			if m, ok := sub.(map[string]any); ok {
				shorten(m, false)
			}
		}
	}
	shorten(route, true)

	example := map[string]bool{}
	receivers, _ := cfg["receivers"].([]any)
	for _, r := range receivers {
		rec, ok := r.(map[string]any)
		if !ok {
			continue
		}
		name, _ := rec["name"].(string)
		u := hookURL + "/" + url.PathEscape(name)
		hooks, _ := rec["webhook_configs"].([]any)
		if len(hooks) > 0 {
			example[name] = true
		}
		for _, h := range hooks {
			if m, ok := h.(map[string]any); ok {
				m["url"] = u
			}
		}
		if len(hooks) == 0 {
			rec["webhook_configs"] = []any{map[string]any{"url": u, "send_resolved": false}}
		}
	}
	if len(example) == 0 {
		t.Fatalf("%s has no webhook receiver", alertmanagerConfig)
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), example
}

// ---------------------------------------------------------------- Prometheus API

type e2eSample struct {
	labels map[string]string
	value  float64
}

func (v e2eSample) String() string { return fmt.Sprintf("%v=%g", v.labels, v.value) }

// query runs an instant query; a range vector (ALERTS[10m]) yields one sample per series
// with its last value.
func (s *e2eStack) query(ctx context.Context, q string) ([]e2eSample, error) {
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
			Values [][]any           `json:"values"`
		} `json:"result"`
	}
	if err := s.api(ctx, "/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	var out []e2eSample
	for _, r := range data.Result {
		pair := r.Value
		if len(r.Values) > 0 {
			pair = r.Values[len(r.Values)-1]
		}
		if len(pair) != 2 {
			return nil, fmt.Errorf("query %s: sample %v", q, pair)
		}
		str, _ := pair[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q, err)
		}
		out = append(out, e2eSample{r.Metric, v})
	}
	return out, nil
}

func (s *e2eStack) alerts(ctx context.Context) ([]e2eAlert, error) {
	var data struct {
		Alerts []e2eAlert `json:"alerts"`
	}
	err := s.api(ctx, "/api/v1/alerts", &data)
	return data.Alerts, err
}

type e2eRuleGroup struct {
	Name           string    `json:"name"`
	LastEvaluation time.Time `json:"lastEvaluation"`
	Rules          []struct {
		Name      string  `json:"name"`
		Type      string  `json:"type"`
		Duration  float64 `json:"duration"`
		Health    string  `json:"health"`
		LastError string  `json:"lastError"`
	} `json:"rules"`
}

func (s *e2eStack) ruleGroups(ctx context.Context) ([]e2eRuleGroup, error) {
	var data struct {
		Groups []e2eRuleGroup `json:"groups"`
	}
	err := s.api(ctx, "/api/v1/rules", &data)
	return data.Groups, err
}

// occupancyGroup is the loaded group holding the occupancy alert, which must carry the
// shortened for: (proof that Prometheus runs the test's copies).
func (s *e2eStack) occupancyGroup(ctx context.Context) (e2eRuleGroup, error) {
	groups, err := s.ruleGroups(ctx)
	if err != nil {
		return e2eRuleGroup{}, err
	}
	forDur, _ := time.ParseDuration(e2eFor)
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Type == "alerting" && r.Name == e2eOccupancyAlert {
				if r.Duration != forDur.Seconds() {
					s.t.Fatalf("Prometheus runs %s with for: %gs, want the shortened %s", e2eOccupancyAlert, r.Duration, e2eFor)
				}
				return g, nil
			}
		}
	}
	return e2eRuleGroup{}, fmt.Errorf("prometheus has not loaded %s (%d groups)", e2eOccupancyAlert, len(groups))
}

// api GETs a Prometheus API path and decodes its data field.
func (s *e2eStack) api(ctx context.Context, path string, data any) error {
	code, body, err := e2eGet(ctx, s.prometheus+path)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("GET %s: %d: %w", path, code, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("GET %s: %d: %s", path, code, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

func e2eGet(ctx context.Context, u string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, b, nil
}
