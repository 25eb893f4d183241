package runtimetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/worker"
)

var continueAsNewTests = []suiteTest{
	{"LoopMovesToNextPartition", testContinueAsNewLoop},
	{"UnconsumedEventsAreCarried", testContinueAsNewCarries},
}

func testContinueAsNewLoop(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterActivity(e.reg, "inc", func(_ context.Context, n int) (int, error) { return n + 1, nil }))
	must(t, runtime.RegisterOrchestration(e.reg, "counter", func(ctx *runtime.OrchestrationContext, n int) (int, error) {
		if n >= 5 {
			return n, nil
		}
		var next int
		if err := ctx.CallActivity("inc", n).Await(&next); err != nil {
			return 0, err
		}
		ctx.ContinueAsNew(next)
		return 0, nil
	}))
	e.start(worker.Options{})
	var out int
	e.expectCompleted(e.run("counter", "c1", 0), &out)
	if out != 5 {
		t.Fatalf("output %d, want 5", out)
	}
	part, err := e.p.CurrentPartition(e.ctx(), "c1")
	must(t, err)
	if part != 5 {
		t.Fatalf("partition %d, want 5", part)
	}
	old, err := e.client.PartitionHistory(e.ctx(), "c1", 0)
	must(t, err)
	if last := old[len(old)-1]; last.Kind != runtime.KindContinuedAsNew {
		t.Fatalf("partition 0 ends with %s", last.Kind)
	}
}

func testContinueAsNewCarries(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "batcher", func(ctx *runtime.OrchestrationContext, seen []string) ([]string, error) {
		var v string
		if err := ctx.WaitForEvent("item").Await(&v); err != nil {
			return nil, err
		}
		seen = append(seen, v)
		if len(seen) == 3 {
			return seen, nil
		}
		ctx.ContinueAsNew(seen)
		return nil, nil
	}))
	e.start(worker.Options{})
	e.startInstance("batcher", "b1", []string{})
	for _, v := range []string{"x", "y", "z"} {
		must(t, e.client.RaiseEvent(e.ctx(), "b1", "item", v))
	}
	var out []string
	e.expectCompleted(e.wait("b1"), &out)
	if fmt.Sprint(out) != "[x y z]" {
		t.Fatalf("got %v, want [x y z]: events lost or reordered across continue-as-new", out)
	}
}
