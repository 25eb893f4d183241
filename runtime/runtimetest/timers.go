package runtimetest

import (
	"testing"
	"time"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/worker"
)

var timerTests = []suiteTest{
	{"TimerFiresAfterDuration", testTimerFires},
	{"CancelledTimerIsDropped", testTimerCancelled},
}

func testTimerFires(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "sleep", func(ctx *runtime.OrchestrationContext, ms int) (time.Duration, error) {
		start := ctx.Now()
		if err := ctx.CreateTimer(time.Duration(ms) * time.Millisecond).Await(nil); err != nil {
			return 0, err
		}
		return ctx.Now().Sub(start), nil
	}))
	e.start(worker.Options{})
	var elapsed time.Duration
	e.expectCompleted(e.run("sleep", "s1", 100), &elapsed)
	if elapsed < 100*time.Millisecond {
		t.Fatalf("timer fired after %s of turn time, want >= 100ms", elapsed)
	}
	evs := e.history("s1")
	if countKind(evs, runtime.KindTimerCreated) != 1 || countKind(evs, runtime.KindTimerFired) != 1 {
		t.Fatalf("history %v", kinds(evs))
	}
}

func testTimerCancelled(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		timer := ctx.CreateTimer(time.Hour)
		ev := ctx.WaitForEvent("go")
		var idx int
		if err := ctx.WhenAny(timer, ev).Await(&idx); err != nil {
			return 0, err
		}
		timer.Cancel()
		return idx, nil
	}))
	e.start(worker.Options{})
	e.startInstance("o", "c1", 0)
	must(t, e.client.RaiseEvent(e.ctx(), "c1", "go", nil))
	var idx int
	e.expectCompleted(e.wait("c1"), &idx)
	if idx != 1 {
		t.Fatalf("WhenAny index %d, want 1 (the event)", idx)
	}
	if n := countKind(e.history("c1"), runtime.KindCancelRequested); n != 1 {
		t.Fatalf("%d cancellations recorded, want 1", n)
	}
	// The status is readable once the last commit is applied; its cancel
	// (the timer's removal) and the ack of its input are carried out right
	// after, so the queue empties shortly after Wait returns. A timer never
	// removed keeps it at 1 until the test's deadline.
	var depth int
	e.waitFor("c1", func() bool {
		var err error
		depth, err = e.p.QueueDepth(e.ctx(), runtime.DefaultOrchestratorQueue)
		must(t, err)
		return depth == 0
	})
}
