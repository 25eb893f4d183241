package host_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

func TestHealthEndpoints(t *testing.T) {
	n, _ := startNode(t, testOrchestrations(t), nil)
	base := "http://" + n.HealthAddr()
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "go_goroutines"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: %d %.200s", path, resp.StatusCode, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n.Ready() {
		t.Fatal("a stopped node reports ready")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("health endpoint still served after Stop")
	}
}

// startWorker runs an activity worker node against the orchestrator's NATS.
func startWorker(t *testing.T, url string, reg *runtime.Registry) *host.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := host.Start(ctx, host.Worker, host.Config{
		NATSURL:     url,
		MetricsAddr: "127.0.0.1:0",
		LockTimeout: 2 * time.Second,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})
	return w
}

// TestWorkersShareActivities runs an orchestrator without activities and two
// stateless workers competing for them.
func TestWorkersShareActivities(t *testing.T) {
	var ran [2]atomic.Int64
	regFor := func(i int) *runtime.Registry {
		reg := runtime.NewRegistry()
		if err := runtime.RegisterActivity(reg, "double", func(_ context.Context, x int) (int, error) {
			ran[i].Add(1)
			return 2 * x, nil
		}); err != nil {
			t.Fatal(err)
		}
		return reg
	}
	orch, nc := startNode(t, testOrchestrations(t), func(c *host.Config) {
		c.Activities = host.ActivitiesOff
		c.LockTimeout = 2 * time.Second
	})
	startWorker(t, orch.NATSURL(), regFor(0))
	startWorker(t, orch.NATSURL(), regFor(1))
	const n = 40
	for i := range n {
		ok(t, nc, api.VerbStart, fmt.Sprintf(`{"name":"twice","id":"w-%d","input":%d}`, i, i), nil)
	}
	for i := range n {
		if st := waitTerminal(t, nc, fmt.Sprintf("w-%d", i)); string(st.Output) != fmt.Sprint(4*i) {
			t.Fatalf("twice(%d) = %s %s", i, st.Output, st.Error)
		}
	}
	if total := ran[0].Load() + ran[1].Load(); total < 2*n {
		t.Fatalf("workers ran %d activities, want at least %d", total, 2*n)
	}
}

func TestWorkerNeedsNATSURL(t *testing.T) {
	_, err := host.Start(context.Background(), host.Worker, host.Config{MetricsAddr: "off"}, runtime.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "NATS URL") {
		t.Fatalf("worker without a NATS URL: %v", err)
	}
}

// TestDrainFinishesInFlightActivity stops a worker while its activity runs:
// the stop waits for the activity, whose result is kept.
func TestDrainFinishesInFlightActivity(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var calls atomic.Int64
	reg := runtime.NewRegistry()
	if err := runtime.RegisterActivity(reg, "double", func(_ context.Context, x int) (int, error) {
		calls.Add(1)
		once.Do(func() { close(started) })
		<-release
		return 2 * x, nil
	}); err != nil {
		t.Fatal(err)
	}
	orch, nc := startNode(t, testOrchestrations(t), func(c *host.Config) {
		c.Activities = host.ActivitiesOff
		c.LockTimeout = 2 * time.Second // the workers' (startWorker)
	})
	w := startWorker(t, orch.NATSURL(), reg)
	ok(t, nc, api.VerbStart, `{"name":"twice","id":"drain-1","input":3}`, nil)
	<-started
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stopped <- w.Stop(ctx)
	}()
	// The drain waits for the activity: Stop cannot have returned yet.
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned %v while an activity was running", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("drain: %v", err)
	}
	// The first activity's result was delivered; a new worker runs the
	// second one.
	startWorker(t, orch.NATSURL(), reg)
	if st := waitTerminal(t, nc, "drain-1"); string(st.Output) != "12" {
		t.Fatalf("twice(3) = %s %s", st.Output, st.Error)
	}
	// Two activities, each run once: the drained one was not run again.
	if n := calls.Load(); n != 2 {
		t.Fatalf("activities ran %d times, want 2", n)
	}
}

// TestDrainDeadlineLosesNothing stops a worker whose activity outlives the
// drain deadline: the activity is abandoned and runs again elsewhere.
func TestDrainDeadlineLosesNothing(t *testing.T) {
	var calls atomic.Int64
	started := make(chan struct{})
	reg := runtime.NewRegistry()
	if err := runtime.RegisterActivity(reg, "double", func(ctx context.Context, x int) (int, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-ctx.Done() // stuck until the drain gives up on it
			return 0, ctx.Err()
		}
		return 2 * x, nil
	}); err != nil {
		t.Fatal(err)
	}
	orch, nc := startNode(t, testOrchestrations(t), func(c *host.Config) {
		c.Activities = host.ActivitiesOff
		c.LockTimeout = 2 * time.Second
	})
	w := startWorker(t, orch.NATSURL(), reg)
	ok(t, nc, api.VerbStart, `{"name":"twice","id":"drain-2","input":5}`, nil)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("drain past its deadline returned %v", err)
	}
	startWorker(t, orch.NATSURL(), reg)
	if st := waitTerminal(t, nc, "drain-2"); st.Status != api.StatusCompleted || string(st.Output) != "20" {
		t.Fatalf("twice(5) after an abandoned activity: %s %s %s", st.Status, st.Output, st.Error)
	}
}
