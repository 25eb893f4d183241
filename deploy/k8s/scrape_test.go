package k8s

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/reprise/reprise/examples"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// TestIdleOrchestratorExportsWhatTheDashboardAndRulesRead starts an
// orchestrator (embedded NATS, the examples' registry, as `make run`),
// scrapes /metrics once it is ready and before any traffic, and finds every
// reprise_ series the dashboard and the alert rules read: counters and
// histogram counts at 0, so that rate() sees the first event and panels
// show 0 instead of "No data".
func TestIdleOrchestratorExportsWhatTheDashboardAndRulesRead(t *testing.T) {
	reg := runtime.NewRegistry()
	if err := examples.RegisterAll(reg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := host.Start(ctx, host.Orchestrator, host.Config{
		DataDir:     t.TempDir(),
		NATSListen:  "127.0.0.1:0",
		MetricsAddr: "127.0.0.1:0",
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	resp, err := http.Get("http://" + n.HealthAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse the scrape: %v", err)
	}
	// Series name -> its samples' values.
	scraped := map[string][]float64{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				scraped[name] = append(scraped[name], m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				scraped[name] = append(scraped[name], m.GetGauge().GetValue())
			case dto.MetricType_HISTOGRAM:
				scraped[name+"_count"] = append(scraped[name+"_count"], float64(m.GetHistogram().GetSampleCount()))
				scraped[name+"_sum"] = append(scraped[name+"_sum"], m.GetHistogram().GetSampleSum())
				scraped[name+"_bucket"] = append(scraped[name+"_bucket"], float64(m.GetHistogram().GetSampleCount()))
			}
		}
	}

	// Every expression of the dashboard and the rules.
	exprs := map[string]string{}
	for _, p := range flatten(loadDashboard(t, loadManifests(t)).Panels) {
		for _, tg := range p.Targets {
			exprs["dashboard panel "+p.Title] += tg.Expr + "\n"
		}
	}
	for _, r := range alerts(loadRules(t)) {
		exprs["alert "+r.Alert] = r.Expr
	}
	// Families that are not the orchestrator's: the worker's own activity
	// execution is preset in the orchestrator too (it runs activities with
	// the embedded server), so nothing is left out.
	checked := 0
	for where, expr := range exprs {
		refs, err := lexPromQL(expr)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, m := range refs.metrics {
			if !strings.HasPrefix(m, "reprise_") {
				_, nats := natsExporterLabels(m)
				if _, ok := externalMetrics[m]; !ok && !nats {
					t.Errorf("%s reads %s, which is neither a reprise_ metric nor a listed external one", where, m)
				}
				continue
			}
			values, ok := scraped[m]
			if !ok {
				t.Errorf("%s reads %s, which the idle orchestrator does not export", where, m)
				continue
			}
			checked++
			counterLike := strings.HasSuffix(m, "_total") || strings.HasSuffix(m, "_count") || strings.HasSuffix(m, "_bucket")
			if counterLike && slices.ContainsFunc(values, func(v float64) bool { return v != 0 }) {
				t.Errorf("%s reads %s: values %v on an idle orchestrator, want 0", where, m, values)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d metric references checked", checked)
	}
	t.Logf("%d reprise_ metric references of the dashboard and rules found in the scrape", checked)
}
