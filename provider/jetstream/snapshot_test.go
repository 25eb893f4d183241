package jetstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/provider"
)

// entityState is what a test compares of one entity before and after a
// rebuild.
type snapState struct {
	history  []string
	metadata provider.Metadata
}

// runRounds sends one message per round to each entity and commits each
// as an event numbered after the entity's history, with metadata naming
// the round: every entity ends with rounds events and several log records.
func runRounds(t *testing.T, p *Provider, entities []string, from, rounds int) {
	t.Helper()
	ctx := context.Background()
	for round := from; round < from+rounds; round++ {
		for _, e := range entities {
			id := fmt.Sprintf("r%d", round)
			if err := p.Send(ctx, provider.Outgoing{Queue: qMain, Message: provider.Message{ID: id, Entity: e, Data: []byte(id)}}); err != nil {
				t.Fatal(err)
			}
		}
		for left := len(entities); left > 0; {
			b := fetchWithin(t, p, qMain, 10*time.Second)
			if b == nil {
				t.Fatalf("round %d: %d entities not fetched", round, left)
			}
			next := uint64(len(b.History)) + 1
			c := provider.Commit{Partition: b.Partition, SetMetadata: provider.Metadata{"color": fmt.Sprintf("round-%d", round)}}
			for i, m := range b.Messages {
				c.Events = append(c.Events, provider.Event{Seq: next + uint64(i), Data: []byte(m.ID)})
			}
			if err := p.Commit(ctx, b.Lock, c); errors.Is(err, provider.ErrLockLost) {
				// Fenced (a trimmed tombstone the store still held):
				// the messages come back.
				continue
			} else if err != nil {
				t.Fatalf("commit %s: %v", b.Lock.Entity, err)
			}
			left -= len(b.Messages)
		}
	}
}

// states reads the entities' history and metadata.
func states(t *testing.T, p *Provider, entities []string) map[string]snapState {
	t.Helper()
	ctx := context.Background()
	out := map[string]snapState{}
	for _, e := range entities {
		hist, err := p.History(ctx, e, 0)
		if err != nil {
			t.Fatalf("history of %s: %v", e, err)
		}
		md, err := p.Metadata(ctx, e)
		if errors.Is(err, provider.ErrNotFound) {
			md = nil
		} else if err != nil {
			t.Fatalf("metadata of %s: %v", e, err)
		}
		st := snapState{metadata: md}
		for _, ev := range hist {
			st.history = append(st.history, fmt.Sprintf("%d:%s", ev.Seq, ev.Data))
		}
		out[e] = st
	}
	return out
}

func compareStates(t *testing.T, got, want map[string]snapState) {
	t.Helper()
	for e, w := range want {
		g := got[e]
		if !slices.Equal(g.history, w.history) || !maps.Equal(g.metadata, w.metadata) {
			t.Errorf("%s after rebuild: history %v metadata %v; want %v %v", e, g.history, g.metadata, w.history, w.metadata)
		}
	}
}

// recordsPerEntity counts the log records of each entity subject at or
// below seq.
func recordsPerEntity(t *testing.T, p *Provider, shard int, seq uint64) map[string]int {
	t.Helper()
	ctx := context.Background()
	cons, err := p.logStream.OrderedConsumer(ctx, natsjs.OrderedConsumerConfig{
		FilterSubjects: []string{p.names.logShardFilter(shard)}, HeadersOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for {
		m, err := cons.Next(natsjs.FetchMaxWait(time.Second))
		if errors.Is(err, natsjs.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		meta, _ := m.Metadata()
		if meta.Sequence.Stream > seq {
			return out
		}
		if _, mark, _ := p.names.parseLogSubject(m.Subject()); !mark {
			out[m.Subject()]++
		}
	}
}

// entityNames returns n entity names.
func entityNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("ent-%d", i)
	}
	return out
}

// TestSnapshotTrimsTheLogAndRebuildsFromIt snapshots both shards, checks
// that each entity keeps one record at or below the snapshot, rebuilds the
// store from nothing (a new Pebble directory) and finds every entity as it
// was, the deleted ones still deleted, having replayed only the records
// above the snapshots; commits on the rebuilt store pass the log's
// compare-and-set (each entity's last record was kept).
func TestSnapshotTrimsTheLogAndRebuildsFromIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opts := Options{Shards: 2, SnapshotRecords: -1}
	r := newRig(t, sharedURL, crashTopology(), opts)
	entities := entityNames(12)
	runRounds(t, r.p, entities, 0, 3)
	if err := r.p.DeleteEntity(ctx, "ent-0"); err != nil {
		t.Fatal(err)
	}
	awaitSettled(t, r.p)
	// ent-0's tombstone is past its grace.
	r.p.clock = func() time.Time { return time.Now().Add(time.Hour) }
	infos := map[int]SnapshotInfo{}
	for shard := range 2 {
		info, err := r.p.SnapshotShard(ctx, shard)
		if err != nil {
			t.Fatalf("snapshot shard %d: %v", shard, err)
		}
		if info.Seq == 0 || info.Trimmed != info.Seq || info.Entities == 0 {
			t.Fatalf("snapshot of shard %d = %+v, want a trimmed one", shard, info)
		}
		infos[shard] = info
		for subject, n := range recordsPerEntity(t, r.p, shard, info.Seq) {
			if n != 1 {
				t.Errorf("shard %d: %s keeps %d records at or below the snapshot, want 1", shard, subject, n)
			}
			if subject == r.p.names.logSubject("ent-0") {
				t.Errorf("the tombstone of ent-0 survived its grace")
			}
		}
	}
	if st, _ := r.store.Entity("ent-0"); st.LogSeq != 0 {
		t.Errorf("the store still holds ent-0 after its tombstone was trimmed: %+v", st)
	}
	// Records above the snapshots: one more round, a deletion.
	runRounds(t, r.p, entities[1:], 3, 1)
	if err := r.p.DeleteEntity(ctx, "ent-1"); err != nil {
		t.Fatal(err)
	}
	awaitSettled(t, r.p)
	want := states(t, r.p, entities)
	if len(want["ent-2"].history) != 4 || want["ent-0"].history != nil || want["ent-1"].history != nil {
		t.Fatalf("unexpected state before the rebuild: %v", want)
	}
	r.crash()

	r.dir = t.TempDir()
	r.start(t)
	compareStates(t, states(t, r.p, entities), want)
	if rec := r.p.Recovered().Records; rec > 2*len(entities) {
		t.Errorf("rebuild replayed %d records, want only those above the snapshots (at most %d)", rec, 2*len(entities))
	}
	page, err := r.p.ListEntities(ctx, provider.ListQuery{Key: "color", Value: "round-3"})
	if err != nil || len(page.Entities) != len(entities)-2 {
		t.Errorf("list color=round-3 = %v, %v; want %d entities", page.Entities, err, len(entities)-2)
	}
	// The compare-and-set still fences on each entity's kept last record;
	// the id of ent-0, whose tombstone is gone (the restored snapshot
	// still held it), starts afresh.
	runRounds(t, r.p, append([]string{"ent-0"}, entities[2:]...), 4, 1)
	got := states(t, r.p, entities[:3])
	if len(got["ent-2"].history) != 5 {
		t.Errorf("ent-2 after a commit on the rebuilt store: %v", got["ent-2"].history)
	}
	if want := []string{"1:r4"}; !slices.Equal(got["ent-0"].history, want) {
		t.Errorf("ent-0 started again: history %v, want %v", got["ent-0"].history, want)
	}
	// A snapshot of nothing new is the latest one.
	for shard, before := range infos {
		if got, err := r.p.SnapshotShard(ctx, shard); err != nil || got.Seq <= before.Seq {
			t.Errorf("snapshot of shard %d after more records = %+v, %v; want above %d", shard, got, err, before.Seq)
		}
	}
}

// awaitSettled waits until the provider has settled everything it wrote.
func awaitSettled(t *testing.T, p *Provider) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !p.Settled() {
		if time.Now().After(deadline) {
			t.Fatal("provider not settled")
		}
		// Settling is the mark loop's periodic work: poll.
		time.Sleep(10 * time.Millisecond)
	}
}

// crashWorld kills the provider as a crash would: its NATS connection is
// cut and the server goes down with it (no final dispatch mark, no acks);
// the Pebble store is closed as the process's death would leave it.
func crashWorld(t *testing.T, r *rig, srv *natsembed.Server) {
	t.Helper()
	r.nc.Close()
	srv.Shutdown()
	r.store.Close()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
}

// TestCrashInTheMiddleOfASnapshot stops a snapshot after its chunks are
// stored and before its head is written, then crashes the provider and the
// server. Rebuilt from the log (the half-written snapshot is not current),
// nothing is lost or resurrected; the next snapshot removes the orphaned
// chunks.
func TestCrashInTheMiddleOfASnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	r := newRig(t, srv.ClientURL(), crashTopology(), Options{Shards: 1, SnapshotRecords: -1})
	entities := entityNames(8)
	runRounds(t, r.p, entities, 0, 2)
	awaitSettled(t, r.p)
	if _, err := r.p.SnapshotShard(ctx, 0); err != nil {
		t.Fatal(err)
	}
	runRounds(t, r.p, entities, 2, 2)
	if err := r.p.DeleteEntity(ctx, "ent-3"); err != nil {
		t.Fatal(err)
	}
	awaitSettled(t, r.p)
	want := states(t, r.p, entities)
	first := r.p.shard(0).snap.Seq

	r.p.opts.snapshotFault = snapFaultChunks
	if _, err := r.p.SnapshotShard(ctx, 0); !errors.Is(err, provider.ErrInjectedFault) {
		t.Fatalf("snapshot with a fault = %v", err)
	}
	crashWorld(t, r, srv)

	// Both the old store and a new one rebuild the same state.
	for _, fresh := range []bool{false, true} {
		if fresh {
			r.p.Close()
			r.store.Close()
			r.nc.Close()
			r.dir = t.TempDir()
		}
		r.start(t)
		compareStates(t, states(t, r.p, entities), want)
		if got := r.p.shard(0).snap; got == nil || got.Seq != first {
			t.Errorf("current snapshot after the crash: %+v, want the first (%d)", got, first)
		}
	}
	info, err := r.p.SnapshotShard(ctx, 0)
	if err != nil || info.Seq <= first {
		t.Fatalf("snapshot after the crash = %+v, %v", info, err)
	}
	// Only the new snapshot's chunks are left.
	si, err := r.p.snapStream.Info(ctx, natsjs.WithSubjectFilter(r.p.names.snapChunkFilter(0)))
	if err != nil {
		t.Fatal(err)
	}
	var chunks uint64
	for _, n := range si.State.Subjects {
		chunks += n
	}
	if h := r.p.shard(0).snap; chunks != uint64(h.Chunks) {
		t.Errorf("snapshot stream holds %d chunks, want the current snapshot's %d", chunks, h.Chunks)
	}
	r.p.Close()
	r.store.Close()
	r.nc.Close()
	r.dir = t.TempDir()
	r.start(t)
	compareStates(t, states(t, r.p, entities), want)
}

// TestCrashInTheMiddleOfTrimming stops the trimming under a new snapshot
// halfway, then crashes the provider and the server. A store rebuilt from
// nothing restores the snapshot and finds everything; the old store too;
// the next snapshot pass finishes the trimming.
func TestCrashInTheMiddleOfTrimming(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	r := newRig(t, srv.ClientURL(), crashTopology(), Options{Shards: 1, SnapshotRecords: -1})
	entities := entityNames(10)
	runRounds(t, r.p, entities, 0, 3)
	if err := r.p.DeleteEntity(ctx, "ent-5"); err != nil {
		t.Fatal(err)
	}
	awaitSettled(t, r.p)
	want := states(t, r.p, entities)

	r.p.opts.snapshotFault = snapFaultTrim
	if _, err := r.p.SnapshotShard(ctx, 0); !errors.Is(err, provider.ErrInjectedFault) {
		t.Fatalf("snapshot with a fault = %v", err)
	}
	h := r.p.shard(0).snap
	if h == nil || h.Trimmed >= h.Seq {
		t.Fatalf("head after a trimming fault: %+v, want one not trimmed", h)
	}
	untrimmed := 0
	for _, n := range recordsPerEntity(t, r.p, 0, h.Seq) {
		if n > 1 {
			untrimmed++
		}
	}
	if untrimmed == 0 || untrimmed == len(entities) {
		t.Fatalf("%d entities untrimmed after the fault, want some", untrimmed)
	}
	crashWorld(t, r, srv)

	old := r.dir
	for _, dir := range []string{t.TempDir(), old} {
		r.dir = dir
		r.start(t)
		compareStates(t, states(t, r.p, entities), want)
		if dir != old {
			r.p.Close()
			r.store.Close()
			r.nc.Close()
		}
	}
	info, err := r.p.SnapshotShard(ctx, 0)
	if err != nil || info.Trimmed != info.Seq || info.Seq != h.Seq {
		t.Fatalf("snapshot pass after the crash = %+v, %v; want the same snapshot, trimmed", info, err)
	}
	for subject, n := range recordsPerEntity(t, r.p, 0, h.Seq) {
		if n != 1 {
			t.Errorf("%s keeps %d records at or below the snapshot, want 1", subject, n)
		}
	}
	runRounds(t, r.p, entities, 3, 1)
	if got := states(t, r.p, entities[:1]); len(got["ent-0"].history) != 4 {
		t.Errorf("ent-0 after a commit: %v", got["ent-0"].history)
	}
}

// TestCrashBetweenTombstonePurgeAndForget stops the trimming of a tombstone
// past its grace after the log subject is purged and before the store
// forgets the entity, crashes, and restarts over the same store: the
// stored tombstone meets an empty subject, and a new entity of the same id
// commits (after one fenced attempt), from nothing.
func TestCrashBetweenTombstonePurgeAndForget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	r := newRig(t, srv.ClientURL(), crashTopology(), Options{Shards: 1, SnapshotRecords: -1})
	runRounds(t, r.p, []string{"gone", "kept"}, 0, 2)
	if err := r.p.DeleteEntity(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	awaitSettled(t, r.p)
	r.p.clock = func() time.Time { return time.Now().Add(time.Hour) }
	r.p.opts.snapshotFault = snapFaultForget
	if _, err := r.p.SnapshotShard(ctx, 0); !errors.Is(err, provider.ErrInjectedFault) {
		t.Fatalf("snapshot with a fault = %v", err)
	}
	if _, err := r.p.logStream.GetLastMsgForSubject(ctx, r.p.names.logSubject("gone")); !errors.Is(err, natsjs.ErrMsgNotFound) {
		t.Fatalf("tombstone of gone after the purge: %v", err)
	}
	crashWorld(t, r, srv)
	r.start(t)
	if st, _ := r.store.Entity("gone"); st.LogSeq == 0 || st.Exists {
		t.Fatalf("store state of gone after the crash = %+v, want its tombstone", st)
	}
	runRounds(t, r.p, []string{"gone", "kept"}, 2, 1)
	got := states(t, r.p, []string{"gone", "kept"})
	if want := []string{"1:r2"}; !slices.Equal(got["gone"].history, want) {
		t.Errorf("gone started again: history %v, want %v", got["gone"].history, want)
	}
	if len(got["kept"].history) != 3 {
		t.Errorf("kept: history %v, want 3 events", got["kept"].history)
	}
	// The next pass finishes the trimming under the same snapshot.
	r.p.clock = func() time.Time { return time.Now().Add(time.Hour) }
	if info, err := r.p.SnapshotShard(ctx, 0); err != nil || info.Trimmed != info.Seq {
		t.Errorf("snapshot pass after the crash = %+v, %v", info, err)
	}
}

// TestSnapshotsAreTakenInTheBackground sets a low record threshold: the
// provider snapshots its shard and trims the log by itself, and
// StorageStats reports the snapshot and a tail below the threshold.
func TestSnapshotsAreTakenInTheBackground(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t, sharedURL, crashTopology(), Options{Shards: 1, SnapshotRecords: 10, snapshotCheck: 10 * time.Millisecond})
	entities := entityNames(6)
	runRounds(t, r.p, entities, 0, 3)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := r.p.StorageStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Shards) != 1 {
			t.Fatalf("storage of %d shards, want 1: %+v", len(st.Shards), st)
		}
		s := st.Shards[0]
		if s.Snapshot.Seq > 0 && s.Snapshot.Trimmed == s.Snapshot.Seq && s.TailRecords < 10 && st.SnapshotBytes > 0 {
			if s.Snapshot.Entities != len(entities) || s.Snapshot.Taken.IsZero() {
				t.Errorf("snapshot %+v, want %d entities", s.Snapshot, len(entities))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no background snapshot: %+v", st)
		}
		// The snapshot loop runs on its own clock: poll.
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSnapshotOnReplicatedStreams snapshots, trims and rebuilds on a 3-node
// cluster with R3 streams (no direct gets; the head's compare-and-set
// answers with the replicated error code).
func TestSnapshotOnReplicatedStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster: skipped in -short")
	}
	t.Parallel()
	ctx := context.Background()
	c, err := natsembed.StartCluster("snap", 3, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	topo := crashTopology()
	topo.LockTimeout = 3 * time.Second
	r := newRig(t, c.ClientURLs(), topo, Options{Shards: 1, Replicas: 3, SnapshotRecords: -1})
	r.awaitStreamLeaders(t)
	entities := entityNames(5)
	runRounds(t, r.p, entities, 0, 2)
	awaitSettled(t, r.p)
	info, err := r.p.SnapshotShard(ctx, 0)
	if err != nil || info.Seq == 0 || info.Trimmed != info.Seq {
		t.Fatalf("snapshot = %+v, %v", info, err)
	}
	// A head written against a stale previous head is refused.
	stale := *r.p.shard(0).snap
	stale.Seq++
	if err := r.p.writeSnapHead(ctx, &stale, 1); !errors.Is(err, ErrSnapshotSuperseded) {
		t.Errorf("head over a stale one = %v, want ErrSnapshotSuperseded", err)
	}
	want := states(t, r.p, entities)
	r.crash()
	r.dir = t.TempDir()
	r.start(t)
	compareStates(t, states(t, r.p, entities), want)
	if n := r.p.Recovered().Records; n != 0 {
		t.Errorf("rebuild replayed %d records, want 0", n)
	}
}
