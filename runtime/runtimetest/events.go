package runtimetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/worker"
)

var eventTests = []suiteTest{
	{"EventsAreDeliveredByNameInOrder", testEventsFIFO},
	{"EventRaisedBeforeWaitIsKept", testEventBeforeWait},
	{"EventWaitTimesOut", testEventTimeout},
}

func testEventsFIFO(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "collect", func(ctx *runtime.OrchestrationContext, n int) ([]string, error) {
		var got []string
		for range n {
			var v string
			if err := ctx.WaitForEvent("item").Await(&v); err != nil {
				return nil, err
			}
			got = append(got, v)
		}
		var other string
		err := ctx.WaitForEvent("other").Await(&other)
		return append(got, other), err
	}))
	e.start(worker.Options{})
	e.startInstance("collect", "e1", 3)
	must(t, e.client.RaiseEvent(e.ctx(), "e1", "other", "z"))
	for _, v := range []string{"a", "b", "c"} {
		must(t, e.client.RaiseEvent(e.ctx(), "e1", "item", v))
	}
	var got []string
	e.expectCompleted(e.wait("e1"), &got)
	if fmt.Sprint(got) != "[a b c z]" {
		t.Fatalf("got %v, want [a b c z]", got)
	}
}

func testEventBeforeWait(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "late", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		// Wait for an unrelated signal first, so "data" arrives before
		// anyone waits for it.
		if err := ctx.WaitForEvent("go").Await(nil); err != nil {
			return "", err
		}
		var v string
		err := ctx.WaitForEvent("data").Await(&v)
		return v, err
	}))
	e.start(worker.Options{})
	e.startInstance("late", "b1", 0)
	must(t, e.client.RaiseEvent(e.ctx(), "b1", "data", "kept"))
	e.waitEventRecorded("b1", "data")
	must(t, e.client.RaiseEvent(e.ctx(), "b1", "go", nil))
	var v string
	e.expectCompleted(e.wait("b1"), &v)
	if v != "kept" {
		t.Fatalf("got %q", v)
	}
}

func testEventTimeout(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		err := ctx.WaitForEvent("never", runtime.WithEventTimeout(50*time.Millisecond)).Await(nil)
		if !errors.Is(err, runtime.ErrTimeout) {
			return "", fmt.Errorf("want ErrTimeout, got %v", err)
		}
		return "ok", nil
	}))
	e.start(worker.Options{})
	e.expectCompleted(e.run("o", "to1", 0), nil)
}

// waitEventRecorded waits until the instance's history holds an event name.
func (e *env) waitEventRecorded(id, name string) {
	e.t.Helper()
	ch, cancel := e.notifier.Subscribe(id)
	defer cancel()
	ctx := e.ctx()
	for {
		if evs, err := e.client.History(ctx, id); err == nil {
			for _, ev := range evs {
				if ev.Kind == runtime.KindEventRaised && ev.Name == name {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("event %q never recorded for %s", name, id)
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}
