package runtimetest

import (
	"testing"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/worker"
)

var controlTests = []suiteTest{
	{"TerminateCascadesToChildren", testTerminateCascades},
	{"SuspendHoldsEventsUntilResume", testSuspendResume},
}

func testTerminateCascades(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "forever", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		return 0, ctx.WaitForEvent("never").Await(nil)
	}))
	must(t, runtime.RegisterOrchestration(e.reg, "parent", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		return 0, ctx.CallSubOrchestration("forever", 0, runtime.WithInstanceID("kid")).Await(nil)
	}))
	e.start(worker.Options{})
	e.startInstance("parent", "tp", 0)
	e.waitStatus("kid", runtime.StatusRunning)
	must(t, e.client.Terminate(e.ctx(), "tp", "operator said so"))
	e.expectStatus(e.wait("tp"), runtime.StatusTerminated, "operator said so")
	e.expectStatus(e.wait("kid"), runtime.StatusTerminated, "operator said so")
}

func testSuspendResume(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		var v string
		err := ctx.WaitForEvent("data").Await(&v)
		return v, err
	}))
	e.start(worker.Options{})
	e.startInstance("o", "sr", 0)
	e.waitStatus("sr", runtime.StatusRunning)
	must(t, e.client.Suspend(e.ctx(), "sr", "maintenance"))
	e.waitStatus("sr", runtime.StatusSuspended)
	must(t, e.client.RaiseEvent(e.ctx(), "sr", "data", "held"))
	e.waitEventRecorded("sr", "data")
	if st, err := e.client.Status(e.ctx(), "sr"); err != nil || st.Status != runtime.StatusSuspended {
		t.Fatalf("after an event while suspended: %+v %v", st, err)
	}
	must(t, e.client.Resume(e.ctx(), "sr", "done"))
	var v string
	e.expectCompleted(e.wait("sr"), &v)
	if v != "held" {
		t.Fatalf("got %q", v)
	}
}
