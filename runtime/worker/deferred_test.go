package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
)

// heldFlushes is the memory provider as a provider.DeferredCommitter whose
// commits of the entity hold become durable only once release is closed
// (then with the error failWith): a group commit's slow flush. Its Commit
// waits for that, as a provider's Commit does.
type heldFlushes struct {
	*memory.Provider
	hold     string
	entered  chan struct{} // a value per held commit made
	release  chan struct{}
	failWith error
}

func (h *heldFlushes) CommitDeferred(ctx context.Context, l provider.EntityLock, c provider.Commit) (func(context.Context) error, error) {
	if err := h.Provider.Commit(ctx, l, c); err != nil || l.Entity != h.hold {
		return nil, err
	}
	h.entered <- struct{}{}
	return func(ctx context.Context) error {
		select {
		case <-h.release:
			return h.failWith
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil
}

func (h *heldFlushes) Commit(ctx context.Context, l provider.EntityLock, c provider.Commit) error {
	wait, err := h.CommitDeferred(ctx, l, c)
	if err != nil || wait == nil {
		return err
	}
	return wait(ctx)
}

func registerEcho(t *testing.T, reg *runtime.Registry) {
	t.Helper()
	mustT(t, runtime.RegisterOrchestration(reg, "echo", func(_ *runtime.OrchestrationContext, in int) (int, error) {
		return in, nil
	}))
}

// TestATurnWaitingForItsFlushLeavesItsLoopFree: with one orchestration loop
// and the flush of one instance's commit held, another instance runs to
// completion meanwhile; the held instance's status is reported only once
// its commit is durable.
func TestATurnWaitingForItsFlushLeavesItsLoopFree(t *testing.T) {
	e := newObsEnv(t, runtime.Topology())
	p := &heldFlushes{Provider: e.p.(*memory.Provider), hold: "slow", entered: make(chan struct{}, 1), release: make(chan struct{})}
	e.p = p
	registerEcho(t, e.reg)
	reported := make(chan string, 16)
	e.start(t, worker.Options{OrchestrationConcurrency: 1, OnStatusChange: func(sc runtime.StatusChange) {
		reported <- sc.ID + " " + string(sc.Status)
	}})
	if _, err := e.client.Start(e.ctx, "echo", 1, control.WithID("slow")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.entered:
	case <-e.ctx.Done():
		t.Fatal("the held instance's commit was not made")
	}
	if st := e.run(t, "echo", "fast", 2); st.Status != runtime.StatusCompleted {
		t.Fatalf("the other instance ended %s (%s), want Completed while the first one's flush is held", st.Status, st.Error)
	}
	for len(reported) > 0 {
		if r := <-reported; strings.HasPrefix(r, "slow ") {
			t.Fatalf("%q reported before its commit was durable", r)
		}
	}
	close(p.release)
	st, err := e.client.Wait(e.ctx, "slow")
	if err != nil || st.Status != runtime.StatusCompleted {
		t.Fatalf("the held instance after its flush: %+v, %v; want Completed", st, err)
	}
	for r := ""; r != "slow Completed"; {
		select {
		case r = <-reported: // the other instance's may come late
		case <-e.ctx.Done():
			t.Fatal("the held instance's completion was not reported after its flush")
		}
	}
}

// TestATurnWhoseFlushFailsIsNotReported: a commit whose flush fails is not
// reported to the observer as an instance started or finished.
func TestATurnWhoseFlushFailsIsNotReported(t *testing.T) {
	e := newObsEnv(t, runtime.Topology())
	p := &heldFlushes{Provider: e.p.(*memory.Provider), hold: "lost", entered: make(chan struct{}, 1),
		release: make(chan struct{}), failWith: errors.New("flush failed")}
	close(p.release)
	e.p = p
	registerEcho(t, e.reg)
	e.start(t, worker.Options{})
	if _, err := e.client.Start(e.ctx, "echo", 1, control.WithID("lost")); err != nil {
		t.Fatal(err)
	}
	// TurnDone is the last observer call of a turn: the instance's
	// started and finished, had they been reported, come before it.
	e.rec.await(e.ctx, t, "the turn", count("turn", 1))
	if got := e.rec.of("started"); len(got) != 0 {
		t.Errorf("a turn whose flush failed was observed as started: %+v", got)
	}
	if got := e.rec.of("finished"); len(got) != 0 {
		t.Errorf("a turn whose flush failed was observed as finished: %+v", got)
	}
}
