package jetstream

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprise/reprise/internal/groupsync"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/pebble"
	"github.com/reprise/reprise/provider/providertest"
)

// TestConformanceDurable runs the suite with every acknowledgement synced
// by a group syncer (syncfs of the filesystem of the shared server's
// store, under the temporary directory).
func TestConformanceDurable(t *testing.T) {
	t.Parallel()
	s, err := groupsync.NewFS(os.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	providertest.Run(t, func(t *testing.T, topo provider.Topology) provider.Provider {
		return newRig(t, sharedURL, topo, Options{Shards: 4, Durable: s}).p
	})
	if s.Flushes() == 0 {
		t.Fatal("no flush in the whole suite")
	}
}

// switchDurable is a Durability whose syncs fail while fail is set and,
// while a gate is set, finish only once the gate is closed (a slow disk
// under the test's control).
type switchDurable struct {
	fail  atomic.Bool
	gate  atomic.Pointer[chan struct{}]
	syncs atomic.Int64
}

var errDiskGone = errors.New("disk gone")

func (d *switchDurable) Sync(ctx context.Context) error { return d.Begin()(ctx) }

func (d *switchDurable) BeginSoon(time.Duration) func(context.Context) error {
	return d.Begin()
}

func (d *switchDurable) Begin() func(context.Context) error {
	d.syncs.Add(1)
	failing, gate := d.fail.Load(), d.gate.Load()
	return func(ctx context.Context) error {
		if gate != nil {
			select {
			case <-*gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if failing {
			return errDiskGone
		}
		return nil
	}
}

// TestWhatIsNotDurableIsNotAcknowledged fails the syncs: Send and Commit
// and CompleteWork report ErrNotDurable, and a commit or completion whose
// sync failed acks nothing; once syncs succeed again, the commit's trigger
// is acked as consumed (not handed out again) and the completion can be
// repeated.
func TestWhatIsNotDurableIsNotAcknowledged(t *testing.T) {
	t.Parallel()
	d := &switchDurable{}
	r := newRig(t, sharedURL, crashTopology(), Options{Shards: 4, Durable: d})
	p := r.p
	ctx := context.Background()
	trigger := provider.Outgoing{Queue: qMain, Message: provider.Message{ID: "trigger", Entity: "x", Data: []byte("go")}}

	d.fail.Store(true)
	if err := p.Send(ctx, trigger); !errors.Is(err, ErrNotDurable) || !errors.Is(err, errDiskGone) {
		t.Fatalf("Send with failing syncs: %v, want ErrNotDurable wrapping the sync's error", err)
	}
	if _, err := p.SendNew(ctx, trigger); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("SendNew with failing syncs: %v, want ErrNotDurable", err)
	}
	d.fail.Store(false)
	before := d.syncs.Load()
	if err := p.Send(ctx, trigger); err != nil {
		t.Fatal(err)
	}
	if d.syncs.Load() == before {
		t.Fatal("Send returned without syncing")
	}

	b := fetchWithin(t, p, qMain, 10*time.Second)
	if b == nil {
		t.Fatal("the trigger was not fetched")
	}
	d.fail.Store(true)
	if err := p.Commit(ctx, b.Lock, turnCommit()); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("Commit with failing syncs: %v, want ErrNotDurable", err)
	}
	if n := depth(t, p, qMain); n < 1 {
		t.Fatalf("the trigger was acked although its commit is not durable (depth %d)", n)
	}
	d.fail.Store(false)
	// The trigger comes back after the lock timeout and is acked as
	// consumed once a sync succeeds; it is never handed out again.
	deadline := time.Now().Add(30 * time.Second)
	for depth(t, p, qMain) > 0 {
		if b := fetchWithin(t, p, qMain, 200*time.Millisecond); b != nil {
			if b.Lock.Entity == "x" {
				t.Fatalf("the consumed trigger was handed out again: %+v", b.Messages)
			}
			if err := p.Commit(ctx, b.Lock, provider.Commit{Partition: b.Partition}); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the consumed trigger was never acked")
		}
	}
	hist, err := p.History(ctx, "x", 0)
	if err != nil || len(hist) != 2 {
		t.Fatalf("history of x: %d events, %v; want the commit's 2", len(hist), err)
	}

	w := fetchWorkWithin(t, p, qWork, 10*time.Second)
	if w == nil {
		t.Fatal("the commit's work message was not fetched")
	}
	reply := []provider.Outgoing{{Queue: qMain, Message: provider.Message{ID: "result", Entity: "x", Data: []byte("done")}}}
	d.fail.Store(true)
	if err := p.CompleteWork(ctx, w.Lock, reply); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("CompleteWork with failing syncs: %v, want ErrNotDurable", err)
	}
	if n := depth(t, p, qWork); n != 1 {
		t.Fatalf("work queue depth %d after a completion that was not durable, want 1 (not acked)", n)
	}
	d.fail.Store(false)
	if err := p.CompleteWork(ctx, w.Lock, reply); err != nil {
		t.Fatalf("repeated CompleteWork: %v", err)
	}
	if n := depth(t, p, qWork); n != 0 {
		t.Fatalf("work queue depth %d after the completion, want 0", n)
	}
}

// TestStoreAheadOfTheLogIsRebuilt: after a power loss the store may hold a
// record that the log lost (its sync had not finished). The next start
// finds the entity above its log subject, rebuilds the shard from the log,
// and the entity commits again instead of being fenced for ever.
func TestStoreAheadOfTheLogIsRebuilt(t *testing.T) {
	t.Parallel()
	r := newRig(t, sharedURL, crashTopology(), Options{Shards: 4, Durable: &switchDurable{}})
	ctx := context.Background()
	if err := r.p.Send(ctx, provider.Outgoing{Queue: qMain, Message: provider.Message{ID: "trigger", Entity: "x", Data: []byte("go")}}); err != nil {
		t.Fatal(err)
	}
	b := fetchWithin(t, r.p, qMain, 10*time.Second)
	if b == nil {
		t.Fatal("the trigger was not fetched")
	}
	if err := r.p.Commit(ctx, b.Lock, provider.Commit{Events: evs(1, 2)}); err != nil {
		t.Fatal(err)
	}
	// The power loss: a later commit of x reached the store, its record
	// not the log.
	info, err := r.p.logStream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lost := &record{kind: kindCommit, entity: "x", events: evs(3), consumed: []string{"next"}}
	if err := r.store.Apply([]pebble.Update{lost.update(info.State.LastSeq + 5)}, nil); err != nil {
		t.Fatal(err)
	}
	r.crash()
	r.start(t)

	hist, err := r.p.History(ctx, "x", 0)
	if err != nil || !eventsEqual(hist, evs(1, 2)) {
		t.Fatalf("history of x after the restart: %v, %v; want the log's events 1 and 2", hist, err)
	}
	if err := r.p.Send(ctx, provider.Outgoing{Queue: qMain, Message: provider.Message{ID: "next", Entity: "x", Data: []byte("again")}}); err != nil {
		t.Fatal(err)
	}
	b = fetchWithin(t, r.p, qMain, 10*time.Second)
	if b == nil || len(b.Messages) != 1 || b.Messages[0].ID != "next" {
		t.Fatalf("fetch after the restart: %+v, want the message the lost record consumed", b)
	}
	if err := r.p.Commit(ctx, b.Lock, provider.Commit{Events: evs(3)}); err != nil {
		t.Fatalf("commit of x after the restart: %v", err)
	}
}

// TestCommitDeferredReturnsBeforeTheSync: with the record's sync held,
// CommitDeferred returns with the commit made (its history readable, its
// messages sent) and the trigger not acked; its wait returns once the sync
// is done, and the trigger is acked then.
func TestCommitDeferredReturnsBeforeTheSync(t *testing.T) {
	t.Parallel()
	d := &switchDurable{}
	p := newRig(t, sharedURL, crashTopology(), Options{Shards: 4, Durable: d}).p
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Send(ctx, provider.Outgoing{Queue: qMain, Message: provider.Message{ID: "trigger", Entity: "x", Data: []byte("go")}}); err != nil {
		t.Fatal(err)
	}
	b := fetchWithin(t, p, qMain, 10*time.Second)
	if b == nil {
		t.Fatal("the trigger was not fetched")
	}
	gate := make(chan struct{})
	d.gate.Store(&gate)
	wait, err := p.CommitDeferred(ctx, b.Lock, turnCommit())
	if err != nil || wait == nil {
		t.Fatalf("CommitDeferred with the sync held: wait %v, err %v; want a wait and no error", wait != nil, err)
	}
	if hist, err := p.History(ctx, "x", 0); err != nil || len(hist) != 2 {
		t.Fatalf("history of x before the sync: %d events, %v; want the commit's 2", len(hist), err)
	}
	if n := depth(t, p, qMain); n != 2 {
		t.Fatalf("entity queue depth %d before the sync, want 2 (the trigger, not acked, and the commit's message to y)", n)
	}
	close(gate)
	if err := wait(ctx); err != nil {
		t.Fatalf("wait after the sync: %v", err)
	}
	if n := depth(t, p, qMain); n != 1 {
		t.Fatalf("entity queue depth %d after the sync, want 1 (the trigger acked)", n)
	}
}
