package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/worker"
)

var failureTests = []suiteTest{
	{"OrchestrationErrorFailsInstance", testOrchestrationError},
	{"PanicFailsInstanceWithStack", testOrchestrationPanic},
	{"NondeterminismFailsInstance", testNondeterminism},
	{"UnregisteredOrchestrationFailsAfterBackoff", testUnknownOrchestration},
	{"UnregisteredActivityFailsAfterBackoff", testUnknownActivity},
	{"DeadLetteredActivityFails", testDeadLetteredActivity},
	{"PoisonMessageFailsInstance", testPoison},
}

func testOrchestrationError(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(*runtime.OrchestrationContext, int) (int, error) {
		return 0, errors.New("plain failure")
	}))
	e.start(worker.Options{})
	e.expectStatus(e.run("o", "oe", 0), runtime.StatusFailed, "plain failure")
}

func testOrchestrationPanic(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		if err := ctx.CreateTimer(1).Await(nil); err != nil {
			return 0, err
		}
		panic(fmt.Sprintf("bad state %d", 7))
	}))
	e.start(worker.Options{})
	e.expectStatus(e.run("o", "op", 0), runtime.StatusFailed, "panic", "bad state 7")
	evs := e.history("op")
	last := evs[len(evs)-1]
	if last.Kind != runtime.KindExecutionFailed || last.Failure == nil || last.Failure.Stack == "" {
		t.Fatalf("last event %+v: want ExecutionFailed with a stack", last)
	}
}

func testNondeterminism(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterActivity(e.reg, "a", func(context.Context, int) (int, error) { return 1, nil }))
	must(t, runtime.RegisterActivity(e.reg, "b", func(context.Context, int) (int, error) { return 2, nil }))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		if err := ctx.CallActivity("a", 0).Await(nil); err != nil {
			return 0, err
		}
		return 0, ctx.WaitForEvent("go").Await(nil)
	}))
	first := e.start(worker.Options{})
	e.startInstance("o", "nd", 0)
	e.waitStatus("nd", runtime.StatusRunning)
	e.waitHistory("nd", runtime.KindActivityCompleted)
	stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer cancel()
	must(t, first.Stop(stopCtx))

	// A bad deploy: the same name now calls "b" first.
	bad := runtime.NewRegistry()
	must(t, runtime.RegisterActivity(bad, "b", func(context.Context, int) (int, error) { return 2, nil }))
	must(t, runtime.RegisterOrchestration(bad, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		if err := ctx.CallActivity("b", 0).Await(nil); err != nil {
			return 0, err
		}
		return 0, ctx.WaitForEvent("go").Await(nil)
	}))
	e.startWith(bad, worker.Options{})
	must(t, e.client.RaiseEvent(e.ctx(), "nd", "go", nil))
	e.expectStatus(e.wait("nd"), runtime.StatusFailed, "nondeterminism at decision 0", `CallActivity("a")`, `CallActivity("b")`)
}

func testUnknownOrchestration(t *testing.T, s *suite) {
	e := s.newEnv(t)
	e.start(worker.Options{UnknownNameAttempts: 3})
	e.expectStatus(e.run("missing-orchestration", "uo", 0), runtime.StatusFailed, `"missing-orchestration"`, "not registered")
}

func testUnknownActivity(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		err := ctx.CallActivity("missing-activity", 0).Await(nil)
		if !errors.Is(err, runtime.ErrNotRegistered) {
			return "", fmt.Errorf("want ErrNotRegistered, got %v", err)
		}
		return err.Error(), nil
	}))
	e.start(worker.Options{UnknownNameAttempts: 3})
	var msg string
	e.expectCompleted(e.run("o", "ua", 0), &msg)
	if !contains(msg, `"missing-activity"`) {
		t.Fatalf("error %q does not name the activity", msg)
	}
}

func testDeadLetteredActivity(t *testing.T, s *suite) {
	e := s.newEnv(t, runtime.Topology(runtime.WithMaxDeliveries(2)))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		err := ctx.CallActivity("never-registered", 0).Await(nil)
		if !errors.Is(err, runtime.ErrDeadLettered) {
			return "", fmt.Errorf("want ErrDeadLettered, got %v", err)
		}
		return "dead-lettered", nil
	}))
	// Unknown names back off longer than the provider's delivery bound, so
	// the provider dead-letters the task first.
	e.start(worker.Options{UnknownNameAttempts: 100})
	e.expectCompleted(e.run("o", "dl", 0), nil)
}

func testPoison(t *testing.T, s *suite) {
	e := s.newEnv(t)
	// The orchestration is never registered and unknown names are retried
	// longer than the poison bound: the start message is redelivered until
	// it is poison.
	e.start(worker.Options{MaxDeliveries: 3, UnknownNameAttempts: 100})
	st := e.run("unregistered", "pz", 0)
	e.expectStatus(st, runtime.StatusFailed, "poison", "delivered 4 times")
}

// waitHistory waits until the instance's history holds an event of kind k.
func (e *env) waitHistory(id string, k runtime.EventKind) {
	e.t.Helper()
	ch, cancel := e.notifier.Subscribe(id)
	defer cancel()
	ctx := e.ctx()
	for {
		if evs, err := e.client.History(ctx, id); err == nil && countKind(evs, k) > 0 {
			return
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("%s never recorded for %s", k, id)
		case <-ch:
		}
	}
}
