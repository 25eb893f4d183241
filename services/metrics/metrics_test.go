package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/metrics"
)

func newMemory(t *testing.T) provider.Provider {
	t.Helper()
	p, err := memory.New(runtime.Topology())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func openPebble(t *testing.T) *cpebble.DB {
	t.Helper()
	db, err := cpebble.Open("", &cpebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// fullMetrics returns metrics with every optional collector enabled, and
// drives every observer and service method once so that each labelled
// family has a sample.
func fullMetrics(t *testing.T) *metrics.Metrics {
	t.Helper()
	p := newMemory(t)
	db := openPebble(t)
	m := metrics.New(metrics.Options{
		Provider:      p,
		Queues:        []string{runtime.DefaultOrchestratorQueue, runtime.DefaultActivityQueue},
		NATSConnected: func() bool { return true },
		Pebble:        db.Metrics,
	})
	var o runtime.Observer = m
	o.OrchestrationStarted("hello")
	o.OrchestrationFinished("hello", runtime.StatusCompleted, 1500*time.Millisecond)
	o.TurnDone("hello", 3*time.Millisecond, 0, runtime.CacheHit)
	o.TurnDone("hello", 5*time.Millisecond, 7, runtime.CacheMiss)
	o.TurnDone("hello", 2*time.Millisecond, 0, runtime.CacheNone)
	o.ActivityStarted("greet", 20*time.Millisecond)
	o.ActivityFinished("greet", runtime.OutcomeSuccess, 40*time.Millisecond)
	o.ActivityFinished("greet", runtime.OutcomeTimeout, time.Second)
	o.TimerFired(30 * time.Millisecond)
	o.Redelivered(runtime.DefaultActivityQueue, 2)
	o.Redelivered(runtime.DefaultActivityQueue, 3)
	o.Poisoned(runtime.DefaultOrchestratorQueue)
	o.DeadLettered(runtime.DefaultActivityQueue)
	m.APIRequest("start", "ok")
	m.APIBadRequest("malformed_json")
	m.NATSReconnected()
	m.SetReady(true)
	m.WatchShards(metrics.ShardOptions{Reader: fixedBacklog{}, Shards: 4, Owned: []int{1, 3}, Owner: 1,
		Queues: []string{runtime.DefaultOrchestratorQueue}})
	l := m.Leases()
	l.ShardAcquired(1, 40*time.Millisecond)
	l.ShardReleased(1, false)
	l.LeaseRenewalFailed(3, false)
	l.MembersChanged(3)
	m.WatchStorage(fixedStorage)
	ip := metrics.InstrumentProvider(p, m)
	if _, err := ip.QueueDepth(context.Background(), runtime.DefaultActivityQueue); err != nil {
		t.Fatal(err)
	}
	return m
}

// repriseFamilies gathers and keeps the reprise_ families by name.
func repriseFamilies(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "reprise_") {
			out[mf.GetName()] = mf
		}
	}
	return out
}

func TestNamesListEveryExportedFamily(t *testing.T) {
	m := fullMetrics(t)
	fams := repriseFamilies(t, m)
	var got []string
	for _, mf := range fams {
		got = append(got, mf.GetName())
	}
	slices.Sort(got)
	want := metrics.Names()
	if !slices.Equal(got, want) {
		t.Fatalf("gathered families differ from Names()\n got %v\nwant %v", got, want)
	}
	if !slices.IsSorted(want) || len(slices.Compact(slices.Clone(want))) != len(want) {
		t.Fatalf("Names() is not sorted and unique: %v", want)
	}
	// The names the dashboard and docs are written against.
	for _, n := range []string{
		"reprise_orchestrations_started_total", "reprise_orchestrations_finished_total",
		"reprise_orchestration_duration_seconds", "reprise_orchestration_turn_duration_seconds",
		"reprise_orchestration_replayed_events_total", "reprise_orchestration_cache_hits_total",
		"reprise_orchestration_cache_misses_total", "reprise_activity_schedule_to_start_seconds",
		"reprise_activity_execution_seconds", "reprise_timers_fired_total", "reprise_timer_lateness_seconds",
		"reprise_redeliveries_total", "reprise_poison_messages_total", "reprise_dead_lettered_total",
		"reprise_queue_depth", "reprise_provider_operation_duration_seconds", "reprise_api_requests_total",
		"reprise_api_bad_requests_total", "reprise_nats_connected", "reprise_nats_reconnects_total",
		"reprise_ready", "reprise_pebble_disk_usage_bytes", "reprise_pebble_read_amplification",
		"reprise_pebble_memtable_bytes", "reprise_pebble_compactions_total", "reprise_pebble_flushes_total",
		"reprise_pebble_wal_bytes_written_total", "reprise_pebble_block_cache_hits_total",
		"reprise_pebble_block_cache_misses_total", "reprise_pebble_sstables",
	} {
		if !slices.Contains(want, n) {
			t.Errorf("Names() lacks %s", n)
		}
	}
}

func TestFamiliesHaveTheirTypesAndLabels(t *testing.T) {
	fams := repriseFamilies(t, fullMetrics(t))
	C, G, H := dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_HISTOGRAM
	cases := []struct {
		name   string
		typ    dto.MetricType
		labels []string
	}{
		{"reprise_orchestrations_started_total", C, []string{"name"}},
		{"reprise_orchestrations_finished_total", C, []string{"name", "status"}},
		{"reprise_orchestration_duration_seconds", H, []string{"name"}},
		{"reprise_orchestration_turn_duration_seconds", H, []string{"name"}},
		{"reprise_orchestration_replayed_events_total", C, []string{"name"}},
		{"reprise_orchestration_cache_hits_total", C, nil},
		{"reprise_orchestration_cache_misses_total", C, nil},
		{"reprise_activity_schedule_to_start_seconds", H, []string{"name"}},
		{"reprise_activity_execution_seconds", H, []string{"name", "outcome"}},
		{"reprise_timers_fired_total", C, nil},
		{"reprise_timer_lateness_seconds", H, nil},
		{"reprise_redeliveries_total", C, []string{"queue"}},
		{"reprise_poison_messages_total", C, []string{"queue"}},
		{"reprise_dead_lettered_total", C, []string{"queue"}},
		{"reprise_queue_depth", G, []string{"queue"}},
		{"reprise_queue_depth_age_seconds", G, []string{"queue"}},
		{"reprise_shards", G, nil},
		{"reprise_shard_owner", G, []string{"shard"}},
		{"reprise_shard_pending_messages", G, []string{"queue", "shard"}},
		{"reprise_shard_lag_seconds", G, []string{"queue", "shard"}},
		{"reprise_shard_acquisitions_total", C, nil},
		{"reprise_shard_catch_up_seconds", H, nil},
		{"reprise_shard_releases_total", C, []string{"reason"}},
		{"reprise_lease_renewal_failures_total", C, []string{"result"}},
		{"reprise_cluster_members", G, nil},
		{"reprise_provider_operation_duration_seconds", H, []string{"operation", "result"}},
		{"reprise_api_requests_total", C, []string{"code", "verb"}},
		{"reprise_api_bad_requests_total", C, []string{"reason"}},
		{"reprise_nats_connected", G, nil},
		{"reprise_nats_reconnects_total", C, nil},
		{"reprise_ready", G, nil},
		{"reprise_pebble_open", G, nil},
		{"reprise_pebble_disk_usage_bytes", G, nil},
		{"reprise_pebble_compactions_total", C, nil},
		{"reprise_pebble_sstables", G, []string{"level"}},
		{"reprise_pebble_sstable_bytes", G, []string{"level"}},
		{"reprise_log_bytes", G, nil},
		{"reprise_log_messages", G, nil},
		{"reprise_snapshot_stream_bytes", G, nil},
		{"reprise_shard_log_tail_records", G, []string{"shard"}},
		{"reprise_shard_log_tail_bytes", G, []string{"shard"}},
		{"reprise_shard_snapshot_bytes", G, []string{"shard"}},
		{"reprise_shard_snapshot_age_seconds", G, []string{"shard"}},
	}
	for _, tc := range cases {
		mf := fams[tc.name]
		if mf == nil {
			t.Errorf("%s: not gathered", tc.name)
			continue
		}
		if mf.GetType() != tc.typ {
			t.Errorf("%s: type %s, want %s", tc.name, mf.GetType(), tc.typ)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s: no help text", tc.name)
		}
		for _, metric := range mf.GetMetric() {
			var names []string
			for _, lp := range metric.GetLabel() {
				names = append(names, lp.GetName())
			}
			if !slices.Equal(names, tc.labels) {
				t.Errorf("%s: labels %v, want %v", tc.name, names, tc.labels)
			}
		}
	}
	// The level label is bounded to Pebble's seven levels.
	var levels []string
	for _, metric := range fams["reprise_pebble_sstables"].GetMetric() {
		levels = append(levels, metric.GetLabel()[0].GetValue())
	}
	if want := []string{"0", "1", "2", "3", "4", "5", "6"}; !slices.Equal(levels, want) {
		t.Errorf("sstable levels %v, want %v", levels, want)
	}
}

func TestHistogramsCarryClassicAndNativeBuckets(t *testing.T) {
	fams := repriseFamilies(t, fullMetrics(t))
	n := 0
	for name, mf := range fams {
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		if !strings.HasSuffix(name, "_seconds") {
			t.Errorf("histogram %s is not in seconds", name)
		}
		for _, metric := range mf.GetMetric() {
			h := metric.GetHistogram()
			if len(h.GetBucket()) == 0 {
				t.Errorf("%s: no classic buckets", name)
			}
			if h.Schema == nil || h.GetZeroThreshold() <= 0 {
				t.Errorf("%s: no native histogram (schema %v, zero threshold %v)", name, h.Schema, h.GetZeroThreshold())
			}
			// Factor 1.1 resolves to schema 3 (2^(2^-3) ≈ 1.09).
			if h.GetSchema() != 3 {
				t.Errorf("%s: native schema %d, want 3", name, h.GetSchema())
			}
		}
		n++
	}
	if n != 7 || len(metrics.Histograms()) != n {
		t.Fatalf("%d histogram families gathered, want 7 = len(Histograms())", n)
	}
	for _, h := range metrics.Histograms() {
		if fams[h].GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("Histograms() lists %s, which is not a histogram", h)
		}
	}
}

func TestObserverAndServiceCountersCount(t *testing.T) {
	m := fullMetrics(t)
	want := map[string]float64{
		"reprise_orchestration_cache_hits_total":                             1,
		"reprise_orchestration_cache_misses_total":                           1,
		`reprise_orchestration_replayed_events_total{name=hello}`:            7,
		`reprise_orchestrations_started_total{name=hello}`:                   1,
		`reprise_orchestrations_finished_total{name=hello,status=Completed}`: 1,
		`reprise_redeliveries_total{queue=activities}`:                       2,
		`reprise_poison_messages_total{queue=orchestrator}`:                  1,
		`reprise_dead_lettered_total{queue=activities}`:                      1,
		`reprise_api_requests_total{code=ok,verb=start}`:                     1,
		`reprise_api_bad_requests_total{reason=malformed_json}`:              1,
		"reprise_timers_fired_total":                                         1,
		"reprise_nats_reconnects_total":                                      1,
		"reprise_ready":                                                      1,
		"reprise_nats_connected":                                             1,
		"reprise_pebble_open":                                                1,
	}
	got := values(t, m)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	m.SetReady(false)
	if got := values(t, m)["reprise_ready"]; got != 0 {
		t.Errorf("reprise_ready = %v after SetReady(false), want 0", got)
	}
	fams := repriseFamilies(t, m)
	// The turn histogram saw all three turns; the end-to-end one the 1.5 s.
	if got := fams["reprise_orchestration_turn_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); got != 3 {
		t.Errorf("turn histogram count %d, want 3", got)
	}
	if got := fams["reprise_orchestration_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleSum(); got != 1.5 {
		t.Errorf("end-to-end histogram sum %v, want 1.5", got)
	}
	outcomes := map[string]uint64{}
	for _, metric := range fams["reprise_activity_execution_seconds"].GetMetric() {
		outcomes[labelValue(metric, "outcome")] = metric.GetHistogram().GetSampleCount()
	}
	if outcomes["success"] != 1 || outcomes["timeout"] != 1 || len(outcomes) != 2 {
		t.Errorf("activity executions by outcome %v, want success 1 and timeout 1", outcomes)
	}
}

// values gathers every reprise_ counter and gauge sample, keyed by its name
// and its labels as {k=v,...} in label-name order.
func values(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for name, mf := range repriseFamilies(t, m) {
		for _, metric := range mf.GetMetric() {
			key := name
			if len(metric.GetLabel()) > 0 {
				var parts []string
				for _, lp := range metric.GetLabel() {
					parts = append(parts, lp.GetName()+"="+lp.GetValue())
				}
				key += "{" + strings.Join(parts, ",") + "}"
			}
			switch {
			case metric.Counter != nil:
				out[key] = metric.GetCounter().GetValue()
			case metric.Gauge != nil:
				out[key] = metric.GetGauge().GetValue()
			}
		}
	}
	return out
}

func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func TestMetricNamesPassPromlint(t *testing.T) {
	m := fullMetrics(t)
	var mfs []*dto.MetricFamily
	for _, mf := range repriseFamilies(t, m) {
		mfs = append(mfs, mf)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestHandlerServesOpenMetrics(t *testing.T) {
	m := fullMetrics(t)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("status %d, content type %q; want 200 OpenMetrics", resp.StatusCode, ct)
	}
	text := string(body)
	for _, want := range []string{
		"# TYPE reprise_orchestrations_started counter",
		`reprise_orchestrations_started_total{name="hello"} 1`,
		"# TYPE reprise_orchestration_turn_duration_seconds histogram",
		`reprise_orchestration_turn_duration_seconds_bucket{name="hello",le="0.005"} 3`,
		`reprise_queue_depth{queue="activities"} 0`,
		"# TYPE go_goroutines gauge",
		"# EOF",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("OpenMetrics exposition lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", text)
	}
}

func TestProcessAndGoCollectorsAreRegistered(t *testing.T) {
	mfs, err := metrics.New(metrics.Options{}).Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var haveGo, haveProcess bool
	for _, mf := range mfs {
		haveGo = haveGo || mf.GetName() == "go_goroutines"
		haveProcess = haveProcess || strings.HasPrefix(mf.GetName(), "process_")
	}
	if !haveGo || !haveProcess {
		t.Fatalf("go collector %v, process collector %v; want both", haveGo, haveProcess)
	}
}

func TestOptionalCollectorsNeedTheirSource(t *testing.T) {
	fams := repriseFamilies(t, metrics.New(metrics.Options{}))
	for _, name := range []string{"reprise_queue_depth", "reprise_nats_connected", "reprise_pebble_open", "reprise_shards", "reprise_shard_owner"} {
		if fams[name] != nil {
			t.Errorf("%s exported without a source", name)
		}
	}
	if fams["reprise_ready"] == nil || fams["reprise_orchestration_cache_hits_total"] == nil {
		t.Errorf("unlabelled families missing: %v", fams)
	}
}

// Registries are private: two Metrics never share state.
func TestEachMetricsHasItsOwnRegistry(t *testing.T) {
	a, b := metrics.New(metrics.Options{}), metrics.New(metrics.Options{})
	a.OrchestrationStarted("x")
	if fams := repriseFamilies(t, b); fams["reprise_orchestrations_started_total"] != nil {
		t.Fatal("a start observed by one Metrics shows up in another")
	}
	if prometheus.DefaultGatherer != nil {
		mfs, err := prometheus.DefaultGatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "reprise_") {
				t.Fatalf("%s registered in the global registry", mf.GetName())
			}
		}
	}
}

// The README documents every family, and nothing that does not exist.
func TestReadmeDocumentsEveryFamily(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	names := metrics.Names()
	for _, n := range names {
		if !strings.Contains(readme, "| `"+n+"` |") {
			t.Errorf("README.md has no table row for %s", n)
		}
	}
	for _, line := range strings.Split(readme, "\n") {
		if rest, ok := strings.CutPrefix(line, "| `reprise_"); ok {
			n := "reprise_" + rest[:strings.Index(rest, "`")]
			if !slices.Contains(names, n) {
				t.Errorf("README.md documents %s, which Names() does not list", n)
			}
		}
	}
}
