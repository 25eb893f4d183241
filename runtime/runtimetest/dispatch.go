package runtimetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/worker"
)

var dispatchTests = []suiteTest{
	{"StopAbandonsInFlightActivityForAnotherWorker", testStopAbandons},
	{"StopLetsInFlightActivityFinish", testStopFinishes},
	{"UncachedWorkerGivesSameResults", testNoCache},
}

func registerWaiter(t *testing.T, e *env) {
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		var out string
		err := ctx.CallActivity("work", 0).Await(&out)
		return out, err
	}))
}

func testStopAbandons(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerWaiter(t, e)
	started := make(chan struct{})
	first := runtime.NewRegistry()
	must(t, runtime.RegisterActivity(first, "work", func(ctx context.Context, _ int) (string, error) {
		close(started)
		<-ctx.Done() // only the forced stop ends it
		return "", ctx.Err()
	}))
	e.start(worker.Options{DisableActivities: true})
	w1 := e.startWith(first, worker.Options{DisableOrchestrations: true})
	e.startInstance("o", "sa", 0)
	<-started
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w1.Stop(expired); !errors.Is(err, context.Canceled) {
		t.Fatalf("forced stop: %v, want context.Canceled", err)
	}
	second := runtime.NewRegistry()
	must(t, runtime.RegisterActivity(second, "work", func(context.Context, int) (string, error) { return "second", nil }))
	e.startWith(second, worker.Options{DisableOrchestrations: true})
	var out string
	e.expectCompleted(e.wait("sa"), &out)
	if out != "second" {
		t.Fatalf("output %q: the aborted attempt was reported instead of abandoned", out)
	}
}

func testStopFinishes(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerWaiter(t, e)
	started, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int32
	must(t, runtime.RegisterActivity(e.reg, "work", func(ctx context.Context, _ int) (string, error) {
		runs.Add(1)
		close(started)
		<-release
		return "finished", nil
	}))
	w := e.start(worker.Options{})
	e.startInstance("o", "sf", 0)
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(e.ctx()) }()
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	// The result was committed before Stop returned; a fresh worker
	// finishes the orchestration without running the activity again.
	e.startWith(e.reg, worker.Options{})
	var out string
	e.expectCompleted(e.wait("sf"), &out)
	if out != "finished" || runs.Load() != 1 {
		t.Fatalf("output %q after %d runs", out, runs.Load())
	}
}

func testNoCache(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterActivity(e.reg, "inc", func(_ context.Context, n int) (int, error) { return n + 1, nil }))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, n int) (int, error) {
		for range 20 {
			if err := ctx.CallActivity("inc", n).Await(&n); err != nil {
				return 0, err
			}
		}
		return n, nil
	}))
	w := e.start(worker.Options{CacheSize: -1})
	var out int
	e.expectCompleted(e.run("o", "nc", 0), &out)
	if out != 20 {
		t.Fatalf("output %d", out)
	}
	if w.CacheLen() != 0 {
		t.Fatalf("cache holds %d instances with the cache disabled", w.CacheLen())
	}
}
