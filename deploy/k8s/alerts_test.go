package k8s

import (
	"flag"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite alerts/prometheusrule.yaml from alerts/rules.yaml")

const (
	rulesFile          = "alerts/rules.yaml"
	ruleTestsFile      = "alerts/tests.yaml"
	prometheusRuleFile = "alerts/prometheusrule.yaml"
	runbooksFile       = "../../docs/runbooks.md"
)

// ruleGroups is a Prometheus rules file, decoded strictly.
type ruleGroups struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// prometheusRule is the Prometheus Operator's PrometheusRule, decoded
// strictly.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ruleGroups `json:"spec"`
}

// ruleTests is the part of a promtool test file the checks below read.
type ruleTests struct {
	RuleFiles          []string `json:"rule_files"`
	EvaluationInterval string   `json:"evaluation_interval"`
	Tests              []struct {
		Name        string `json:"name"`
		Interval    string `json:"interval"`
		InputSeries []struct {
			Series string `json:"series"`
			Values string `json:"values"`
		} `json:"input_series"`
		AlertRuleTest []struct {
			EvalTime  string `json:"eval_time"`
			Alertname string `json:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `json:"exp_labels"`
				ExpAnnotations map[string]string `json:"exp_annotations"`
			} `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// externalMetrics are the series the rules read from other exporters, with
// their labels: kube-state-metrics (a dead pod cannot report itself) and
// the kubelet's volume statistics. The NATS servers' series
// (prometheus-nats-exporter, the NATS pods' sidecar) are in
// natsexporter_test.go.
var externalMetrics = map[string][]string{
	"kube_statefulset_replicas":                 {"statefulset"},
	"kube_statefulset_status_replicas_ready":    {"statefulset"},
	"kube_deployment_status_replicas_available": {"deployment"},
	"kubelet_volume_stats_used_bytes":           {"persistentvolumeclaim"},
	"kubelet_volume_stats_capacity_bytes":       {"persistentvolumeclaim"},
}

func loadRules(t *testing.T) ruleGroups {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rg ruleGroups
	if err := yaml.UnmarshalStrict(data, &rg); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return rg
}

func alerts(rg ruleGroups) []rule {
	var out []rule
	for _, g := range rg.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// TestAlertRules: every alert has a severity, a summary, a description and
// a runbook link to its own section of docs/runbooks.md, and its expression
// names only metrics the services export (or the listed external ones) and
// labels they carry.
func TestAlertRules(t *testing.T) {
	rg := loadRules(t)
	runbooks, err := os.ReadFile(runbooksFile)
	if err != nil {
		t.Fatal(err)
	}
	var sections []string
	for _, m := range regexp.MustCompile(`(?m)^## (\S+)$`).FindAllStringSubmatch(string(runbooks), -1) {
		sections = append(sections, m[1])
	}
	series, histograms := knownMetrics()
	labels := slices.Clone(knownLabels)
	labels = append(labels, "shard")
	for m, ls := range externalMetrics {
		series[m] = m
		labels = append(labels, ls...)
	}
	for m := range jszMetrics {
		series[m] = m
	}
	labels = append(labels, jszConsumerLabels...)
	seen := map[string]bool{}
	for _, r := range alerts(rg) {
		if r.Alert == "" || !strings.HasPrefix(r.Alert, "Reprise") {
			t.Errorf("rule %q: want an alerting rule named Reprise...", r.Alert)
			continue
		}
		if seen[r.Alert] {
			t.Errorf("alert %s defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: summary or description missing", r.Alert)
		}
		wantURL := "https://github.com/reprise/reprise/blob/main/docs/runbooks.md#" + strings.ToLower(r.Alert)
		if r.Annotations["runbook_url"] != wantURL {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], wantURL)
		}
		if !slices.Contains(sections, r.Alert) {
			t.Errorf("%s: docs/runbooks.md has no section \"## %s\"", r.Alert, r.Alert)
		}
		refs, err := lexPromQL(r.Expr)
		if err != nil {
			t.Errorf("%s: %v", r.Alert, err)
			continue
		}
		if len(refs.metrics) == 0 {
			t.Errorf("%s names no metric", r.Alert)
		}
		for _, m := range refs.metrics {
			if _, ok := series[m]; !ok {
				t.Errorf("%s: metric %s is neither exported by the services (metrics.Names) nor a listed external metric", r.Alert, m)
			}
		}
		for _, l := range refs.labels {
			if !slices.Contains(labels, l) {
				t.Errorf("%s: label %q is not a label of the metrics it reads", r.Alert, l)
			}
		}
		if slices.Contains(refs.functions, "histogram_quantile") {
			for _, m := range refs.metrics {
				if !strings.HasSuffix(m, "_bucket") || !histograms[series[m]] {
					t.Errorf("%s: histogram_quantile over %s", r.Alert, m)
				}
			}
		}
	}
	for _, s := range sections {
		if !seen[s] {
			t.Errorf("docs/runbooks.md has a section for %s, which is no alert", s)
		}
	}
	// The README's Kubernetes section lists every alert with its runbook.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for a := range seen {
		if !strings.Contains(string(readme), "[`"+a+"`](docs/runbooks.md#"+strings.ToLower(a)+")") {
			t.Errorf("README.md does not list %s with a link to its runbook", a)
		}
	}
}

// TestAlertRuleTests: tests.yaml (run by promtool in make test) has, for
// every alert, an evaluation where it fires on the synthetic failure of
// namespace "bad" and input series of a healthy namespace "ok" on which it
// must stay silent (exp_alerts is the exact set promtool expects).
func TestAlertRuleTests(t *testing.T) {
	data, err := os.ReadFile(ruleTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rt ruleTests
	if err := yaml.UnmarshalStrict(data, &rt); err != nil {
		t.Fatalf("%s: %v", ruleTestsFile, err)
	}
	if !slices.Equal(rt.RuleFiles, []string{"rules.yaml"}) {
		t.Errorf("rule_files %v, want [rules.yaml]", rt.RuleFiles)
	}
	fires, healthy := map[string]bool{}, map[string]bool{}
	for _, tc := range rt.Tests {
		ok := false
		for _, s := range tc.InputSeries {
			ok = ok || strings.Contains(s.Series, `namespace="ok"`)
		}
		for _, at := range tc.AlertRuleTest {
			for _, a := range at.ExpAlerts {
				if a.ExpLabels["namespace"] == "ok" {
					t.Errorf("%s: expects %s to fire on the healthy namespace", tc.Name, at.Alertname)
				}
				if a.ExpLabels["namespace"] == "bad" {
					fires[at.Alertname] = true
					healthy[at.Alertname] = healthy[at.Alertname] || ok
				}
			}
		}
	}
	for _, r := range alerts(loadRules(t)) {
		if !fires[r.Alert] {
			t.Errorf("no promtool test where %s fires", r.Alert)
		}
		if !healthy[r.Alert] {
			t.Errorf("no promtool test where %s stays silent on healthy series", r.Alert)
		}
	}
}

// TestPrometheusRule: the PrometheusRule the kustomization applies carries
// exactly the groups of rules.yaml, with the label kube-prometheus-stack
// selects rules on.
func TestPrometheusRule(t *testing.T) {
	rg := loadRules(t)
	data, err := os.ReadFile(prometheusRuleFile)
	if err != nil {
		t.Fatal(err)
	}
	obj, gvk, err := decodeDocument(data)
	if err != nil {
		t.Fatalf("%s: %v", prometheusRuleFile, err)
	}
	pr, ok := obj.(*prometheusRule)
	if !ok {
		t.Fatalf("%s is a %s, not a PrometheusRule", prometheusRuleFile, gvk)
	}
	if *update {
		pr.Spec = rg
		out, err := yaml.Marshal(pr)
		if err != nil {
			t.Fatal(err)
		}
		header := data[:strings.Index(string(data), "apiVersion:")]
		if err := os.WriteFile(prometheusRuleFile, append(header, out...), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !reflect.DeepEqual(pr.Spec, rg) {
		t.Errorf("%s differs from %s: regenerate it with go test ./deploy/k8s -run TestPrometheusRule -update", prometheusRuleFile, rulesFile)
	}
	if pr.Labels["release"] == "" {
		t.Errorf("%s has no release label (kube-prometheus-stack's default rule selector)", prometheusRuleFile)
	}
	m := loadManifests(t)
	if !slices.Contains(m.kust.Resources, prometheusRuleFile) {
		t.Errorf("kustomization.yaml does not apply %s", prometheusRuleFile)
	}
}
