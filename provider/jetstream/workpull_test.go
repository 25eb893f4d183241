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

func pullTopology(lock time.Duration) provider.Topology {
	return provider.Topology{EntityQueues: []string{qMain}, LockTimeout: lock}
}

// statelessBeside builds a provider with no store over r's streams, on its
// own connection.
func statelessBeside(t *testing.T, r *rig) *Provider {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, connect(t, sharedURL), nil, r.topo,
		Options{Prefix: r.opts.Prefix, Shards: r.opts.Shards, OwnedShards: []int{}, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("New without a store: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// puller returns the provider's puller of queue (nil before its first
// FetchWork).
func (p *Provider) puller(queue string) *workPuller {
	p.work.mu.Lock()
	defer p.work.mu.Unlock()
	return p.work.pullers[queue]
}

// awaitPuller polls the puller of queue until cond holds (under its lock).
func awaitPuller(t *testing.T, p *Provider, queue, what string, cond func(q *workPuller) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if q := p.puller(queue); q != nil {
			q.mu.Lock()
			ok := cond(q)
			q.mu.Unlock()
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("work queue %q: %s: not within 30 s", queue, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leaveUnclaimed makes the puller of qWork hold a delivery of id that no
// fetch waits for: a fetch gives up while its pull request is still on the
// server, then the message is sent.
func leaveUnclaimed(t *testing.T, p *Provider, id string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := p.FetchWork(ctx, qWork)
		done <- err
	}()
	awaitPuller(t, p, qWork, "a pull request in flight", func(q *workPuller) bool { return q.pending > 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled FetchWork: %v, want context.Canceled", err)
	}
	send := provider.Outgoing{Queue: qWork, Message: provider.Message{ID: id, Entity: "e", Data: []byte("job")}}
	if err := p.Send(t.Context(), send); err != nil {
		t.Fatal(err)
	}
	awaitPuller(t, p, qWork, "a delivery nobody waits for", func(q *workPuller) bool { return len(q.unclaimed) == 1 })
}

// TestDeliveryOfAGivenUpFetchGoesToTheNextFetch: a delivery that arrives
// after its fetch gave up is handed to the next fetch as a first attempt.
func TestDeliveryOfAGivenUpFetchGoesToTheNextFetch(t *testing.T) {
	t.Parallel()
	r := newRig(t, sharedURL, pullTopology(time.Minute), Options{Shards: 1})
	leaveUnclaimed(t, r.p, "job-1")
	start := time.Now()
	w := fetchWorkWithin(t, r.p, qWork, 30*time.Second)
	if w == nil {
		t.Fatal("the held delivery was not fetched")
	}
	if w.Message.ID != "job-1" || w.Message.Attempt != 1 {
		t.Fatalf("fetched %q attempt %d, want job-1 attempt 1", w.Message.ID, w.Message.Attempt)
	}
	// Its lock runs from before its reception, not from this fetch.
	if !w.LockedUntil.Before(start.Add(r.topo.LockTimeout)) {
		t.Fatalf("LockedUntil %v is not before the fetch's start plus the lock timeout (%v)", w.LockedUntil, start.Add(r.topo.LockTimeout))
	}
	if err := r.p.CompleteWork(t.Context(), w.Lock, nil); err != nil {
		t.Fatalf("CompleteWork: %v", err)
	}
}

// TestUnclaimedDeliveryIsReleasedAfterAWhile: a delivery no fetch takes is
// Nak'ed after a fraction of the lock timeout, and comes back with its
// delivery count increased.
func TestUnclaimedDeliveryIsReleasedAfterAWhile(t *testing.T) {
	t.Parallel()
	r := newRig(t, sharedURL, pullTopology(1500*time.Millisecond), Options{Shards: 1})
	leaveUnclaimed(t, r.p, "job-1")
	awaitPuller(t, r.p, qWork, "the delivery released", func(q *workPuller) bool { return len(q.unclaimed) == 0 })
	w := fetchWorkWithin(t, r.p, qWork, 30*time.Second)
	if w == nil || w.Message.ID != "job-1" || w.Message.Attempt != 2 {
		t.Fatalf("fetched %+v, want job-1 attempt 2", w)
	}
}

// TestCloseReleasesUnclaimedDeliveries: Close Nak's the deliveries nobody
// fetched, so another process gets them at once, not after the lock
// timeout (a minute here, longer than the fetch waits).
func TestCloseReleasesUnclaimedDeliveries(t *testing.T) {
	t.Parallel()
	r := newRig(t, sharedURL, pullTopology(time.Minute), Options{Shards: 1})
	other := statelessBeside(t, r)
	leaveUnclaimed(t, r.p, "job-1")
	r.p.Close()
	if _, err := r.p.FetchWork(t.Context(), qWork); !errors.Is(err, provider.ErrClosed) {
		t.Fatalf("FetchWork after Close: %v, want ErrClosed", err)
	}
	w := fetchWorkWithin(t, other, qWork, 30*time.Second)
	if w == nil || w.Message.ID != "job-1" || w.Message.Attempt != 2 {
		t.Fatalf("other process fetched %+v, want job-1 attempt 2", w)
	}
}

// TestWorkLockEndsNoLaterThanTheServersAckWait: without renewal, the
// provider's lock has expired by the time the server redelivers the
// message, so the first holder cannot complete what another one holds.
func TestWorkLockEndsNoLaterThanTheServersAckWait(t *testing.T) {
	t.Parallel()
	r := newRig(t, sharedURL, pullTopology(500*time.Millisecond), Options{Shards: 1})
	send := provider.Outgoing{Queue: qWork, Message: provider.Message{ID: "job-1", Entity: "e", Data: []byte("job")}}
	if err := r.p.Send(t.Context(), send); err != nil {
		t.Fatal(err)
	}
	first := fetchWorkWithin(t, r.p, qWork, 30*time.Second)
	again := fetchWorkWithin(t, r.p, qWork, 30*time.Second)
	redelivered := time.Now()
	if first == nil || again == nil || again.Message.Attempt != 2 {
		t.Fatalf("fetched %+v then %+v, want job-1 attempts 1 and 2", first, again)
	}
	if redelivered.Before(first.LockedUntil) {
		t.Fatalf("the server redelivered at %v, before the first lock's end %v", redelivered, first.LockedUntil)
	}
	err := r.p.CompleteWork(t.Context(), first.Lock, nil)
	if !errors.Is(err, provider.ErrLockLost) {
		t.Fatalf("CompleteWork under the expired lock: %v, want ErrLockLost", err)
	}
	if err := r.p.CompleteWork(t.Context(), again.Lock, nil); err != nil {
		t.Fatalf("CompleteWork under the current lock: %v", err)
	}
}

// TestFetchWorkSendsOneMessagePerTask: with one fetch at a time, a fetch
// sends at most one message to the server (its pull request: no
// subscription of its own, no InProgress), and the provider keeps one
// subscription per work queue.
func TestFetchWorkSendsOneMessagePerTask(t *testing.T) {
	t.Parallel()
	r := newRig(t, sharedURL, pullTopology(time.Minute), Options{Shards: 1})
	worker := statelessBeside(t, r)
	const tasks = 20
	for i := range tasks {
		send := provider.Outgoing{Queue: qWork, Message: provider.Message{ID: fmt.Sprintf("job-%d", i), Entity: "e", Data: []byte("job")}}
		if err := r.p.Send(t.Context(), send); err != nil {
			t.Fatal(err)
		}
	}
	subs := worker.nc.NumSubscriptions()
	for i := range tasks {
		before := worker.nc.Stats().OutMsgs
		w := fetchWorkWithin(t, worker, qWork, 30*time.Second)
		sent := worker.nc.Stats().OutMsgs - before
		if w == nil {
			t.Fatalf("task %d not fetched", i)
		}
		if i > 0 && sent > 1 { // the first one also looks the consumer up
			t.Fatalf("fetch %d sent %d messages, want at most 1", i, sent)
		}
		if err := worker.CompleteWork(t.Context(), w.Lock, nil); err != nil {
			t.Fatalf("CompleteWork: %v", err)
		}
	}
	if n := worker.nc.NumSubscriptions() - subs; n != 1 {
		t.Fatalf("%d subscriptions more after %d fetches of one queue, want 1", n, tasks)
	}
}

// TestFetchWorkFailsWhenItsConsumerIsDeleted: a fetch waiting on a work
// queue whose consumer is deleted fails with natsjs.ErrConsumerDeleted.
func TestFetchWorkFailsWhenItsConsumerIsDeleted(t *testing.T) {
	t.Parallel()
	r := newRig(t, sharedURL, pullTopology(time.Minute), Options{Shards: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.p.FetchWork(ctx, qWork)
		done <- err
	}()
	// The request waits on the server (a request that comes after the
	// deletion gets no responders, and is repeated).
	cons := r.p.names.workConsumer(qWork)
	for {
		c, err := r.p.js.Consumer(ctx, r.p.names.workStream(), cons)
		if err == nil {
			info, err := c.Info(ctx)
			if err == nil && info.NumWaiting > 0 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatal("no pull request waits on the server")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.p.js.DeleteConsumer(ctx, r.p.names.workStream(), r.p.names.workConsumer(qWork)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, natsjs.ErrConsumerDeleted) {
		t.Fatalf("FetchWork while its consumer is deleted: %v, want ErrConsumerDeleted", err)
	}
}
