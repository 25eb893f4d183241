package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/worker"
)

var activityTests = []suiteTest{
	{"ResultReachesOrchestration", testActivityResult},
	{"FailureReachesOrchestration", testActivityFailure},
	{"RetryPolicyRetriesUntilSuccess", testActivityRetry},
	{"RetryPolicySkipsNonRetryable", testActivityNonRetryable},
	{"PerAttemptTimeoutFailsAttempt", testActivityTimeout},
	{"NamedQueueRoutesToItsWorker", testActivityNamedQueue},
	{"PanicInActivityIsFailure", testActivityPanic},
	{"LongActivityKeepsItsLock", testActivityLockRenewal},
	{"CancelledActivityNotYetStartedIsRevoked", testActivityRevoked},
}

func testActivityRevoked(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		// No worker serves "nobody", so the task cannot have started.
		f := ctx.CallActivity("slow", 0, runtime.WithQueue("nobody"))
		if err := ctx.WaitForEvent("cancel").Await(nil); err != nil {
			return "", err
		}
		f.Cancel()
		if err := f.Await(nil); !errors.Is(err, runtime.ErrCancelled) {
			return "", fmt.Errorf("want ErrCancelled, got %v", err)
		}
		return "revoked", nil
	}))
	e.start(worker.Options{})
	e.startInstance("o", "rv", 0)
	e.waitFor("rv", func() bool {
		depth, err := e.p.QueueDepth(e.ctx(), "nobody")
		return err == nil && depth == 1
	})
	must(t, e.client.RaiseEvent(e.ctx(), "rv", "cancel", nil))
	e.expectCompleted(e.wait("rv"), nil)
	// The turn that cancels the task is visible once applied; its dispatch,
	// which takes the task back, follows it (and the instance's status may
	// be read in between): the task must be gone, not at once.
	last := -1
	e.waitFor("rv", func() bool {
		depth, err := e.p.QueueDepth(e.ctx(), "nobody")
		if err == nil && depth != 0 && depth != last {
			// Said once per change, so that a failure shows what stayed.
			t.Logf("the cancelled task's queue holds %d", depth)
			last = depth
		}
		return err == nil && depth == 0
	})
}

func greet(_ context.Context, name string) (string, error) { return "hello " + name, nil }

func testActivityResult(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterActivity(e.reg, "greet", greet))
	must(t, runtime.RegisterOrchestration(e.reg, "hello", func(ctx *runtime.OrchestrationContext, name string) (string, error) {
		var out string
		err := ctx.CallActivity("greet", name).Await(&out)
		return out, err
	}))
	e.start(worker.Options{})
	var out string
	e.expectCompleted(e.run("hello", "h1", "world"), &out)
	if out != "hello world" {
		t.Fatalf("output %q", out)
	}
	evs := e.history("h1")
	if countKind(evs, runtime.KindActivityScheduled) != 1 || countKind(evs, runtime.KindActivityCompleted) != 1 {
		t.Fatalf("history %v", kinds(evs))
	}
}

func testActivityFailure(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterActivity(e.reg, "boom", func(context.Context, int) (int, error) {
		return 0, runtime.NewError("Boom", "it broke")
	}))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		err := ctx.CallActivity("boom", 1).Await(nil)
		var re *runtime.Error
		if !errors.As(err, &re) {
			return "", fmt.Errorf("not a *runtime.Error: %v", err)
		}
		return re.Type + "/" + re.Message, nil
	}))
	e.start(worker.Options{})
	var out string
	e.expectCompleted(e.run("o", "f1", 1), &out)
	if out != "Boom/it broke" {
		t.Fatalf("output %q", out)
	}
}

func testActivityRetry(t *testing.T, s *suite) {
	e := s.newEnv(t)
	var calls atomic.Int32
	must(t, runtime.RegisterActivity(e.reg, "flaky", func(context.Context, int) (int, error) {
		if n := calls.Add(1); n < 3 {
			return 0, fmt.Errorf("attempt %d failed", n)
		}
		return 42, nil
	}))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		var out int
		err := ctx.CallActivity("flaky", 0, runtime.WithRetry(runtime.RetryPolicy{
			MaxAttempts: 5, InitialInterval: time.Millisecond, BackoffCoefficient: 2})).Await(&out)
		return out, err
	}))
	e.start(worker.Options{})
	var out int
	e.expectCompleted(e.run("o", "r1", 0), &out)
	if out != 42 || calls.Load() != 3 {
		t.Fatalf("output %d after %d calls, want 42 after 3", out, calls.Load())
	}
	evs := e.history("r1")
	if n := countKind(evs, runtime.KindActivityScheduled); n != 3 {
		t.Fatalf("%d activity attempts recorded, want 3", n)
	}
	if n := countKind(evs, runtime.KindTimerCreated); n != 2 {
		t.Fatalf("%d backoff timers recorded, want 2", n)
	}
}

func testActivityNonRetryable(t *testing.T, s *suite) {
	e := s.newEnv(t)
	var calls atomic.Int32
	must(t, runtime.RegisterActivity(e.reg, "bad", func(context.Context, int) (int, error) {
		calls.Add(1)
		return 0, runtime.NewError("Invalid", "bad input")
	}))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		return 0, ctx.CallActivity("bad", 0, runtime.WithRetry(runtime.RetryPolicy{
			MaxAttempts: 5, InitialInterval: time.Millisecond, NonRetryable: []string{"Invalid"}})).Await(nil)
	}))
	e.start(worker.Options{})
	e.expectStatus(e.run("o", "n1", 0), runtime.StatusFailed, "bad input")
	if calls.Load() != 1 {
		t.Fatalf("%d calls, want 1", calls.Load())
	}
}

func testActivityTimeout(t *testing.T, s *suite) {
	e := s.newEnv(t)
	var calls atomic.Int32
	must(t, runtime.RegisterActivity(e.reg, "stuck", func(ctx context.Context, _ int) (int, error) {
		calls.Add(1)
		<-ctx.Done() // the per-attempt deadline reaches the activity too
		return 0, ctx.Err()
	}))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		err := ctx.CallActivity("stuck", 0, runtime.WithTimeout(50*time.Millisecond),
			runtime.WithRetry(runtime.RetryPolicy{MaxAttempts: 2, InitialInterval: time.Millisecond})).Await(nil)
		if !errors.Is(err, runtime.ErrTimeout) {
			return "", fmt.Errorf("want ErrTimeout, got %v", err)
		}
		return "timed out", nil
	}))
	e.start(worker.Options{})
	e.expectCompleted(e.run("o", "t1", 0), nil)
	if n := countKind(e.history("t1"), runtime.KindActivityScheduled); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
}

func testActivityNamedQueue(t *testing.T, s *suite) {
	e := s.newEnv(t)
	gpu := runtime.NewRegistry()
	must(t, runtime.RegisterActivity(gpu, "render", func(context.Context, int) (string, error) { return "gpu", nil }))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		var out string
		err := ctx.CallActivity("render", 0, runtime.WithQueue("gpu")).Await(&out)
		return out, err
	}))
	// The orchestrator's own worker does not know "render": only the gpu
	// worker can complete it.
	e.start(worker.Options{UnknownNameAttempts: 1000})
	e.startWith(gpu, worker.Options{DisableOrchestrations: true, ActivityQueues: []string{"gpu"}})
	var out string
	e.expectCompleted(e.run("o", "q1", 0), &out)
	if out != "gpu" {
		t.Fatalf("output %q", out)
	}
}

func testActivityPanic(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterActivity(e.reg, "panics", func(context.Context, int) (int, error) { panic("kaboom") }))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		return 0, ctx.CallActivity("panics", 0).Await(nil)
	}))
	e.start(worker.Options{})
	e.expectStatus(e.run("o", "p1", 0), runtime.StatusFailed, "kaboom")
}

func testActivityLockRenewal(t *testing.T, s *suite) {
	lock := s.cfg.lockTimeout
	e := s.newEnv(t, runtime.Topology(runtime.WithLockTimeout(lock)))
	var calls atomic.Int32
	must(t, runtime.RegisterActivity(e.reg, "long", func(ctx context.Context, _ int) (int, error) {
		calls.Add(1)
		// The work itself outlasts three lock timeouts.
		select {
		case <-time.After(3 * lock):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return 1, nil
	}))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		var out int
		err := ctx.CallActivity("long", 0).Await(&out)
		return out, err
	}))
	e.start(worker.Options{})
	e.start(worker.Options{}) // a competitor that would take an expired task
	e.expectCompleted(e.run("o", "l1", 0), nil)
	if calls.Load() != 1 {
		t.Fatalf("activity ran %d times; its lock was not kept", calls.Load())
	}
}

func kinds(evs []runtime.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Kind.String()
	}
	return out
}
