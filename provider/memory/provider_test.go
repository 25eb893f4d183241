package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/memory"
)

func testTopology() provider.Topology {
	return provider.Topology{EntityQueues: []string{"in"}, IndexedKeys: []string{"k"}, LockTimeout: time.Minute}
}

func open(t *testing.T, opts ...memory.Option) *memory.Provider {
	t.Helper()
	p, err := memory.New(testTopology(), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func msg(queue, id, entity string) provider.Outgoing {
	return provider.Outgoing{Queue: queue, Message: provider.Message{ID: id, Entity: entity}}
}

func mustSend(t *testing.T, p *memory.Provider, msgs ...provider.Outgoing) {
	t.Helper()
	if err := p.Send(t.Context(), msgs...); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func mustFetch(t *testing.T, p *memory.Provider) *provider.EntityBatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := p.FetchEntity(ctx, "in")
	if err != nil {
		t.Fatalf("FetchEntity: %v", err)
	}
	return b
}

func depth(t *testing.T, p *memory.Provider, queue string) int {
	t.Helper()
	n, err := p.QueueDepth(t.Context(), queue)
	if err != nil {
		t.Fatalf("QueueDepth: %v", err)
	}
	return n
}

func TestNewRejectsATopologyWithoutEntityQueues(t *testing.T) {
	_, err := memory.New(provider.Topology{})
	if !errors.Is(err, provider.ErrInvalidArgument) {
		t.Fatalf("New(empty topology) err = %v, want ErrInvalidArgument", err)
	}
}

func TestTopologyHasDefaultsApplied(t *testing.T) {
	p, err := memory.New(provider.Topology{EntityQueues: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	topo := p.Topology()
	if topo.LockTimeout != provider.DefaultLockTimeout || topo.DeadLetterQueue != "a" {
		t.Fatalf("topology = %+v, want the default lock timeout and dead-letter queue %q", topo, "a")
	}
}

func TestManualClockMakesDelayedMessagesVisible(t *testing.T) {
	clock := memory.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	p := open(t, memory.WithClock(clock))
	m := msg("in", "later", "e")
	m.Message.NotBefore = clock.Now().Add(time.Hour)
	mustSend(t, p, m)

	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if b, err := p.FetchEntity(short, "in"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fetch before the clock moved = (%v, %v), want DeadlineExceeded", b, err)
	}
	got := make(chan *provider.EntityBatch, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		b, _ := p.FetchEntity(ctx, "in")
		got <- b
	}()
	clock.Advance(time.Hour)
	if b := <-got; b == nil || b.Messages[0].ID != "later" {
		t.Fatalf("fetch after the clock moved an hour = %+v, want message %q", b, "later")
	}
}

func TestManualClockExpiresLocks(t *testing.T) {
	clock := memory.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	p := open(t, memory.WithClock(clock))
	mustSend(t, p, msg("in", "m", "e"))
	first := mustFetch(t, p)
	clock.Advance(time.Minute) // the lock timeout
	if err := p.Commit(t.Context(), first.Lock, provider.Commit{}); !errors.Is(err, provider.ErrLockLost) {
		t.Fatalf("Commit at the lock deadline: err = %v, want ErrLockLost", err)
	}
	second := mustFetch(t, p)
	if second.Messages[0].Attempt != 2 {
		t.Fatalf("Attempt after expiry = %d, want 2", second.Messages[0].Attempt)
	}
}

func TestDedupWindowForgetsDeliveredIDs(t *testing.T) {
	clock := memory.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	p := open(t, memory.WithClock(clock), memory.WithDedupWindow(time.Minute))
	mustSend(t, p, msg("in", "once", "e"))
	if err := p.Commit(t.Context(), mustFetch(t, p).Lock, provider.Commit{}); err != nil {
		t.Fatal(err)
	}
	mustSend(t, p, msg("in", "once", "e"))
	if n := depth(t, p, "in"); n != 0 {
		t.Fatalf("depth after re-sending a just-delivered ID = %d, want 0", n)
	}
	clock.Advance(time.Minute + time.Second)
	mustSend(t, p, msg("in", "once", "e"))
	if n := depth(t, p, "in"); n != 1 {
		t.Fatalf("depth after re-sending past the dedup window = %d, want 1", n)
	}
}

func TestZeroDedupWindowDedupsOnlyPendingIDs(t *testing.T) {
	p := open(t, memory.WithDedupWindow(0))
	mustSend(t, p, msg("in", "id", "e"), msg("in", "id", "e"))
	if n := depth(t, p, "in"); n != 1 {
		t.Fatalf("depth after a pending duplicate = %d, want 1", n)
	}
	if err := p.Commit(t.Context(), mustFetch(t, p).Lock, provider.Commit{}); err != nil {
		t.Fatal(err)
	}
	mustSend(t, p, msg("in", "id", "e"))
	if n := depth(t, p, "in"); n != 1 {
		t.Fatalf("depth after re-sending a delivered ID with no window = %d, want 1", n)
	}
}

func TestUnknownFaultStepFailsTheNextCommitOnly(t *testing.T) {
	p := open(t)
	mustSend(t, p, msg("in", "m", "e"))
	b := mustFetch(t, p)
	p.FailNextCommitAt("no-such-step")
	err := p.Commit(t.Context(), b.Lock, provider.Commit{Events: []provider.Event{{Seq: 1}}})
	if !errors.Is(err, provider.ErrInvalidArgument) {
		t.Fatalf("Commit armed with an unknown step: err = %v, want ErrInvalidArgument", err)
	}
	if err := p.Commit(t.Context(), b.Lock, provider.Commit{Events: []provider.Event{{Seq: 1}}}); err != nil {
		t.Fatalf("the following Commit: %v", err)
	}
}

func TestDeleteEntityLosesItsLock(t *testing.T) {
	p := open(t)
	mustSend(t, p, msg("in", "m", "e"))
	b := mustFetch(t, p)
	if err := p.DeleteEntity(t.Context(), "e"); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(t.Context(), b.Lock, provider.Commit{Events: []provider.Event{{Seq: 1}}}); !errors.Is(err, provider.ErrLockLost) {
		t.Fatalf("Commit after DeleteEntity: err = %v, want ErrLockLost", err)
	}
	if _, err := p.CurrentPartition(t.Context(), "e"); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("the deleted entity was recreated by a commit under its old lock: %v", err)
	}
}

func TestRejectsMalformedArguments(t *testing.T) {
	p := open(t)
	ctx := t.Context()
	if _, err := p.ListEntities(ctx, provider.ListQuery{Key: "k", Value: "v", Limit: -1}); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("negative limit: err = %v", err)
	}
	if _, err := p.ListEntities(ctx, provider.ListQuery{Key: "k", Value: "v", Cursor: "!!not base64!!"}); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("malformed cursor: err = %v", err)
	}
	mustSend(t, p, msg("in", "m", "e"), msg("work", "w", "e"))
	b := mustFetch(t, p)
	if err := p.AbandonEntity(ctx, b.Lock, -time.Second); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("negative entity abandon delay: err = %v", err)
	}
	w, err := p.FetchWork(ctx, "work")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AbandonWork(ctx, w.Lock, -time.Second); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("negative work abandon delay: err = %v", err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	p := open(t)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
