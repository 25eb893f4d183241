package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
	"github.com/reprise/reprise/services/metrics"
)

// TestWorkerFeedsMetrics runs a real worker over the instrumented memory
// provider with *Metrics as its observer and reads the result back.
func TestWorkerFeedsMetrics(t *testing.T) {
	m := metrics.New(metrics.Options{})
	p := metrics.InstrumentProvider(newMemory(t), m)
	reg := runtime.NewRegistry()
	if err := runtime.RegisterActivity(reg, "greet", func(_ context.Context, who string) (string, error) {
		return "hello " + who, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := runtime.RegisterOrchestration(reg, "hello", func(ctx *runtime.OrchestrationContext, who string) (string, error) {
		if err := ctx.CreateTimer(time.Millisecond).Await(nil); err != nil {
			return "", err
		}
		var out string
		return out, ctx.CallActivity("greet", who).Await(&out)
	}); err != nil {
		t.Fatal(err)
	}
	n := runtime.NewNotifier()
	w, err := worker.New(p, reg, worker.Options{Observer: m, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := control.New(p, control.Options{Notifier: n})
	for _, id := range []string{"a", "b"} {
		if _, err := c.Start(ctx, "hello", id, control.WithID(id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b"} {
		if st, err := c.Wait(ctx, id); err != nil || st.Status != runtime.StatusCompleted {
			t.Fatalf("Wait(%s) = %+v, %v", id, st, err)
		}
	}
	// Stopping the worker waits for its turns, so every observation is in.
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	got := values(t, m)
	for k, want := range map[string]float64{
		"reprise_orchestrations_started_total{name=hello}":                   2,
		"reprise_orchestrations_finished_total{name=hello,status=Completed}": 2,
		"reprise_timers_fired_total":                                         2,
		"reprise_orchestration_cache_hits_total":                             4, // two later turns each
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	fams := repriseFamilies(t, m)
	counts := map[string]uint64{}
	for _, name := range []string{"reprise_orchestration_turn_duration_seconds", "reprise_orchestration_duration_seconds",
		"reprise_activity_schedule_to_start_seconds", "reprise_activity_execution_seconds", "reprise_timer_lateness_seconds"} {
		for _, metric := range fams[name].GetMetric() {
			counts[name] += metric.GetHistogram().GetSampleCount()
		}
	}
	want := map[string]uint64{
		"reprise_orchestration_turn_duration_seconds": 6, "reprise_orchestration_duration_seconds": 2,
		"reprise_activity_schedule_to_start_seconds": 2, "reprise_activity_execution_seconds": 2,
		"reprise_timer_lateness_seconds": 2,
	}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%s observed %d times, want %d", k, counts[k], v)
		}
	}
	if ops := opCounts(t, m); ops[[2]string{metrics.OpCommit, "ok"}] < 6 || ops[[2]string{metrics.OpCompleteWork, "ok"}] != 2 {
		t.Errorf("provider operations %v: want at least 6 commits and 2 completed tasks", ops)
	}
}
