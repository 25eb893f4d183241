package jetstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// handOffTopology locks for long: a delivery that comes back sooner than
// the lock timeout was returned by a release, not expired.
func handOffTopology() provider.Topology {
	t := crashTopology()
	t.LockTimeout = 5 * time.Minute
	return t
}

func send(t *testing.T, p *Provider, queue, id, entity string) {
	t.Helper()
	if err := p.Send(context.Background(), provider.Outgoing{Queue: queue, Message: provider.Message{ID: id, Entity: entity}}); err != nil {
		t.Fatalf("send %s: %v", id, err)
	}
}

// A shard handed over gracefully moves with its store state, its buffered
// deliveries come to the next owner at once, its locked turn finishes first,
// and nothing the first owner dispatched is dispatched again.
func TestReleaseHandsTheShardOverWithItsWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	topo := handOffTopology()
	a := newRig(t, sharedURL, topo, Options{Shards: 2})
	b := newRig(t, sharedURL, topo, Options{Shards: 2, Prefix: a.opts.Prefix, OwnedShards: []int{}})
	shard := a.p.ShardOf("x")
	if b.p.OwnsShard(shard) || !a.p.OwnsShard(shard) {
		t.Fatalf("before: a owns %v, b owns %v", a.p.OwnedShards(), b.p.OwnedShards())
	}

	send(t, a.p, qMain, "m1", "x")
	held := fetchWithin(t, a.p, qMain, 10*time.Second)
	if held == nil {
		t.Fatal("a fetched nothing")
	}
	send(t, a.p, qMain, "m2", "x") // buffered at a while m1 is locked

	released := make(chan error, 1)
	go func() { released <- a.p.ReleaseShard(ctx, shard, false) }()
	// The turn in progress finishes: the release waits for it.
	if err := a.p.Commit(ctx, held.Lock, turnCommit()); err != nil {
		t.Fatalf("a's commit during the release: %v", err)
	}
	if err := <-released; err != nil {
		t.Fatalf("release: %v", err)
	}
	if a.p.OwnsShard(shard) {
		t.Fatal("a still owns the shard after releasing it")
	}

	if err := b.p.AcquireShard(ctx, shard); err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if !b.p.OwnsShard(shard) {
		t.Fatal("b does not own the shard after acquiring it")
	}
	if r := b.p.Recovered(); r.Redispatched != 0 {
		t.Errorf("b dispatched again %d records a released cleanly", r.Redispatched)
	}
	md, err := b.p.Metadata(ctx, "x")
	if err != nil || md["color"] != "red" {
		t.Fatalf("b's metadata of x = %v, %v; want a's commit", md, err)
	}
	// m2 was buffered at a: it comes to b now, not after the 5-minute lock.
	next := fetchWithin(t, b.p, qMain, 30*time.Second)
	if next == nil {
		t.Fatal("the delivery buffered at the old owner did not come to the new one")
	}
	var ids []string
	for _, m := range next.Messages {
		ids = append(ids, m.ID)
	}
	if next.Lock.Entity != "x" || len(ids) != 1 || ids[0] != "m2" {
		t.Fatalf("b fetched %s %v, want x [m2]", next.Lock.Entity, ids)
	}
	if len(next.History) != 2 {
		t.Errorf("b's batch of x has %d events, want the 2 a committed", len(next.History))
	}
	if err := b.p.Commit(ctx, next.Lock, provider.Commit{Events: evs(3)}); err != nil {
		t.Fatalf("b's commit: %v", err)
	}
}

// A shard whose deadline passes is lost before anyone says so: a commit
// on it is refused, it is not served, and an extension restores it.
func TestLapsedOwnershipRefusesCommits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	topo := handOffTopology()
	a := newRig(t, sharedURL, topo, Options{Shards: 2})
	shard := a.p.ShardOf("x")
	send(t, a.p, qMain, "m1", "x")
	held := fetchWithin(t, a.p, qMain, 10*time.Second)
	if held == nil {
		t.Fatal("fetched nothing")
	}
	a.p.ExtendShard(shard, time.Millisecond)
	time.Sleep(5 * time.Millisecond) // the deadline is a time: let it pass
	if a.p.OwnsShard(shard) {
		t.Error("a shard past its deadline is still served")
	}
	err := a.p.Commit(ctx, held.Lock, provider.Commit{Events: evs(1)})
	if !errors.Is(err, provider.ErrLockLost) {
		t.Fatalf("commit past the deadline = %v, want ErrLockLost", err)
	}
	a.p.ExtendShard(shard, time.Hour)
	if !a.p.OwnsShard(shard) {
		t.Error("an extended shard is not served")
	}
}

// A shard released as lost returns its deliveries at once without waiting
// for turns, and another provider takes it over.
func TestLostShardReturnsItsDeliveries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	topo := handOffTopology()
	a := newRig(t, sharedURL, topo, Options{Shards: 1})
	send(t, a.p, qMain, "m1", "x")
	held := fetchWithin(t, a.p, qMain, 10*time.Second)
	if held == nil {
		t.Fatal("fetched nothing")
	}
	if err := a.p.ReleaseShard(ctx, 0, true); err != nil {
		t.Fatal(err)
	}
	b := newRig(t, sharedURL, topo, Options{Shards: 1, Prefix: a.opts.Prefix})
	got := fetchWithin(t, b.p, qMain, 30*time.Second)
	if got == nil || got.Messages[0].ID != "m1" {
		t.Fatalf("the new owner fetched %+v, want m1 (returned by the lost owner)", got)
	}
	if err := a.p.Commit(ctx, held.Lock, provider.Commit{Events: evs(1)}); !errors.Is(err, provider.ErrLockLost) {
		t.Fatalf("the old owner's commit after losing the shard = %v, want ErrLockLost", err)
	}
	if err := b.p.Commit(ctx, got.Lock, provider.Commit{Events: evs(1)}); err != nil {
		t.Fatalf("new owner's commit: %v", err)
	}
}
