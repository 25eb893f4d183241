package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

const (
	qMain = "entities"
	qWork = "work"
)

func crashTopology() provider.Topology {
	return provider.Topology{
		EntityQueues: []string{qMain},
		IndexedKeys:  []string{"color"},
		LockTimeout:  time.Second,
	}
}

func evs(seqs ...uint64) []provider.Event {
	out := make([]provider.Event, len(seqs))
	for i, s := range seqs {
		out[i] = provider.Event{Seq: s, Data: []byte(fmt.Sprintf("event-%d", s))}
	}
	return out
}

// turnCommit is the commit every crash test makes for entity "x": two
// events, metadata, and two outgoing messages (one to another entity, one
// to a work queue), so that a fault midway through dispatch leaves one
// sent and one not.
func turnCommit() provider.Commit {
	return provider.Commit{
		Events:      evs(1, 2),
		SetMetadata: provider.Metadata{"color": "red"},
		Send: []provider.Outgoing{
			{Queue: qMain, Message: provider.Message{ID: "to-y", Entity: "y", Data: []byte("hello y")}},
			{Queue: qWork, Message: provider.Message{ID: "job-1", Entity: "x", Data: []byte("job")}},
		},
	}
}

func fetchWithin(t *testing.T, p *Provider, queue string, d time.Duration) *provider.EntityBatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	b, err := p.FetchEntity(ctx, queue)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatalf("FetchEntity: %v", err)
	}
	return b
}

func fetchWorkWithin(t *testing.T, p *Provider, queue string, d time.Duration) *provider.WorkItem {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	w, err := p.FetchWork(ctx, queue)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatalf("FetchWork: %v", err)
	}
	return w
}

func depth(t *testing.T, p *Provider, queue string) int {
	t.Helper()
	n, err := p.QueueDepth(context.Background(), queue)
	if err != nil {
		t.Fatalf("QueueDepth(%s): %v", queue, err)
	}
	return n
}

// drainLog records what a drain after a restart received.
type drainLog struct {
	batches  map[string][]string // entity -> message ids, one entry per delivery
	workIDs  []string
	xRetried bool
}

// drain processes everything until both queues are empty: entity "x"
// gets turnCommit again (only legitimate if the first one never happened),
// any other entity an empty commit, work items are completed.
func drain(t *testing.T, p *Provider) drainLog {
	t.Helper()
	log := drainLog{batches: map[string][]string{}}
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for depth(t, p, qMain)+depth(t, p, qWork) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queues did not drain: %d in %s, %d in %s", depth(t, p, qMain), qMain, depth(t, p, qWork), qWork)
		}
		if b := fetchWithin(t, p, qMain, 300*time.Millisecond); b != nil {
			for _, m := range b.Messages {
				log.batches[b.Lock.Entity] = append(log.batches[b.Lock.Entity], m.ID)
			}
			c := provider.Commit{Partition: b.Partition}
			if b.Lock.Entity == "x" {
				c = turnCommit()
				log.xRetried = true
			}
			if err := p.Commit(ctx, b.Lock, c); err != nil {
				t.Fatalf("commit %q: %v", b.Lock.Entity, err)
			}
		}
		if w := fetchWorkWithin(t, p, qWork, 100*time.Millisecond); w != nil {
			log.workIDs = append(log.workIDs, w.Message.ID)
			if err := p.CompleteWork(ctx, w.Lock, nil); err != nil {
				t.Fatalf("complete work: %v", err)
			}
		}
	}
	return log
}

// TestCrashAtEveryCommitStep fails the commit at each step, crashes the
// provider (no cleanup a crash would not do), starts a new one over the same
// NATS streams and Pebble directory, and checks that the commit happened
// exactly once: every event once, the trigger consumed once, each outgoing
// message delivered once, and the queues drain.
func TestCrashAtEveryCommitStep(t *testing.T) {
	for _, step := range commitSteps {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, sharedURL, crashTopology(), Options{Shards: 4})
			ctx := context.Background()
			if err := r.p.Send(ctx, provider.Outgoing{Queue: qMain, Message: provider.Message{ID: "trigger", Entity: "x", Data: []byte("go")}}); err != nil {
				t.Fatal(err)
			}
			b := fetchWithin(t, r.p, qMain, 10*time.Second)
			if b == nil || b.Lock.Entity != "x" {
				t.Fatalf("fetch: got %+v", b)
			}
			r.p.FailNextCommitAt(step)
			err := r.p.Commit(ctx, b.Lock, turnCommit())
			if !errors.Is(err, provider.ErrInjectedFault) {
				t.Fatalf("Commit at %s = %v, want ErrInjectedFault", step, err)
			}
			r.crash()

			r.start(t)
			got := drain(t, r.p)

			durable := step != stepPublish
			if got.xRetried == durable {
				t.Errorf("entity x fetched again after restart: %v, want %v (commit durable: %v)", got.xRetried, !durable, durable)
			}
			if want := []string{"to-y"}; !slices.Equal(got.batches["y"], want) {
				t.Errorf("y received %q, want %q", got.batches["y"], want)
			}
			if want := []string{"job-1"}; !slices.Equal(got.workIDs, want) {
				t.Errorf("work received %q, want %q", got.workIDs, want)
			}
			hist, err := r.p.History(ctx, "x", 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := evs(1, 2); !eventsEqual(hist, want) {
				t.Errorf("history of x = %v, want %v", hist, want)
			}
			md, err := r.p.Metadata(ctx, "x")
			if err != nil || md["color"] != "red" {
				t.Errorf("metadata of x = %v, %v; want color=red", md, err)
			}
			// Nothing is left behind: the trigger was acked (consumed)
			// and no further delivery of anything arrives.
			if b := fetchWithin(t, r.p, qMain, 2*r.topo.LockTimeout); b != nil {
				t.Errorf("unexpected batch after drain: %s %v", b.Lock.Entity, b.Messages)
			}
		})
	}
}

func eventsEqual(a, b []provider.Event) bool {
	return slices.EqualFunc(a, b, func(x, y provider.Event) bool {
		return x.Seq == y.Seq && string(x.Data) == string(y.Data)
	})
}

// TestCrashDuringRecovery leaves several commit records in the log but not
// in the store (crash before apply), then crashes the recovery after one
// record, then recovers fully: every commit applied once, in order.
func TestCrashDuringRecovery(t *testing.T) {
	t.Parallel()
	// The failed commits are left to recovery: settled in the background
	// (and their dispatch marked) before the crash, there would be nothing
	// to replay.
	r := newRig(t, sharedURL, crashTopology(), Options{Shards: 2, noCompleter: true})
	ctx := context.Background()
	entities := []string{"a", "b", "c", "d"}
	for _, e := range entities {
		if err := r.p.Send(ctx, provider.Outgoing{Queue: qMain, Message: provider.Message{ID: "m-" + e, Entity: e}}); err != nil {
			t.Fatal(err)
		}
	}
	for range entities {
		b := fetchWithin(t, r.p, qMain, 10*time.Second)
		if b == nil {
			t.Fatal("fetch: nothing")
		}
		r.p.FailNextCommitAt(stepApply)
		c := provider.Commit{Events: evs(1), SetMetadata: provider.Metadata{"color": "blue"}}
		if err := r.p.Commit(ctx, b.Lock, c); !errors.Is(err, provider.ErrInjectedFault) {
			t.Fatalf("commit: %v", err)
		}
	}
	r.crash()

	// First restart: recovery stops after one record.
	r.opts.recoveryFault = 1
	r.nc = connect(t, r.url)
	r.store = openStore(t, r.dir, r.topo)
	if _, err := New(ctx, r.nc, r.store, r.topo, r.opts); !errors.Is(err, provider.ErrInjectedFault) {
		t.Fatalf("New with a recovery fault = %v, want ErrInjectedFault", err)
	}
	r.store.Close()
	r.nc.Close()

	r.opts.recoveryFault, r.opts.noCompleter = 0, false
	r.start(t)
	for _, e := range entities {
		hist, err := r.p.History(ctx, e, 0)
		if err != nil || !eventsEqual(hist, evs(1)) {
			t.Errorf("history of %s = %v, %v; want one event", e, hist, err)
		}
	}
	page, err := r.p.ListEntities(ctx, provider.ListQuery{Key: "color", Value: "blue"})
	if err != nil || !slices.Equal(page.Entities, entities) {
		t.Errorf("list color=blue = %v, %v; want %v", page.Entities, err, entities)
	}
	// The triggers were consumed by the recovered commits: they come back
	// after the lock timeout and are acked without being returned.
	if b := fetchWithin(t, r.p, qMain, 3*r.topo.LockTimeout); b != nil {
		t.Errorf("consumed trigger returned again: %s %v", b.Lock.Entity, b.Messages)
	}
	if n := depth(t, r.p, qMain); n != 0 {
		t.Errorf("depth after recovery = %d, want 0", n)
	}
}
