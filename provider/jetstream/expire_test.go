package jetstream

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
)

// commitTo sends one message to entity, fetches it and commits c.
func commitTo(t *testing.T, p *Provider, entity string, c provider.Commit) {
	t.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("m-%s-%d", entity, time.Now().UnixNano())
	if err := p.Send(ctx, provider.Outgoing{Queue: qMain, Message: provider.Message{ID: id, Entity: entity, Data: []byte(id)}}); err != nil {
		t.Fatal(err)
	}
	b := fetchWithin(t, p, qMain, 30*time.Second)
	if b == nil || b.Lock.Entity != entity {
		t.Fatalf("fetched %+v, want entity %q", b, entity)
	}
	if err := p.Commit(ctx, b.Lock, c); err != nil {
		t.Fatalf("commit to %q: %v", entity, err)
	}
}

// logRecords counts the records on the entity's log subject.
func logRecords(t *testing.T, p *Provider, entity string) uint64 {
	t.Helper()
	subject := p.names.logSubject(entity)
	info, err := p.logStream.Info(context.Background(), natsjs.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

func exists(t *testing.T, p *Provider, entity string) bool {
	t.Helper()
	_, err := p.CurrentPartition(context.Background(), entity)
	if err != nil && !errors.Is(err, provider.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExpirySurvivesARebuiltStore: expiries set by commits are carried out
// by a process that rebuilt its store from the log after the first one
// crashed before they were due: the expired entity's log is purged down to
// its tombstone, the expired partitions are gone, the current one is kept.
func TestExpirySurvivesARebuiltStore(t *testing.T) {
	t.Parallel()
	topo := crashTopology()
	r := newRig(t, sharedURL, topo, Options{Shards: 2, ExpiryInterval: time.Hour})
	at := time.Now().Add(time.Second)
	commitTo(t, r.p, "mortal", provider.Commit{Events: evs(1), SetMetadata: provider.Metadata{"color": "red"}})
	commitTo(t, r.p, "mortal", provider.Commit{Events: evs(2), ExpireAt: at})
	commitTo(t, r.p, "eternal", provider.Commit{Events: evs(1, 2)})
	commitTo(t, r.p, "eternal", provider.Commit{Partition: 1, Events: evs(1), SetMetadata: provider.Metadata{"color": "blue"},
		ExpirePartitions: provider.PartitionExpiry{Below: 1, At: at}})
	if n := logRecords(t, r.p, "mortal"); n != 2 {
		t.Fatalf("mortal has %d log records before expiry, want 2", n)
	}
	r.crash()

	r.dir = t.TempDir() // the store is lost: rebuilt from the log
	r.opts.ExpiryInterval = 50 * time.Millisecond
	r.start(t)
	within(t, "mortal expires", func() bool { return !exists(t, r.p, "mortal") })
	if now := time.Now(); now.Before(at) {
		t.Fatalf("expired %v early", at.Sub(now))
	}
	if n := logRecords(t, r.p, "mortal"); n != 1 {
		t.Errorf("mortal's log holds %d records after expiry, want 1 (the tombstone)", n)
	}
	page, err := r.p.ListEntities(context.Background(), provider.ListQuery{Key: "color", Value: "red"})
	if err != nil || len(page.Entities) != 0 {
		t.Errorf("list color=red after expiry = %v, %v; want nothing", page.Entities, err)
	}
	within(t, "eternal's partition 0 expires", func() bool {
		h, err := r.p.History(context.Background(), "eternal", 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(h) == 0
	})
	h, err := r.p.History(context.Background(), "eternal", 1)
	if err != nil || !eventsEqual(h, evs(1)) {
		t.Fatalf("eternal's current partition = %v, %v; want event 1", h, err)
	}
	if md, err := r.p.Metadata(context.Background(), "eternal"); err != nil || md["color"] != "blue" {
		t.Fatalf("eternal's metadata = %v, %v", md, err)
	}
}

// TestOnlyTheShardOwnerExpires: a store holding an entity of a shard this
// process does not own (it owned it before) leaves its expiry alone; the
// owner carries it out.
func TestOnlyTheShardOwnerExpires(t *testing.T) {
	t.Parallel()
	topo := crashTopology()
	r := newRig(t, sharedURL, topo, Options{Shards: 2, ExpiryInterval: time.Hour})
	var inShard [2]string
	for i := 0; inShard[0] == "" || inShard[1] == ""; i++ {
		e := fmt.Sprintf("e%d", i)
		if s := r.p.names.shardOf(e); inShard[s] == "" {
			inShard[s] = e
		}
	}
	at := time.Now().Add(500 * time.Millisecond)
	for _, e := range inShard {
		commitTo(t, r.p, e, provider.Commit{Events: evs(1), ExpireAt: at})
	}
	r.crash()

	// The same store, owning shard 0 only.
	r.opts.ExpiryInterval = 50 * time.Millisecond
	r.opts.OwnedShards = []int{0}
	r.start(t)
	within(t, "the owned shard's entity expires", func() bool { return !exists(t, r.p, inShard[0]) })
	// Several sweeps later, the other shard's entity is still there.
	time.Sleep(10 * r.opts.ExpiryInterval)
	if !exists(t, r.p, inShard[1]) || logRecords(t, r.p, inShard[1]) != 1 {
		t.Fatal("an entity of a shard this process does not own was expired")
	}
	r.crash()

	r.opts.OwnedShards = []int{0, 1}
	r.start(t)
	within(t, "the now owned shard's entity expires", func() bool { return !exists(t, r.p, inShard[1]) })
}

// TestExpirySurvivesASnapshotAndTrim: a store restored from a shard
// snapshot, whose log was trimmed below it (the records that set the
// expiries are gone), still carries the expiries out.
func TestExpirySurvivesASnapshotAndTrim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t, sharedURL, crashTopology(), Options{Shards: 2, SnapshotRecords: -1, ExpiryInterval: time.Hour})
	at := time.Now().Add(time.Second)
	commitTo(t, r.p, "mortal", provider.Commit{Events: evs(1)})
	commitTo(t, r.p, "mortal", provider.Commit{Events: evs(2), ExpireAt: at})
	for part := range uint64(3) {
		c := provider.Commit{Partition: part, Events: evs(1)}
		if part == 2 {
			c.ExpirePartitions = provider.PartitionExpiry{Below: 2, At: at}
		}
		commitTo(t, r.p, "eternal", c)
	}
	commitTo(t, r.p, "eternal", provider.Commit{Partition: 2, Events: evs(2)}) // the expiry's record is not the last
	awaitSettled(t, r.p)
	for shard := range 2 {
		if _, err := r.p.SnapshotShard(ctx, shard); err != nil {
			t.Fatalf("snapshot shard %d: %v", shard, err)
		}
	}
	if n := logRecords(t, r.p, "eternal"); n != 1 {
		t.Fatalf("eternal keeps %d log records after the trim, want 1", n)
	}
	r.crash()

	r.dir = t.TempDir()
	r.opts.ExpiryInterval = 50 * time.Millisecond
	r.start(t)
	if rec := r.p.Recovered().Records; rec != 0 {
		t.Fatalf("the rebuild replayed %d records; want the snapshot restored and nothing replayed", rec)
	}
	within(t, "mortal expires", func() bool { return !exists(t, r.p, "mortal") })
	within(t, "eternal's partitions 0 and 1 expire", func() bool {
		for part := range uint64(2) {
			if h, err := r.p.History(ctx, "eternal", part); err != nil || len(h) != 0 {
				return false
			}
		}
		return true
	})
	if h, err := r.p.History(ctx, "eternal", 2); err != nil || !eventsEqual(h, evs(1, 2)) {
		t.Fatalf("eternal's current partition = %v, %v; want events 1, 2", h, err)
	}
}
