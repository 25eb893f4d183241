package worker_test

import (
	"context"
	"testing"
	"time"

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
	mp, err := memory.New(runtime.Topology())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mp.Close() })
	p := &heldCompletions{Provider: mp, entered: make(chan struct{}, 2), release: make(chan struct{})}
	reg := runtime.NewRegistry()
	started := make(chan int, 2)
	mustT(t, runtime.RegisterActivity(reg, "double", func(_ context.Context, n int) (int, error) {
		started <- n
		return 2 * n, nil
	}))
	mustT(t, runtime.RegisterOrchestration(reg, "pair", func(ctx *runtime.OrchestrationContext, _ any) (int, error) {
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
	n := runtime.NewNotifier()
	w, err := worker.New(p, reg, worker.Options{Notifier: n, ActivityConcurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := control.New(p, control.Options{Notifier: n})
	if _, err := c.Start(ctx, "pair", nil, control.WithID("p1")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatalf("%d of 2 activities started while the first completion was held: the slot was kept until the completion ended", i)
		}
		select {
		case <-p.entered:
		case <-ctx.Done():
			t.Fatalf("completion %d did not begin", i+1)
		}
	}
	close(p.release)
	st, err := c.Wait(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	var out int
	if st.Status != runtime.StatusCompleted || st.DecodeOutput(&out) != nil || out != 6 {
		t.Fatalf("instance ended %s with output %d (%s), want Completed with 6", st.Status, out, st.Error)
	}
}
