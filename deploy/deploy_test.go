// Package deploy holds what runs affinityd (Docker, compose, Kubernetes, systemd) and
// what watches it (Prometheus rules with their unit tests, Grafana dashboards, an
// Alertmanager example). This test checks those files against real tools and against
// the metrics the daemon really exports:
//
//   - promtool check rules and promtool test rules on the rule files and their tests;
//   - every dashboard query parses as PromQL (as a recording rule in a generated file);
//   - every metric name used by rules and dashboards is exported by the daemon, and
//     every recording rule they use is defined;
//   - every alert is unit-tested and carries for:, severity, summary and description;
//   - amtool check-config and the occupancy route of the Alertmanager example.
//
// promtool and amtool come from Debian's prometheus and prometheus-alertmanager
// packages: scripts/install-test-tools.sh installs them when they are missing.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/affinityd/affinityd/affinity"
	"github.com/affinityd/affinityd/config"
	"github.com/affinityd/affinityd/server"
)

var (
	ruleFiles = []string{
		"prometheus/rules/affinityd-recording.yml",
		"prometheus/rules/affinityd-alerts.yml",
	}
	ruleTestGlob       = "prometheus/tests/*.yml"
	dashboardFiles     = []string{"grafana/dashboards/affinityd-overview.json", "grafana/dashboards/affinityd-topic.json"}
	alertmanagerConfig = "alertmanager/alertmanager.yml"
	installScript      = "scripts/install-test-tools.sh"
)

// ---------------------------------------------------------------- tools

var (
	installOnce   sync.Once
	installOutput []byte
	installErr    error
)

// tool returns the path of promtool or amtool, running the install script once when
// either is missing. It never skips: a missing tool fails the test with instructions.
func tool(t *testing.T, name string) string {
	t.Helper()
	installOnce.Do(func() {
		if onPath("promtool") && onPath("amtool") {
			return
		}
		cmd := exec.Command("sh", installScript)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		installOutput, installErr = cmd.CombinedOutput()
	})
	if installErr != nil {
		hint := ""
		if os.Geteuid() != 0 {
			hint = "\nnot running as root: run `sudo sh deploy/" + installScript + "` (or install promtool and amtool on PATH) and test again"
		}
		t.Fatalf("%s is missing and %s failed: %v\n%s%s", name, installScript, installErr, installOutput, hint)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not on PATH even after %s:\n%s", name, installScript, installOutput)
	}
	return path
}

func onPath(name string) bool { _, err := exec.LookPath(name); return err == nil }

// run runs a tool and fails the test with its output when it exits non-zero.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ---------------------------------------------------------------- rules

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) (recording, alerting []rule) {
	t.Helper()
	for _, f := range ruleFiles {
		var rf ruleFile
		readYAML(t, f, &rf)
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recording = append(recording, r)
				} else {
					alerting = append(alerting, r)
				}
			}
		}
	}
	if len(recording) == 0 || len(alerting) == 0 {
		t.Fatalf("rule files hold %d recording and %d alerting rules; want both", len(recording), len(alerting))
	}
	return recording, alerting
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	out := run(t, ".", "promtool", append([]string{"check", "rules"}, ruleFiles...)...)
	if strings.Count(out, "SUCCESS") != len(ruleFiles) {
		t.Fatalf("promtool check rules did not report success for every file:\n%s", out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	files, err := filepath.Glob(ruleTestGlob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule unit tests match %s (%v)", ruleTestGlob, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			run(t, ".", "promtool", "test", "rules", f)
		})
	}
}

// ruleTests is the part of a promtool unit-test file this test reads.
type ruleTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromqlExprTest []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// Every alert must have a unit test in which it fires (and in which the other series
// of that test, built not to fire it, stay silent), and one instant where it does not.
func TestEveryAlertIsUnitTested(t *testing.T) {
	_, alerts := loadRules(t)
	files, _ := filepath.Glob(ruleTestGlob)
	fires, silent := map[string]int{}, map[string]int{}
	for _, f := range files {
		var rt ruleTests
		readYAML(t, f, &rt)
		for _, tc := range rt.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname]++
				} else {
					silent[a.Alertname]++
				}
			}
		}
	}
	for _, a := range alerts {
		if fires[a.Alert] == 0 {
			t.Errorf("alert %s: no unit test expects it to fire", a.Alert)
		}
		if silent[a.Alert] == 0 {
			t.Errorf("alert %s: no unit test expects it to stay silent (e.g. before for: or below a threshold)", a.Alert)
		}
	}
}

func TestAlertsAreComplete(t *testing.T) {
	_, alerts := loadRules(t)
	severities := map[string]bool{"critical": true, "warning": true, "info": true}
	for _, a := range alerts {
		t.Run(a.Alert, func(t *testing.T) {
			if !strings.HasPrefix(a.Alert, "Affinity") {
				t.Errorf("name %q: want the prefix Affinity", a.Alert)
			}
			if a.For == "" {
				t.Error("no for: duration")
			}
			if !severities[a.Labels["severity"]] {
				t.Errorf("severity label %q: want one of critical, warning, info", a.Labels["severity"])
			}
			for _, k := range []string{"summary", "description"} {
				if !strings.Contains(a.Annotations[k], "$labels.") {
					t.Errorf("annotation %s does not name the affected series with $labels: %q", k, a.Annotations[k])
				}
			}
		})
	}
}

var recordName = regexp.MustCompile(`^[a-z_]+:[a-z_]+:[a-z0-9_]+$`)

// Recording rules follow level:metric:operations, and each one is used by an alert,
// a dashboard or a unit test.
func TestRecordingRulesAreNamedAndUsed(t *testing.T) {
	recording, alerts := loadRules(t)
	var users strings.Builder
	for _, a := range alerts {
		users.WriteString(a.Expr + "\n")
	}
	for _, r := range recording {
		users.WriteString(r.Expr + "\n")
	}
	for _, q := range dashboardQueries(t) {
		users.WriteString(q.expr + "\n")
	}
	files, _ := filepath.Glob(ruleTestGlob)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		users.Write(b)
	}
	for _, r := range recording {
		if !recordName.MatchString(r.Record) {
			t.Errorf("recording rule %q: want level:metric:operations", r.Record)
		}
		if !strings.Contains(users.String(), r.Record) {
			t.Errorf("recording rule %q is used by no alert, dashboard or unit test", r.Record)
		}
	}
}

// ---------------------------------------------------------------- dashboards

type query struct {
	where string // dashboard, panel and ref, for messages
	expr  string
	// labelValues marks a template variable's label_values(selector, label): expr is
	// then the selector.
	labelValues bool
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
}

type dashboardJSON struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T, path string) dashboardJSON {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboardJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(.+)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// dashboardQueries returns every PromQL expression of both dashboards: the panels'
// targets and the template variables' label_values selectors.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	var qs []query
	for _, f := range dashboardFiles {
		d := loadDashboard(t, f)
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				walk(p.Panels)
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("%s: panel %d %q target %s has no expr", name, p.ID, p.Title, tg.RefID)
						continue
					}
					qs = append(qs, query{where: fmt.Sprintf("%s panel %d %q ref %s", name, p.ID, p.Title, tg.RefID), expr: tg.Expr})
				}
			}
		}
		walk(d.Panels)
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			var q string
			if err := json.Unmarshal(v.Query, &q); err != nil {
				var obj struct {
					Query string `json:"query"`
				}
				if err := json.Unmarshal(v.Query, &obj); err != nil {
					t.Fatalf("%s: variable %s: query is neither a string nor {query}: %s", name, v.Name, v.Query)
				}
				q = obj.Query
			}
			m := labelValuesRE.FindStringSubmatch(q)
			if m == nil {
				t.Errorf("%s: variable %s: query %q is not label_values(selector, label)", name, v.Name, q)
				continue
			}
			qs = append(qs, query{where: fmt.Sprintf("%s variable %s", name, v.Name), expr: m[1], labelValues: true})
		}
	}
	if len(qs) == 0 {
		t.Fatal("no dashboard queries found")
	}
	return qs
}

// grafanaIntervals replaces Grafana's interval variables, which only Grafana
// expands, by durations so the rest can be parsed as PromQL. Other $variables sit in
// label matchers' strings, where they are valid as they stand.
var grafanaIntervals = strings.NewReplacer(
	"$__rate_interval", "5m", "${__rate_interval}", "5m",
	"$__interval", "1m", "${__interval}", "1m",
	"$__range", "1d", "${__range}", "1d",
)

func TestDashboardsAreProvisionable(t *testing.T) {
	for _, f := range dashboardFiles {
		d := loadDashboard(t, f)
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid and title are required", f)
		}
		if d.SchemaVersion < 36 {
			t.Errorf("%s: schemaVersion %d, want a current one (~39)", f, d.SchemaVersion)
		}
		hasDS := false
		for _, v := range d.Templating.List {
			hasDS = hasDS || (v.Name == "datasource" && v.Type == "datasource")
		}
		if !hasDS {
			t.Errorf("%s: no datasource template variable", f)
		}
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				walk(p.Panels)
				if p.Type != "row" && (p.Datasource == nil || p.Datasource.UID != "${datasource}") {
					t.Errorf("%s: panel %d %q does not use the ${datasource} variable", f, p.ID, p.Title)
				}
			}
		}
		walk(d.Panels)
	}
	topic := loadDashboard(t, "grafana/dashboards/affinityd-topic.json")
	found := false
	for _, v := range topic.Templating.List {
		found = found || v.Name == "topic"
	}
	if !found {
		t.Error("affinityd-topic: no topic template variable")
	}
}

// Every dashboard query parses as PromQL: each becomes a recording rule in a
// generated file that promtool check rules must accept.
func TestDashboardQueriesParse(t *testing.T) {
	qs := dashboardQueries(t)
	type genRule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []genRule
	index := map[string]string{}
	for i, q := range qs {
		name := fmt.Sprintf("dashboard_query_%d", i)
		index[name] = q.where
		rules = append(rules, genRule{Record: name, Expr: grafanaIntervals.Replace(q.expr)})
	}
	doc := map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool(t, "promtool"), "check", "rules", path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := string(out)
		names := make([]string, 0, len(index))
		for k := range index {
			names = append(names, k)
		}
		sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) }) // _12 before _1
		for _, k := range names {
			msg = strings.ReplaceAll(msg, `"`+k+`"`, `"`+k+`" (`+index[k]+`)`)
		}
		t.Fatalf("a dashboard query is not valid PromQL: %v\n%s", err, msg)
	}
	if !strings.Contains(string(out), fmt.Sprintf("SUCCESS: %d rules found", len(rules))) {
		t.Fatalf("promtool did not check all %d dashboard queries:\n%s", len(rules), out)
	}
}

// ---------------------------------------------------------------- metric names

// exportedMetrics returns the names of every series family the daemon exports, with
// the _bucket, _sum and _count series of histograms and summaries.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m := server.NewMetrics(reg)
	m.SetSources([]server.SourceInfo{{Name: "s", Kind: "feed", Format: "audience"}})
	snap := &affinity.Snapshot{
		Topics: []affinity.TopicScore{{
			Topic: "t", Relationship: "r", RelationshipType: "self-service", Priority: "high",
			Segments: []string{"retail"}, QueryHash: "h",
			FormatMentions: map[affinity.Format]int64{affinity.FormatAudience: 1},
			ShareOfVoice:   map[string]float64{"Acme": 0.5, "Globex": 0.5},
		}},
		Brands:        []affinity.Brand{{Name: "Acme", Kind: affinity.BrandOwn}, {Name: "Globex", Kind: affinity.BrandDirect}},
		MentionTotals: map[string]map[affinity.Format]int64{"t": {affinity.FormatAudience: 1}},
	}
	reg.MustRegister(
		server.NewSnapshotCollector(func() *affinity.Snapshot { return snap }, "7d", "1m"),
		versioncollector.NewCollector("affinity"),
	)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering the daemon's metrics: %v", err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	// A guard against an empty or renamed registry making every check pass.
	for _, want := range []string{"affinity_topic_info", "affinity_topic_share_of_voice_ratio", "affinity_source_up", "affinity_build_info"} {
		if !names[want] {
			t.Fatalf("the daemon's registry lacks %s; got %v", want, names)
		}
	}
	return names
}

var (
	stringLit  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	rangeSel   = regexp.MustCompile(`\[[^\]]*\]`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// names returns the identifiers of a PromQL expression outside strings and ranges:
// metric names, recording rule names (with colons), functions, keywords and labels.
func names(expr string) []string {
	expr = stringLit.ReplaceAllString(expr, `""`)
	expr = rangeSel.ReplaceAllString(expr, "[]")
	return identifier.FindAllString(expr, -1)
}

func TestMetricNamesAreExported(t *testing.T) {
	exported := exportedMetrics(t)
	recording, alerts := loadRules(t)
	recorded := map[string]bool{}
	for _, r := range recording {
		recorded[r.Record] = true
	}
	var qs []query
	for _, r := range recording {
		qs = append(qs, query{where: "recording rule " + r.Record, expr: r.Expr})
	}
	for _, a := range alerts {
		qs = append(qs, query{where: "alert " + a.Alert, expr: a.Expr})
	}
	qs = append(qs, dashboardQueries(t)...)

	used := 0
	for _, q := range qs {
		ids := names(q.expr)
		if q.labelValues && (len(ids) == 0 || !strings.HasPrefix(ids[0], "affinity_")) {
			t.Errorf("%s: label_values(%s, …) must name one of the daemon's metrics", q.where, q.expr)
		}
		for _, id := range ids {
			switch {
			case strings.Contains(id, ":"):
				if !recorded[id] {
					t.Errorf("%s: %s is no recording rule of %v", q.where, id, ruleFiles)
				}
			case strings.HasPrefix(id, "affinity_"):
				used++
				if !exported[id] {
					t.Errorf("%s: the daemon does not export %s", q.where, id)
				}
			}
		}
	}
	if used == 0 {
		t.Fatal("found no affinity_ metric names in rules and dashboards: the scan is broken")
	}
}

// The scanner itself, on the cases that matter.
func TestNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`rate(affinity_topic_mentions_total{format="affinity_x"}[7d:1h])`, []string{"rate", "affinity_topic_mentions_total", "format"}},
		{`topic:affinity_topic_mentions:rate1h - avg_over_time(x[5m])`, []string{"topic:affinity_topic_mentions:rate1h", "avg_over_time", "x"}},
		{`a * on (job) group_left (priority) affinity_topic_info{priority='high'}`, []string{"a", "on", "job", "group_left", "priority", "affinity_topic_info", "priority"}},
	} {
		if got := names(tc.expr); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("names(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// ---------------------------------------------------------------- alertmanager

func TestAlertmanagerConfig(t *testing.T) {
	out := run(t, ".", "amtool", "check-config", alertmanagerConfig)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("amtool check-config:\n%s", out)
	}
	for _, tc := range []struct {
		receiver string
		labels   []string
	}{
		{"topic-occupied-webhook", []string{"alertname=AffinityTopicOccupied", "topic=customer-service", "brand=Globex", "severity=warning"}},
		{"default", []string{"alertname=AffinityBrandLostTopic", "topic=customer-service", "brand=Globex"}},
		{"default", []string{"alertname=AffinitySourceDown", "source=bank-news", "severity=warning"}},
	} {
		t.Run(tc.labels[0], func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=" + alertmanagerConfig,
				"--verify.receivers=" + tc.receiver}, tc.labels...)
			run(t, ".", "amtool", args...)
		})
	}
}

// ---------------------------------------------------------------- the rest of deploy/

// Files the compose stack and the kustomization mount or list must exist.
func TestReferencedFilesExist(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Build struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	readYAML(t, "compose.yaml", &compose)
	for _, want := range []string{"affinityd", "prometheus", "alertmanager", "grafana"} {
		if _, ok := compose.Services[want]; !ok {
			t.Errorf("compose.yaml: no service %s", want)
		}
	}
	for name, s := range compose.Services {
		if s.Build.Dockerfile != "" {
			if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("compose.yaml: service %s: %v", name, err)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("compose.yaml: service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}
	var kust struct {
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
	}
	readYAML(t, "kubernetes/kustomization.yaml", &kust)
	files := kust.Resources
	for _, g := range kust.ConfigMapGenerator {
		for _, f := range g.Files {
			_, f, _ = strings.Cut(f, "=")
			files = append(files, f)
		}
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join("kubernetes", f)); err != nil {
			t.Errorf("kubernetes/kustomization.yaml: %v", err)
		}
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-X github.com/prometheus/common/version.Version=",
		"-X github.com/prometheus/common/version.Revision=",
		"-X github.com/prometheus/common/version.Branch=",
		"-X github.com/prometheus/common/version.BuildUser=",
		"-X github.com/prometheus/common/version.BuildDate=",
		"USER 65532",
		"VOLUME /data",
		"--storage.path=/data/affinityd.db",
		"EXPOSE 9812",
		"http://127.0.0.1:9812/-/healthy",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if _, err := os.Stat("../cmd/affinityd"); err != nil {
		t.Errorf("the Dockerfile builds ./cmd/affinityd: %v", err)
	}
}

// The example configuration the Kubernetes base ships must load as the daemon loads it.
func TestExampleConfigLoads(t *testing.T) {
	if _, err := config.Load("kubernetes/affinityd.yml"); err != nil {
		t.Fatalf("kubernetes/affinityd.yml: %v", err)
	}
}

// ---------------------------------------------------------------- kubernetes

var update = flag.Bool("update", false, "regenerate kubernetes/prometheusrule.yaml from the rule files")

const prometheusRuleFile = "kubernetes/prometheusrule.yaml"

// prometheusRuleText renders the PrometheusRule that carries every group of
// ruleFiles: each file's text below its top-level groups: line, indented under
// spec.groups, so the rules' comments travel with them.
func prometheusRuleText(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`# Generated from deploy/prometheus/rules/*.yml by
#   go test ./deploy/ -run TestPrometheusRuleMatchesRuleFiles -update
# Edit the rule files, not this file: that test fails when they differ.
# The Operator's Prometheus loads it when its ruleSelector matches; overlays add the
# label it selects on (often release: <your Prometheus release>).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: affinityd
spec:
  groups:
`)
	for _, f := range ruleFiles {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, body, ok := strings.Cut(string(src), "\ngroups:\n")
		if !ok {
			t.Fatalf("%s: no top-level groups: line", f)
		}
		fmt.Fprintf(&b, "    # ---- %s\n", f)
		for line := range strings.Lines(body) {
			if strings.TrimSpace(line) == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("  " + line)
		}
	}
	return b.String()
}

// ruleGroups returns the groups of every rule file in order, decoded without a
// schema so that any field (interval, limit, labels, …) takes part in comparisons.
func ruleGroups(t *testing.T) []any {
	t.Helper()
	var all []any
	for _, f := range ruleFiles {
		var rf struct {
			Groups []any `yaml:"groups"`
		}
		readYAML(t, f, &rf)
		all = append(all, rf.Groups...)
	}
	return all
}

type prometheusRule struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Groups []any `yaml:"groups"`
	} `yaml:"spec"`
}

// compareGroups reports, group by group, where a PrometheusRule's groups differ
// from the rule files'.
func compareGroups(t *testing.T, where string, got []any) {
	t.Helper()
	want := ruleGroups(t)
	name := func(g any) any {
		if m, ok := g.(map[string]any); ok {
			return m["name"]
		}
		return g
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("%s: group %v of the rule files is missing", where, name(want[i]))
		case i >= len(want):
			t.Errorf("%s: group %v is in no rule file", where, name(got[i]))
		case !reflect.DeepEqual(got[i], want[i]):
			g, w := got[i], want[i]
			// Point at the first rule that differs rather than at the whole group.
			gm, ok1 := g.(map[string]any)
			wm, ok2 := w.(map[string]any)
			if gr, ok3 := gm["rules"].([]any); ok1 && ok2 && ok3 {
				if wr, ok4 := wm["rules"].([]any); ok4 && len(gr) == len(wr) {
					for j := range gr {
						if !reflect.DeepEqual(gr[j], wr[j]) {
							g, w = gr[j], wr[j]
							break
						}
					}
				}
			}
			t.Errorf("%s: group %d (%v) differs from the rule files':\n got %v\nwant %v", where, i, name(got[i]), g, w)
		}
	}
	if t.Failed() {
		t.Log("regenerate it with: go test ./deploy/ -run TestPrometheusRuleMatchesRuleFiles -update")
	}
}

// The PrometheusRule of the kustomize base must carry exactly the groups of the
// rule files, so a Prometheus Operator user gets the rules the unit tests prove.
func TestPrometheusRuleMatchesRuleFiles(t *testing.T) {
	if *update {
		if err := os.WriteFile(prometheusRuleFile, []byte(prometheusRuleText(t)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var pr prometheusRule
	readYAML(t, prometheusRuleFile, &pr)
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Metadata.Name == "" {
		t.Errorf("%s: %s %s %q, want a named monitoring.coreos.com/v1 PrometheusRule", prometheusRuleFile, pr.APIVersion, pr.Kind, pr.Metadata.Name)
	}
	compareGroups(t, prometheusRuleFile, pr.Spec.Groups)
}

// kustomizeResources returns the resources kustomization.yaml lists.
func kustomizeResources(t *testing.T) []string {
	t.Helper()
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	readYAML(t, "kubernetes/kustomization.yaml", &kust)
	return kust.Resources
}

// Every resource of the base parses as Kubernetes objects, and the base holds
// what the issue asks of it, the Prometheus Operator's two kinds included.
func TestKubernetesResources(t *testing.T) {
	kinds := map[string]bool{}
	for _, f := range kustomizeResources(t) {
		b, err := os.ReadFile(filepath.Join("kubernetes", f))
		if err != nil {
			t.Errorf("kubernetes/kustomization.yaml lists %s: %v", f, err)
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for n := 0; ; n++ {
			var obj struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			}
			if err := dec.Decode(&obj); err != nil {
				if errors.Is(err, io.EOF) && n > 0 {
					break
				}
				t.Errorf("kubernetes/%s: document %d: %v", f, n, err)
				break
			}
			if obj.APIVersion == "" || obj.Kind == "" || obj.Metadata.Name == "" {
				t.Errorf("kubernetes/%s: document %d lacks apiVersion, kind or metadata.name", f, n)
			}
			kinds[obj.APIVersion+" "+obj.Kind] = true
		}
	}
	for _, want := range []string{"apps/v1 Deployment", "v1 Service", "v1 PersistentVolumeClaim",
		"monitoring.coreos.com/v1 ServiceMonitor", "monitoring.coreos.com/v1 PrometheusRule"} {
		if !kinds[want] {
			t.Errorf("the kustomize base has no %s (resources: %v)", want, kustomizeResources(t))
		}
	}
}

// builtObject is one object of a kustomize build.
type builtObject struct {
	kind string
	node yaml.Node
}

// decode decodes the object into v, the shape a test needs of its kind.
func (o builtObject) decode(t *testing.T, v any) {
	t.Helper()
	if err := o.node.Decode(v); err != nil {
		t.Fatalf("kubectl kustomize %s: %v", o.kind, err)
	}
}

// kustomizeBuild runs `kubectl kustomize dir` and returns the objects it builds.
func kustomizeBuild(t *testing.T, kubectl, dir string) []builtObject {
	t.Helper()
	cmd := exec.Command(kubectl, "kustomize", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	var objs []builtObject
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var obj builtObject
		if err := dec.Decode(&obj.node); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("kubectl kustomize %s output: %v", dir, err)
			}
			return objs
		}
		var head struct {
			Kind string `yaml:"kind"`
		}
		obj.decode(t, &head)
		obj.kind = head.Kind
		objs = append(objs, obj)
	}
}

// With kubectl on PATH, the base must build, its ServiceMonitor must select the
// Service it ships, and the built PrometheusRule must still carry the rule files'
// groups. (Without kubectl, TestKubernetesResources checks the files alone.)
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on PATH; TestKubernetesResources checked the files")
	}
	var svcLabels, smSelector map[string]string
	var svcPort string
	var smPorts []string
	found := map[string]bool{}
	for _, obj := range kustomizeBuild(t, kubectl, "kubernetes") {
		found[obj.kind] = true
		switch obj.kind {
		case "Service":
			var s struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					Ports []struct {
						Name string `yaml:"name"`
					} `yaml:"ports"`
				} `yaml:"spec"`
			}
			obj.decode(t, &s)
			svcLabels = s.Metadata.Labels
			if len(s.Spec.Ports) > 0 {
				svcPort = s.Spec.Ports[0].Name
			}
		case "ServiceMonitor":
			var sm struct {
				Spec struct {
					Selector struct {
						MatchLabels map[string]string `yaml:"matchLabels"`
					} `yaml:"selector"`
					Endpoints []struct {
						Port string `yaml:"port"`
					} `yaml:"endpoints"`
				} `yaml:"spec"`
			}
			obj.decode(t, &sm)
			smSelector = sm.Spec.Selector.MatchLabels
			for _, e := range sm.Spec.Endpoints {
				smPorts = append(smPorts, e.Port)
			}
		case "PrometheusRule":
			var pr prometheusRule
			obj.decode(t, &pr)
			compareGroups(t, "built PrometheusRule", pr.Spec.Groups)
		}
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim", "ServiceMonitor", "PrometheusRule"} {
		if !found[k] {
			t.Errorf("kubectl kustomize built no %s", k)
		}
	}
	if len(smSelector) == 0 {
		t.Error("the ServiceMonitor selects no labels")
	}
	for k, v := range smSelector {
		if svcLabels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, the Service is labelled %v", k, v, svcLabels)
		}
	}
	if !slices.Contains(smPorts, svcPort) {
		t.Errorf("the ServiceMonitor scrapes ports %v, the Service's port is %q", smPorts, svcPort)
	}
}

// ---------------------------------------------------------------- replicas

// loadsOnPostgres loads an affinityd configuration as the daemon does and fails
// unless it uses the PostgreSQL store with the DSN from $AFFINITY_STORE_DSN, which
// the compose profile and the Kubernetes overlay set.
func loadsOnPostgres(t *testing.T, where string, text []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "affinityd.yml")
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	if cfg.Store.Driver != "postgres" {
		t.Errorf("%s: store.driver %q, want postgres", where, cfg.Store.Driver)
	}
	if cfg.Store.DSN.File != "" || (cfg.Store.DSN.Env != "" && cfg.Store.DSN.Env != "AFFINITY_STORE_DSN") {
		t.Errorf("%s: store.dsn is %s; the deployments provide $AFFINITY_STORE_DSN", where, cfg.Store.DSN.String())
	}
}

// The replicas overlay builds, runs several replicas without a volume on the
// PostgreSQL store with the DSN from a Secret, and keeps the base's monitoring.
func TestReplicasOverlay(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		// Without kubectl the overlay's own configuration is still checked.
		b, err := os.ReadFile("kubernetes-replicas/affinityd.yml")
		if err != nil {
			t.Fatal(err)
		}
		loadsOnPostgres(t, "kubernetes-replicas/affinityd.yml", b)
		t.Skip("kubectl is not on PATH: the overlay's configuration loads; the build is not checked")
	}
	type container struct {
		Name string   `yaml:"name"`
		Args []string `yaml:"args"`
		Env  []struct {
			Name      string `yaml:"name"`
			ValueFrom struct {
				SecretKeyRef struct {
					Name string `yaml:"name"`
					Key  string `yaml:"key"`
				} `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
	}
	var deployment struct {
		Spec struct {
			Replicas int `yaml:"replicas"`
			Strategy struct {
				Type string `yaml:"type"`
			} `yaml:"strategy"`
			Template struct {
				Spec struct {
					Containers []container      `yaml:"containers"`
					Volumes    []map[string]any `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	var configText string
	found := map[string]int{}
	for _, obj := range kustomizeBuild(t, kubectl, "kubernetes-replicas") {
		found[obj.kind]++
		switch obj.kind {
		case "Deployment":
			obj.decode(t, &deployment)
		case "ConfigMap":
			var cm struct {
				Data map[string]string `yaml:"data"`
			}
			obj.decode(t, &cm)
			configText = cm.Data["affinityd.yml"]
		case "PrometheusRule":
			var pr prometheusRule
			obj.decode(t, &pr)
			compareGroups(t, "the overlay's PrometheusRule", pr.Spec.Groups)
		}
	}
	for _, k := range []string{"Deployment", "ConfigMap", "Service", "ServiceMonitor", "PrometheusRule", "PodDisruptionBudget"} {
		if found[k] != 1 {
			t.Errorf("the overlay built %d %s, want 1", found[k], k)
		}
	}
	if found["PersistentVolumeClaim"] != 0 {
		t.Error("the overlay keeps the SQLite PersistentVolumeClaim")
	}
	spec := deployment.Spec
	if spec.Replicas < 2 {
		t.Errorf("Deployment replicas %d, want several", spec.Replicas)
	}
	if spec.Strategy.Type == "Recreate" {
		t.Error("Deployment strategy Recreate: replicas share no volume, roll them")
	}
	for _, v := range spec.Template.Spec.Volumes {
		if _, ok := v["persistentVolumeClaim"]; ok {
			t.Errorf("the pods mount a PersistentVolumeClaim: %v", v)
		}
	}
	if len(spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment has %d containers, want 1", len(spec.Template.Spec.Containers))
	}
	c := spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--config.file=/etc/affinityd/affinityd.yml") {
		t.Errorf("container args %v do not name the ConfigMap's configuration", c.Args)
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--storage.path") {
			t.Errorf("container args %v: --storage.path is for SQLite, affinityd refuses it with postgres", c.Args)
		}
	}
	dsn := false
	for _, e := range c.Env {
		if e.Name == "AFFINITY_STORE_DSN" {
			ref := e.ValueFrom.SecretKeyRef
			dsn = ref.Name != "" && ref.Key != ""
		}
	}
	if !dsn {
		t.Errorf("no AFFINITY_STORE_DSN from a secretKeyRef in %+v", c.Env)
	}
	if configText == "" {
		t.Fatal("the overlay's ConfigMap has no affinityd.yml")
	}
	loadsOnPostgres(t, "the overlay's ConfigMap affinityd.yml", []byte(configText))
}

// The compose file's postgres profile: a database with a volume and a health
// check, several replicas on it that Prometheus finds, and the SQLite stack unchanged
// without the profile. With docker compose on PATH the file is also checked by it.
func TestComposePostgresProfile(t *testing.T) {
	type service struct {
		Profiles    []string          `yaml:"profiles"`
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Deploy struct {
			Replicas int `yaml:"replicas"`
		} `yaml:"deploy"`
		DependsOn yaml.Node `yaml:"depends_on"`
		Networks  map[string]struct {
			Aliases []string `yaml:"aliases"`
		} `yaml:"networks"`
	}
	var compose struct {
		Services map[string]service `yaml:"services"`
		Volumes  map[string]any     `yaml:"volumes"`
	}
	readYAML(t, "compose.yaml", &compose)

	for _, name := range []string{"affinityd", "prometheus", "alertmanager", "grafana"} {
		if s := compose.Services[name]; len(s.Profiles) != 0 {
			t.Errorf("service %s has profiles %v: the default stack must start without --profile", name, s.Profiles)
		}
	}
	pg, ok := compose.Services["postgres"]
	if !ok {
		t.Fatal("compose.yaml: no service postgres")
	}
	if !slices.Equal(pg.Profiles, []string{"postgres"}) {
		t.Errorf("service postgres: profiles %v, want [postgres]", pg.Profiles)
	}
	if !slices.Contains(pg.Healthcheck.Test, "pg_isready") {
		t.Errorf("service postgres: healthcheck %v, want pg_isready", pg.Healthcheck.Test)
	}
	dataVolume := ""
	for _, v := range pg.Volumes {
		if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/var/lib/postgresql/data") {
			dataVolume = src
		}
	}
	if _, ok := compose.Volumes[dataVolume]; !ok {
		t.Errorf("service postgres: its data directory is on no named volume (volumes %v)", pg.Volumes)
	}

	r, ok := compose.Services["affinityd-replica"]
	if !ok {
		t.Fatal("compose.yaml: no service affinityd-replica")
	}
	if !slices.Equal(r.Profiles, []string{"postgres"}) {
		t.Errorf("service affinityd-replica: profiles %v, want [postgres]", r.Profiles)
	}
	if r.Deploy.Replicas < 2 {
		t.Errorf("service affinityd-replica: deploy.replicas %d, want several", r.Deploy.Replicas)
	}
	var deps map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := r.DependsOn.Decode(&deps); err != nil || deps["postgres"].Condition != "service_healthy" {
		t.Errorf("service affinityd-replica: depends_on must wait for postgres: service_healthy (%v)", err)
	}
	if dsn := r.Environment["AFFINITY_STORE_DSN"]; !strings.HasPrefix(dsn, "postgres://") || !strings.Contains(dsn, "@postgres:5432/") {
		t.Errorf("service affinityd-replica: AFFINITY_STORE_DSN %q does not reach the postgres service", dsn)
	}
	for _, a := range r.Command {
		if strings.HasPrefix(a, "--storage.path") {
			t.Errorf("service affinityd-replica: command %v: --storage.path is for SQLite", r.Command)
		}
	}
	configFile := ""
	for _, v := range r.Volumes {
		src, rest, _ := strings.Cut(v, ":")
		dst, _, _ := strings.Cut(rest, ":")
		if slices.Contains(r.Command, "--config.file="+dst) {
			configFile = src
		}
	}
	if configFile == "" {
		t.Fatalf("service affinityd-replica: no mounted file is its --config.file (command %v, volumes %v)", r.Command, r.Volumes)
	}
	b, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	loadsOnPostgres(t, configFile, b)

	// Prometheus scrapes every replica: it resolves the name affinityd, which the
	// replicas answer to as a network alias.
	var prom struct {
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &prom)
	var names []string
	for _, sc := range prom.ScrapeConfigs {
		if sc.JobName != "affinityd" {
			continue
		}
		for _, d := range sc.DNSSDConfigs {
			if d.Type == "A" && d.Port == 9812 {
				names = append(names, d.Names...)
			}
		}
	}
	if !slices.Contains(names, "affinityd") {
		t.Errorf("prometheus.yml: job affinityd does not discover the name affinityd by DNS (A, port 9812): %v", names)
	}
	if !slices.Contains(r.Networks["default"].Aliases, "affinityd") {
		t.Errorf("service affinityd-replica: no network alias affinityd, so Prometheus does not find it (networks %v)", r.Networks)
	}

	if exec.Command("docker", "compose", "version").Run() != nil {
		t.Log("docker compose is not available: checked the YAML only")
		return
	}
	for _, args := range [][]string{
		{"compose", "-f", "compose.yaml", "config", "--quiet"},
		{"compose", "-f", "compose.yaml", "--profile", "postgres", "config", "--quiet"},
	} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	out, err := exec.Command("docker", "compose", "-f", "compose.yaml", "--profile", "postgres", "config", "--services").Output()
	if err != nil {
		t.Fatalf("docker compose config --services: %v", err)
	}
	for _, want := range []string{"postgres", "affinityd-replica"} {
		if !slices.Contains(strings.Fields(string(out)), want) {
			t.Errorf("docker compose --profile postgres config --services lacks %s:\n%s", want, out)
		}
	}
}
