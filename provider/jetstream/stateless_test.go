package jetstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

var statelessTopology = provider.Topology{EntityQueues: []string{"inbox"}, IndexedKeys: []string{"k"}}

// TestStatelessProviderServesWorkQueuesAndSends builds a provider with no
// store and no owned shards next to one that owns every shard: the
// stateless one completes work and sends to the owner, and refuses reads.
func TestStatelessProviderServesWorkQueuesAndSends(t *testing.T) {
	t.Parallel()
	owner := newRig(t, sharedURL, statelessTopology, Options{Shards: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stateless, err := New(ctx, connect(t, sharedURL), nil, statelessTopology,
		Options{Prefix: owner.opts.Prefix, Shards: 2, OwnedShards: []int{}, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("New without a store: %v", err)
	}
	t.Cleanup(func() { stateless.Close() })

	// Work sent by the owner is fetched and completed by the stateless
	// provider, whose reply reaches the owner's entity queue.
	task := provider.Outgoing{Queue: "jobs", Message: provider.Message{ID: "task-1", Entity: "e1", Data: []byte("job")}}
	if err := owner.p.Send(ctx, task); err != nil {
		t.Fatal(err)
	}
	item, err := stateless.FetchWork(ctx, "jobs")
	if err != nil {
		t.Fatalf("FetchWork: %v", err)
	}
	reply := provider.Outgoing{Queue: "inbox", Message: provider.Message{ID: "reply-1", Entity: "e1", Data: []byte("done")}}
	if err := stateless.CompleteWork(ctx, item.Lock, []provider.Outgoing{reply}); err != nil {
		t.Fatalf("CompleteWork: %v", err)
	}
	b, err := owner.p.FetchEntity(ctx, "inbox")
	if err != nil {
		t.Fatalf("owner FetchEntity: %v", err)
	}
	if b.Lock.Entity != "e1" || len(b.Messages) != 1 || b.Messages[0].ID != "reply-1" {
		t.Fatalf("owner fetched %q with %d message(s), want e1 with reply-1", b.Lock.Entity, len(b.Messages))
	}
	if err := owner.p.Commit(ctx, b.Lock, provider.Commit{SetMetadata: provider.Metadata{"k": "v"}}); err != nil {
		t.Fatalf("owner Commit: %v", err)
	}

	// SendNew from the stateless side still sees the duplicate window.
	enqueued, err := stateless.SendNew(ctx, reply)
	if err != nil || enqueued {
		t.Fatalf("SendNew of a just-consumed id from a stateless provider = (%v, %v), want (false, nil)", enqueued, err)
	}

	for name, read := range map[string]func() error{
		"Metadata":         func() error { _, err := stateless.Metadata(ctx, "e1"); return err },
		"History":          func() error { _, err := stateless.History(ctx, "e1", 0); return err },
		"CurrentPartition": func() error { _, err := stateless.CurrentPartition(ctx, "e1"); return err },
		"ListEntities": func() error {
			_, err := stateless.ListEntities(ctx, provider.ListQuery{Key: "k", Value: "v"})
			return err
		},
		"DeleteEntity": func() error { return stateless.DeleteEntity(ctx, "e1") },
	} {
		if err := read(); !errors.Is(err, ErrNoStore) {
			t.Errorf("%s on a stateless provider: %v, want ErrNoStore", name, err)
		}
	}
	if err := stateless.Healthy(ctx); err != nil {
		t.Fatalf("Healthy: %v", err)
	}
	for shard := range 2 {
		if stateless.OwnsShard(shard) {
			t.Errorf("stateless provider owns shard %d", shard)
		}
		if !owner.p.OwnsShard(shard) {
			t.Errorf("owner does not own shard %d", shard)
		}
	}
}

func TestNewRejectsANilStoreForOwnedShards(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, owned := range [][]int{nil, {0}} {
		_, err := New(ctx, connect(t, sharedURL), nil, statelessTopology,
			Options{Prefix: uniquePrefix(), Shards: 2, OwnedShards: owned, Logger: quietLogger()})
		if !errors.Is(err, provider.ErrInvalidArgument) {
			t.Errorf("New with a nil store and OwnedShards %v: %v, want ErrInvalidArgument", owned, err)
		}
	}
}

func TestShardOfAndOwnsShardAgree(t *testing.T) {
	t.Parallel()
	r := newRig(t, sharedURL, statelessTopology, Options{Shards: 8, OwnedShards: []int{1, 5}})
	for _, entity := range []string{"a", "b", "order-42", "ünïcødé", "x/y.z"} {
		shard := r.p.ShardOf(entity)
		if shard < 0 || shard >= 8 {
			t.Fatalf("ShardOf(%q) = %d, out of range", entity, shard)
		}
		if shard != shardOf(entity, 8) {
			t.Fatalf("ShardOf(%q) = %d, the subjects use %d", entity, shard, shardOf(entity, 8))
		}
	}
	for shard := range 8 {
		if want := shard == 1 || shard == 5; r.p.OwnsShard(shard) != want {
			t.Errorf("OwnsShard(%d) = %v, want %v", shard, !want, want)
		}
	}
}

func TestHealthyReportsAMissingStream(t *testing.T) {
	t.Parallel()
	r := newRig(t, sharedURL, statelessTopology, Options{Shards: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := r.p.Healthy(ctx); err != nil {
		t.Fatalf("Healthy: %v", err)
	}
	if err := r.p.js.DeleteStream(ctx, r.p.names.workStream()); err != nil {
		t.Fatal(err)
	}
	if err := r.p.Healthy(ctx); err == nil {
		t.Fatal("Healthy with the work stream deleted reported nil")
	}
}
