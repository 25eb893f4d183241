package jetstream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// The one tailer of the owned shards starts over at each change of
// ownership: every record of an owned shard is still noted in its shard
// exactly once (a record noted twice would be counted twice; one missed
// would leave its commit unsettled), and a released shard's records are no
// longer noted anywhere.
func TestTailerNotesEachRecordOnceAcrossOwnershipChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const shards = 3
	r := newRig(t, sharedURL, crashTopology(), Options{Shards: shards, OwnedShards: []int{}})
	p := r.p

	// One entity per shard.
	entity := map[int]string{}
	for i := 0; len(entity) < shards; i++ {
		e := fmt.Sprintf("e%d", i)
		if _, ok := entity[p.ShardOf(e)]; !ok {
			entity[p.ShardOf(e)] = e
		}
	}
	events := map[string]uint64{}
	written := map[int]uint64{} // records per shard since it was acquired
	commit := func(shard int) {
		t.Helper()
		e := entity[shard]
		events[e]++
		send(t, p, qMain, fmt.Sprintf("%s-%d", e, events[e]), e)
		b := fetchWithin(t, p, qMain, 10*time.Second)
		if b == nil || b.Lock.Entity != e {
			t.Fatalf("fetch for %s: %+v", e, b)
		}
		if err := p.Commit(ctx, b.Lock, provider.Commit{Events: evs(events[e])}); err != nil {
			t.Fatalf("commit %s: %v", e, err)
		}
		written[shard]++
	}
	acquire := func(shard int) {
		t.Helper()
		if err := p.AcquireShard(ctx, shard); err != nil {
			t.Fatalf("acquire %d: %v", shard, err)
		}
		written[shard] = 0
	}

	// Each new generation starts below some shard's position: at
	// acquire(2) shard 0 is behind shard 1, at the release shard 2 (no
	// record yet) is behind shard 0.
	acquire(0)
	commit(0)
	acquire(1)
	commit(0)
	commit(1)
	acquire(2)
	commit(0)
	commit(0)
	awaitSettled(t, p)
	released := p.shard(1)
	if err := p.ReleaseShard(ctx, 1, false); err != nil {
		t.Fatalf("release 1: %v", err)
	}
	commit(0)
	commit(2)
	awaitSettled(t, p)

	for _, shard := range []int{0, 2} {
		sh := p.shard(shard)
		sh.tailCount.mu.Lock()
		noted := sh.tailCount.cumR
		sh.tailCount.mu.Unlock()
		if noted != written[shard] {
			t.Errorf("shard %d: the tailer noted %d records, %d were written", shard, noted, written[shard])
		}
		last, err := p.logStream.GetLastMsgForSubject(ctx, p.names.logSubject(entity[shard]))
		if err != nil {
			t.Fatalf("last record of shard %d: %v", shard, err)
		}
		if pos := sh.tailPos.Load(); pos < last.Sequence {
			t.Errorf("shard %d: tailer at %d, below the shard's last record at %d", shard, pos, last.Sequence)
		}
	}
	released.tailCount.mu.Lock()
	noted := released.tailCount.cumR
	released.tailCount.mu.Unlock()
	if noted != written[1] {
		t.Errorf("released shard 1: the tailer noted %d records, %d were written while it was owned", noted, written[1])
	}
}
