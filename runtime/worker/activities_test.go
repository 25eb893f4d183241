package worker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
)

// heldCompletions is the memory provider with every CompleteWork held
// until release is closed: a disk whose flushes are slow.
type heldCompletions struct {
	*memory.Provider
	entered chan struct{} // a value per CompleteWork that began
	release chan struct{}
}

func (h *heldCompletions) CompleteWork(ctx context.Context, l provider.WorkLock, replies []provider.Outgoing) error {
	h.entered <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.Provider.CompleteWork(ctx, l, replies)
}

// TestAFinishedActivityGivesItsSlotToTheNextWhileItCompletes: with one
// activity slot and completions held, both activities of an instance run:
// the first gives its slot to the second once it has returned, not once its
// completion is done. Both completions then go through, and the instance
// ends with both results.
func TestAFinishedActivityGivesItsSlotToTheNextWhileItCompletes(t *testing.T) {
	e := newObsEnv(t, runtime.Topology())
	p := &heldCompletions{Provider: e.p.(*memory.Provider), entered: make(chan struct{}, 2), release: make(chan struct{})}
	e.p = p
	started := make(chan int, 2)
	mustT(t, runtime.RegisterActivity(e.reg, "double", func(_ context.Context, n int) (int, error) {
		started <- n
		return 2 * n, nil
	}))
	mustT(t, runtime.RegisterOrchestration(e.reg, "pair", func(ctx *runtime.OrchestrationContext, _ any) (int, error) {
		a, b := ctx.CallActivity("double", 1), ctx.CallActivity("double", 2)
		var x, y int
		if err := a.Await(&x); err != nil {
			return 0, err
		}
		if err := b.Await(&y); err != nil {
			return 0, err
		}
		return x + y, nil
	}))
	e.start(t, worker.Options{ActivityConcurrency: 1})
	if _, err := e.client.Start(e.ctx, "pair", nil, control.WithID("p1")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		select {
		case <-started:
		case <-e.ctx.Done():
			t.Fatalf("%d of 2 activities started while the first completion was held: the slot was kept until the completion ended", i)
		}
		select {
		case <-p.entered:
		case <-e.ctx.Done():
			t.Fatalf("completion %d did not begin", i+1)
		}
	}
	close(p.release)
	st, err := e.client.Wait(e.ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	var out int
	if st.Status != runtime.StatusCompleted || st.DecodeOutput(&out) != nil || out != 6 {
		t.Fatalf("instance ended %s with output %d (%s), want Completed with 6", st.Status, out, st.Error)
	}
}

// TestEveryActivityQueueKeepsASlotForItsFetch: with as few slots as queues,
// a task on the last queue still runs. Each fetch holds a slot while it
// waits; had the first queue's fetches taken every slot, waiting on an
// empty queue, the second queue's task would never be fetched.
func TestEveryActivityQueueKeepsASlotForItsFetch(t *testing.T) {
	e := newObsEnv(t, runtime.Topology())
	mustT(t, runtime.RegisterActivity(e.reg, "where", func(_ context.Context, q string) (string, error) {
		return "ran on " + q, nil
	}))
	mustT(t, runtime.RegisterOrchestration(e.reg, "second-queue", func(ctx *runtime.OrchestrationContext, _ any) (string, error) {
		var out string
		err := ctx.CallActivity("where", "b", runtime.WithQueue("b")).Await(&out)
		return out, err
	}))
	e.start(t, worker.Options{ActivityQueues: []string{"a", "b"}, ActivityConcurrency: 2})
	st := e.run(t, "second-queue", "q1", nil)
	var out string
	if st.Status != runtime.StatusCompleted || st.DecodeOutput(&out) != nil || out != "ran on b" {
		t.Fatalf("instance ended %s with output %q (%s), want Completed with %q", st.Status, out, st.Error, "ran on b")
	}
}

// TestFewerActivitySlotsThanQueuesIsRefused: a queue without a slot of its
// own could wait for ever; New says so instead.
func TestFewerActivitySlotsThanQueuesIsRefused(t *testing.T) {
	p, err := memory.New(runtime.Topology())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = worker.New(p, runtime.NewRegistry(), worker.Options{ActivityQueues: []string{"a", "b", "c"}, ActivityConcurrency: 2})
	if err == nil || !strings.Contains(err.Error(), "ActivityConcurrency 2 is below the number of activity queues (3)") {
		t.Fatalf("New with 2 slots for 3 queues: %v, want an error naming ActivityConcurrency and the queues", err)
	}
}
