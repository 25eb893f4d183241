package runtimetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
)

var subOrchestrationTests = []suiteTest{
	{"ChildOutputReachesParent", testChildOutput},
	{"ChildFailureReachesParent", testChildFailure},
	{"ChildRetriedWithPolicy", testChildRetry},
	{"FireAndForgetStartRuns", testFireAndForget},
	{"CancelledChildIsTerminated", testChildCancelled},
}

func registerDouble(t *testing.T, e *env) {
	must(t, runtime.RegisterOrchestration(e.reg, "double", func(ctx *runtime.OrchestrationContext, n int) (int, error) {
		if n < 0 {
			return 0, runtime.NewNonRetryableError("Negative", "negative input")
		}
		return 2 * n, nil
	}))
}

func testChildOutput(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerDouble(t, e)
	must(t, runtime.RegisterOrchestration(e.reg, "parent", func(ctx *runtime.OrchestrationContext, n int) (int, error) {
		var a, b int
		if err := ctx.CallSubOrchestration("double", n).Await(&a); err != nil {
			return 0, err
		}
		if err := ctx.CallSubOrchestration("double", a, runtime.WithInstanceID("explicit-child")).Await(&b); err != nil {
			return 0, err
		}
		return b, nil
	}))
	e.start(worker.Options{})
	var out int
	e.expectCompleted(e.run("parent", "p1", 5), &out)
	if out != 20 {
		t.Fatalf("output %d, want 20", out)
	}
	child, err := e.client.Status(e.ctx(), "explicit-child")
	must(t, err)
	if child.Parent != "p1" || child.Status != runtime.StatusCompleted {
		t.Fatalf("child status %+v", child)
	}
	page, err := e.client.List(e.ctx(), control.ListQuery{Parent: "p1"})
	must(t, err)
	if len(page.IDs) != 2 {
		t.Fatalf("children of p1: %v, want 2", page.IDs)
	}
}

func testChildFailure(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerDouble(t, e)
	must(t, runtime.RegisterOrchestration(e.reg, "parent", func(ctx *runtime.OrchestrationContext, n int) (string, error) {
		err := ctx.CallSubOrchestration("double", n).Await(nil)
		var re *runtime.Error
		if !errors.As(err, &re) || re.Type != "Negative" {
			return "", fmt.Errorf("unexpected child error %v", err)
		}
		return re.Message, nil
	}))
	e.start(worker.Options{})
	var out string
	e.expectCompleted(e.run("parent", "pf", -1), &out)
	if out != "negative input" {
		t.Fatalf("output %q", out)
	}
}

func testChildRetry(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "flaky-child", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		if ctx.InstanceID() == "fc" { // the first attempt's id fails
			return "", errors.New("first attempt fails")
		}
		return ctx.InstanceID(), nil
	}))
	must(t, runtime.RegisterOrchestration(e.reg, "parent", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		var out string
		err := ctx.CallSubOrchestration("flaky-child", 0, runtime.WithInstanceID("fc"),
			runtime.WithRetry(runtime.RetryPolicy{MaxAttempts: 3, InitialInterval: 1})).Await(&out)
		return out, err
	}))
	e.start(worker.Options{})
	var out string
	e.expectCompleted(e.run("parent", "pr", 0), &out)
	if out != "fc#2" {
		t.Fatalf("output %q, want the second attempt fc#2", out)
	}
}

func testFireAndForget(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerDouble(t, e)
	must(t, runtime.RegisterOrchestration(e.reg, "starter", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		return 0, ctx.StartOrchestration("double", "independent", 21)
	}))
	e.start(worker.Options{})
	e.expectCompleted(e.run("starter", "st", 0), nil)
	var out int
	st := e.wait("independent")
	e.expectCompleted(st, &out)
	if out != 42 || st.Parent != "" {
		t.Fatalf("independent: output %d parent %q", out, st.Parent)
	}
}

func testChildCancelled(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "forever", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		return 0, ctx.WaitForEvent("never").Await(nil)
	}))
	must(t, runtime.RegisterOrchestration(e.reg, "parent", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		child := ctx.CallSubOrchestration("forever", 0, runtime.WithInstanceID("doomed"))
		// Let the child start before cancelling it.
		if err := ctx.WaitForEvent("cancel").Await(nil); err != nil {
			return "", err
		}
		child.Cancel()
		err := child.Await(nil)
		if !errors.Is(err, runtime.ErrCancelled) {
			return "", fmt.Errorf("want ErrCancelled, got %v", err)
		}
		return "cancelled", nil
	}))
	e.start(worker.Options{})
	e.startInstance("parent", "pc", 0)
	e.waitStatus("doomed", runtime.StatusRunning)
	must(t, e.client.RaiseEvent(e.ctx(), "pc", "cancel", nil))
	e.expectCompleted(e.wait("pc"), nil)
	e.expectStatus(e.wait("doomed"), runtime.StatusTerminated, "cancelled by parent")
}
