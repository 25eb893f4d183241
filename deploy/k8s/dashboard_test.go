package k8s

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/reprise/reprise/services/metrics"
)

// dashboardConfigMap is the generated ConfigMap Grafana's sidecar loads.
const dashboardConfigMap = "reprise-grafana-dashboard"

// grafanaDashboard is the part of a Grafana dashboard the tests read.
type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *grafanaDS      `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *grafanaDS     `json:"datasource"`
	Panels     []grafanaPanel `json:"panels"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string     `json:"expr"`
		RefID      string     `json:"refId"`
		Datasource *grafanaDS `json:"datasource"`
	} `json:"targets"`
}

// flatten returns the panels with the panels nested in collapsed rows.
func flatten(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

// knownMetrics is every series name the services export: metrics.Names()
// plus, for the histograms (metrics.Histograms()), their _bucket, _sum and
// _count series.
// Histogram families are returned separately.
func knownMetrics() (series map[string]string, histograms map[string]bool) {
	series, histograms = map[string]string{}, map[string]bool{}
	for _, n := range metrics.Names() {
		series[n] = n
		if slices.Contains(metrics.Histograms(), n) {
			histograms[n] = true
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				series[n+s] = n
			}
		}
	}
	return series, histograms
}

// knownLabels are the labels the services put on their metrics plus those
// Prometheus adds when scraping (job, instance, and the Kubernetes target
// labels of a PodMonitor).
var knownLabels = []string{
	"name", "status", "outcome", "queue", "operation", "result", "verb", "code", "reason", "level", "le", "shard",
	"job", "instance", "namespace", "pod", "container", "endpoint",
}

// promFunctions are the PromQL functions and aggregations the dashboard
// may use (and label_values, Grafana's templating function).
var promFunctions = []string{
	"sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile",
	"rate", "irate", "increase", "delta", "deriv", "histogram_quantile", "histogram_fraction",
	"histogram_count", "histogram_sum", "clamp_min", "clamp_max", "abs", "sort_desc", "vector",
	"avg_over_time", "max_over_time", "min_over_time", "label_values",
}

// promAggregations may take their grouping clause before the parenthesis:
// sum by (name) (...).
var promAggregations = []string{"sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile", "group", "stddev", "stdvar", "count_values"}

// groupingFollows reports whether s starts (after spaces) with by or without.
func groupingFollows(s string) bool {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	for _, kw := range []string{"by", "without"} {
		if rest, ok := strings.CutPrefix(s, kw); ok && (rest == "" || rest[0] == '(' || unicode.IsSpace(rune(rest[0]))) {
			return true
		}
	}
	return false
}

var promKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}

// promRefs is what a PromQL expression names.
type promRefs struct {
	metrics   []string // metric names, in order of appearance
	labels    []string // label names in matchers and grouping clauses
	functions []string
	matchers  []string // label matchers as written, e.g. status="Failed"
}

// lexPromQL extracts the metric names, labels and functions a PromQL
// expression names. It is a lexer, not a parser: it knows enough of the
// syntax (strings, selectors {...}, ranges [...], grouping clauses
// by/without/on/ignoring (...), function calls) to tell metric names from
// everything else, and rejects what it does not know.
func lexPromQL(expr string) (promRefs, error) {
	var r promRefs
	s := expr
	i := 0
	peekNonSpace := func(j int) byte {
		for j < len(s) && unicode.IsSpace(rune(s[j])) {
			j++
		}
		if j < len(s) {
			return s[j]
		}
		return 0
	}
	skipString := func(j int) (int, error) {
		q := s[j]
		for k := j + 1; k < len(s); k++ {
			if s[k] == '\\' && q != '`' {
				k++
				continue
			}
			if s[k] == q {
				return k + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string at %d", j)
	}
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || unicode.IsLetter(rune(c)) }
	isIdent := func(c byte) bool { return isIdentStart(c) || unicode.IsDigit(rune(c)) }
	ident := func(j int) (string, int) {
		k := j
		for k < len(s) && isIdent(s[k]) {
			k++
		}
		return s[j:k], k
	}
	// matchers parses {label op "value", ...} starting at s[j] == '{'.
	matchers := func(j int) (int, error) {
		j++
		for {
			for j < len(s) && (unicode.IsSpace(rune(s[j])) || s[j] == ',') {
				j++
			}
			if j >= len(s) {
				return 0, fmt.Errorf("unterminated selector")
			}
			if s[j] == '}' {
				return j + 1, nil
			}
			start := j
			name, k := ident(j)
			if name == "" {
				return 0, fmt.Errorf("bad label matcher at %d", j)
			}
			r.labels = append(r.labels, name)
			for k < len(s) && unicode.IsSpace(rune(s[k])) {
				k++
			}
			op := ""
			for _, o := range []string{"=~", "!~", "!=", "="} {
				if strings.HasPrefix(s[k:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return 0, fmt.Errorf("bad matcher operator after %q", name)
			}
			k += len(op)
			for k < len(s) && unicode.IsSpace(rune(s[k])) {
				k++
			}
			if k >= len(s) || (s[k] != '"' && s[k] != '\'' && s[k] != '`') {
				return 0, fmt.Errorf("matcher %q needs a string value", name)
			}
			end, err := skipString(k)
			if err != nil {
				return 0, err
			}
			r.matchers = append(r.matchers, strings.ReplaceAll(s[start:end], " ", ""))
			j = end
		}
	}
	for i < len(s) {
		c := s[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(i)
			if err != nil {
				return r, err
			}
			i = end
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return r, fmt.Errorf("unterminated range at %d", i)
			}
			i += end + 1
		case c == '{':
			return r, fmt.Errorf("selector without a metric name at %d", i)
		case unicode.IsDigit(rune(c)) || (c == '.' && i+1 < len(s) && unicode.IsDigit(rune(s[i+1]))):
			for i < len(s) && (unicode.IsDigit(rune(s[i])) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
				((s[i] == '-' || s[i] == '+') && (s[i-1] == 'e' || s[i-1] == 'E'))) {
				i++
			}
		case isIdentStart(c):
			name, end := ident(i)
			i = end
			switch {
			case slices.Contains(promKeywords, name):
				if name == "by" || name == "without" || name == "on" || name == "ignoring" || name == "group_left" || name == "group_right" {
					if peekNonSpace(i) != '(' {
						if name == "group_left" || name == "group_right" {
							continue
						}
						return r, fmt.Errorf("%s needs a label list", name)
					}
					close := strings.IndexByte(s[i:], ')')
					if close < 0 {
						return r, fmt.Errorf("unterminated label list after %s", name)
					}
					list := s[strings.IndexByte(s[i:], '(')+i+1 : i+close]
					for l := range strings.SplitSeq(list, ",") {
						if l = strings.TrimSpace(l); l != "" {
							r.labels = append(r.labels, l)
						}
					}
					i += close + 1
				}
			case peekNonSpace(i) == '(' || (slices.Contains(promAggregations, name) && groupingFollows(s[i:])):
				r.functions = append(r.functions, name)
			default:
				r.metrics = append(r.metrics, name)
				for i < len(s) && unicode.IsSpace(rune(s[i])) {
					i++
				}
				if i < len(s) && s[i] == '{' {
					end, err := matchers(i)
					if err != nil {
						return r, err
					}
					i = end
				}
			}
		case c == '$':
			return r, fmt.Errorf("template variable outside a string or range at %d", i)
		case strings.ContainsRune("()+-*/%^,=!<>", rune(c)):
			i++
		default:
			return r, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return r, nil
}

// checkExpr checks one dashboard expression against the services' metrics.
func checkExpr(expr string, series map[string]string, histograms map[string]bool) error {
	r, err := lexPromQL(expr)
	if err != nil {
		return err
	}
	if len(r.metrics) == 0 {
		return fmt.Errorf("names no metric")
	}
	labels := knownLabels
	for _, m := range r.metrics {
		// The NATS servers' series (natsexporter_test.go checks them
		// against the pinned server).
		if nl, ok := natsExporterLabels(m); ok {
			labels = append(slices.Clone(labels), nl...)
			continue
		}
		if _, ok := series[m]; !ok {
			return fmt.Errorf("metric %s is not exported by the services (metrics.Names) nor by the NATS exporter", m)
		}
	}
	for _, l := range r.labels {
		if !slices.Contains(labels, l) {
			return fmt.Errorf("label %q is not a label of the metrics it reads", l)
		}
	}
	for _, f := range r.functions {
		if !slices.Contains(promFunctions, f) {
			return fmt.Errorf("unknown function %s", f)
		}
	}
	if slices.Contains(r.functions, "histogram_quantile") {
		for _, m := range r.metrics {
			if !strings.HasSuffix(m, "_bucket") || !histograms[series[m]] {
				return fmt.Errorf("histogram_quantile over %s, not a histogram's _bucket series", m)
			}
		}
	}
	return nil
}

func TestPromQLLexer(t *testing.T) {
	series := map[string]string{"reprise_a_total": "reprise_a_total", "reprise_h_seconds": "reprise_h_seconds", "reprise_h_seconds_bucket": "reprise_h_seconds"}
	histograms := map[string]bool{"reprise_h_seconds": true}
	good := []string{
		`sum by (name, status) (rate(reprise_a_total{status="Failed", name=~"$name"}[$__rate_interval]))`,
		`histogram_quantile(0.99, sum by (le) (rate(reprise_h_seconds_bucket[5m])))`,
		`sum(rate(reprise_a_total[1m])) / clamp_min(sum(rate(reprise_a_total[1m])) + 1, 1e-9)`,
		`sum(rate(reprise_a_total[1m])) without (instance)`,
	}
	for _, e := range good {
		if err := checkExpr(e, series, histograms); err != nil {
			t.Errorf("%s: %v", e, err)
		}
	}
	bad := map[string]string{
		"unknown metric":           `sum(rate(reprise_b_total[1m]))`,
		"unknown metric in binop":  `sum(rate(reprise_a_total[1m])) / sum(rate(reprise_nope_total[1m]))`,
		"no metric":                `vector(1)`,
		"unknown label":            `sum by (nmae) (rate(reprise_a_total[1m]))`,
		"unknown matcher label":    `rate(reprise_a_total{stauts="Failed"}[1m])`,
		"unknown function":         `rated(reprise_a_total[1m])`,
		"quantile of a counter":    `histogram_quantile(0.9, rate(reprise_a_total[1m]))`,
		"quantile without _bucket": `histogram_quantile(0.9, rate(reprise_h_seconds[1m]))`,
		"selector without a name":  `{__name__="reprise_a_total"}`,
		"unterminated string":      `rate(reprise_a_total{status="Failed}[1m])`,
		"bucket of a non-histo":    `rate(reprise_a_total_bucket[1m])`,
	}
	for what, e := range bad {
		if err := checkExpr(e, series, histograms); err == nil {
			t.Errorf("%s: %s passed", what, e)
		}
	}
}

func loadDashboard(t *testing.T, m *manifests) grafanaDashboard {
	t.Helper()
	cm, ok := m.generated[dashboardConfigMap]
	if !ok {
		t.Fatalf("no generated ConfigMap %s", dashboardConfigMap)
	}
	if len(cm.Data) != 1 {
		t.Fatalf("%s holds %d files, want one dashboard", dashboardConfigMap, len(cm.Data))
	}
	var d grafanaDashboard
	for key, data := range cm.Data {
		if !strings.HasSuffix(key, ".json") {
			t.Errorf("dashboard key %q does not end in .json (Grafana's sidecar loads *.json)", key)
		}
		dec := json.NewDecoder(strings.NewReader(data))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	return d
}

// TestDashboard: the Grafana dashboard is a labelled ConfigMap, well formed,
// and every PromQL expression in it names only metrics the services export.
func TestDashboard(t *testing.T) {
	m := loadManifests(t)
	for _, g := range m.kust.ConfigMapGenerator {
		if g.Name == dashboardConfigMap && (g.Options.Labels["grafana_dashboard"] != "1" || !g.Options.DisableNameSuffixHash) {
			t.Errorf("%s: want label grafana_dashboard=1 and a fixed name, got %+v", g.Name, g.Options)
		}
	}
	d := loadDashboard(t, m)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q", d.UID, d.Title)
	}
	series, histograms := knownMetrics()
	if len(series) < 20 {
		t.Fatalf("metrics.Names() lists %d series; is services/metrics complete?", len(series))
	}

	var exprs []string
	ids := map[int]string{}
	for _, p := range flatten(d.Panels) {
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d missing or also used by %q", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: grid position %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the $datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %s: data source %q, not $datasource", p.Title, tg.RefID, tg.Datasource.UID)
			}
			if err := checkExpr(tg.Expr, series, histograms); err != nil {
				t.Errorf("panel %q: %s: %v", p.Title, tg.Expr, err)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s does not use the $datasource variable", v.Name)
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("variable %s: query %s", v.Name, v.Query)
			}
		}
		mm := labelValues.FindStringSubmatch(q.Query)
		if mm == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		if err := checkExpr(mm[1], series, histograms); err != nil {
			t.Errorf("variable %s: %s: %v", v.Name, mm[1], err)
		}
		if !slices.Contains(knownLabels, mm[2]) {
			t.Errorf("variable %s: label %q", v.Name, mm[2])
		}
	}

	// What the dashboard must show: throughput, latency percentiles, queue
	// depth, failures, cache hit ratio, redeliveries, timer lateness,
	// schedule-to-start.
	uses := func(metric string, needles ...string) bool {
		for _, e := range exprs {
			r, _ := lexPromQL(e)
			if !slices.Contains(r.metrics, metric) {
				continue
			}
			ok := true
			for _, n := range needles {
				ok = ok && (slices.Contains(r.functions, n) || slices.Contains(r.matchers, n))
			}
			if ok {
				return true
			}
		}
		return false
	}
	for _, want := range []struct {
		metric  string
		needles []string
	}{
		{"reprise_orchestrations_started_total", []string{"rate"}},
		{"reprise_orchestrations_finished_total", []string{"rate"}},
		{"reprise_orchestrations_finished_total", []string{"rate", `status="Failed"`}},
		{"reprise_orchestration_duration_seconds_bucket", []string{"histogram_quantile"}},
		{"reprise_orchestration_turn_duration_seconds_bucket", []string{"histogram_quantile"}},
		{"reprise_activity_execution_seconds_bucket", []string{"histogram_quantile"}},
		{"reprise_activity_schedule_to_start_seconds_bucket", []string{"histogram_quantile"}},
		{"reprise_timer_lateness_seconds_bucket", []string{"histogram_quantile"}},
		{"reprise_queue_depth", nil},
		{"reprise_poison_messages_total", []string{"rate"}},
		{"reprise_dead_lettered_total", []string{"rate"}},
		{"reprise_redeliveries_total", []string{"rate"}},
		{"reprise_orchestration_cache_hits_total", []string{"rate"}},
		{"reprise_orchestration_cache_misses_total", []string{"rate"}},
	} {
		if !uses(want.metric, want.needles...) {
			t.Errorf("no dashboard query over %s with %v", want.metric, want.needles)
		}
	}
	// The hit ratio divides hits by hits plus misses in one expression.
	ratio := false
	for _, e := range exprs {
		r, _ := lexPromQL(e)
		ratio = ratio || (slices.Contains(r.metrics, "reprise_orchestration_cache_hits_total") &&
			slices.Contains(r.metrics, "reprise_orchestration_cache_misses_total") && strings.Contains(e, "/"))
	}
	if !ratio {
		t.Error("no cache hit ratio (hits / (hits + misses)) on the dashboard")
	}
}
