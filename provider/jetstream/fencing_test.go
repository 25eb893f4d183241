package jetstream

import (
	"context"
	"errors"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// TestStaleOwnerIsFenced runs two providers on the same streams (same
// prefix, separate Pebble directories). A holds a lock on x and stops
// consuming, as a process that lost its shard without noticing would; B
// takes over the shard and commits x. A's commit then fails with
// ErrLockLost, writes nothing and acks nothing: its message is delivered to
// B and committed there.
func TestStaleOwnerIsFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	topo := crashTopology()
	topo.LockTimeout = 5 * time.Second
	a := newRig(t, sharedURL, topo, Options{Shards: 2})
	send := func(id string) {
		t.Helper()
		if err := a.p.Send(ctx, provider.Outgoing{Queue: qMain, Message: provider.Message{ID: id, Entity: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	send("m1")
	staleBatch := fetchWithin(t, a.p, qMain, 10*time.Second)
	if staleBatch == nil || len(staleBatch.Messages) != 1 {
		t.Fatalf("A's fetch = %+v", staleBatch)
	}
	a.p.stopPulling()

	b := newRig(t, sharedURL, topo, Options{Shards: 2, Prefix: a.opts.Prefix})
	send("m2")
	fresh := fetchWithin(t, b.p, qMain, 10*time.Second)
	if fresh == nil || len(fresh.Messages) != 1 || fresh.Messages[0].ID != "m2" {
		t.Fatalf("B's fetch = %+v, want m2 alone (m1 is locked by A)", fresh)
	}
	if err := b.p.Commit(ctx, fresh.Lock, provider.Commit{Events: evs(1)}); err != nil {
		t.Fatalf("B's commit: %v", err)
	}

	err := a.p.Commit(ctx, staleBatch.Lock, provider.Commit{Events: evs(1), SetMetadata: provider.Metadata{"color": "stale"}})
	if !errors.Is(err, provider.ErrLockLost) {
		t.Fatalf("stale commit = %v, want ErrLockLost", err)
	}
	// A's store holds at most B's commit (A applies the records other
	// writers put in its shards), never its own stale one.
	if hist, _ := a.store.History("x", 0); len(hist) != 0 && !eventsEqual(hist, evs(1)) {
		t.Errorf("stale owner's store has history %v", hist)
	}
	if md, _ := a.store.Metadata("x"); md["color"] != "" {
		t.Errorf("stale owner's store has the stale commit's metadata %v", md)
	}

	// m1 was not acked by A: B receives it (attempt 2) and commits it.
	again := fetchWithin(t, b.p, qMain, 3*topo.LockTimeout)
	if again == nil || len(again.Messages) != 1 || again.Messages[0].ID != "m1" || again.Messages[0].Attempt != 2 {
		t.Fatalf("B's second fetch = %+v, want m1 at attempt 2", again)
	}
	if err := b.p.Commit(ctx, again.Lock, provider.Commit{Events: evs(2)}); err != nil {
		t.Fatalf("B's second commit: %v", err)
	}
	hist, err := b.p.History(ctx, "x", 0)
	if err != nil || !eventsEqual(hist, evs(1, 2)) {
		t.Errorf("history on B = %v, %v; want events 1, 2", hist, err)
	}
	if md, err := b.p.Metadata(ctx, "x"); err != nil || md["color"] != "" {
		t.Errorf("metadata on B = %v, %v; the stale commit's metadata leaked", md, err)
	}
	info, err := b.p.logStream.Info(ctx, natsjs.WithSubjectFilter(b.p.names.logSubject("x")))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[b.p.names.logSubject("x")]; n != 2 {
		t.Errorf("log holds %d records of x, want 2 (B's commits only)", n)
	}
	if n := depth(t, b.p, qMain); n != 0 {
		t.Errorf("depth = %d, want 0", n)
	}
}
