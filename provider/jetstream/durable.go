package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// Durability makes what the NATS server has stored durable on demand (see
// Options.Durable). The provider calls it before every acknowledgement it
// gives and before every message it lets go; it does not know how the
// writes are made durable.
type Durability interface {
	// Sync returns once everything the server stored before the call is
	// on stable storage, or with an error.
	Sync(ctx context.Context) error
	// Begin starts what Sync does and returns the wait for it: wait(ctx)
	// returns what Sync would have. The caller does other work meanwhile.
	Begin() (wait func(context.Context) error)
}

// ErrNotDurable wraps a failed Options.Durable sync: what was written may
// not survive a power loss, and was not acknowledged.
var ErrNotDurable = errors.New("jetstream: writes not made durable")

// Where the provider syncs, and why each is enough (Options.Durable):
//
//   - Send, SendNew (every start, raise, terminate, ... of the API): after
//     the publish, before returning. A SendNew that finds the message
//     already sent or consumed syncs too: the copy it found may not be
//     durable yet.
//   - CompleteWork: after the replies are published, before the work
//     message is acked (a result lost with its task acked would be lost
//     work); and after the ack, before returning, so that an activity
//     whose completion returned does not run again after a power loss.
//   - Commit: the sync begins right after the record's publish (the
//     durability point) and is waited for before the consumed deliveries
//     are acked, so apply and dispatch run meanwhile. A failed sync leaves
//     the deliveries un-acked: they come back and are acked as consumed.
//   - Dispatch marks (writeMarks): a mark says the records below it are
//     dispatched; it is published only after a sync that began after the
//     dispatches (and their records, written before them) were written.
//     The store's log watermark is written after the same sync, so it
//     never names a record a power loss can take away.
//   - Deliveries acked because the store records them as consumed
//     (entityqueue.onMessage, ackConsumedBuffered): the store may hold a
//     record whose sync has not finished, so these acks wait for the next
//     mark pass's sync (ackWhenDurable).
//   - Dead-lettering: after the copy to the dead-letter queue, before the
//     original is acked.
//   - Deletion and expiry: the tombstone is synced before the store applies
//     it and the log and queues are purged; DeleteEntity syncs the purges
//     before returning.
//   - Snapshots: the chunks and the head are synced before the log is
//     trimmed below them.
//
// Acks of deliveries whose commit has been synced, InProgress, Nak and Term
// need no sync: losing one after a power loss only brings a message back,
// which is then acked as consumed or handled again.

// syncDurable is Options.Durable.Sync, or nothing without it.
func (p *Provider) syncDurable(ctx context.Context) error {
	if p.opts.Durable == nil {
		return nil
	}
	if err := p.opts.Durable.Sync(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrNotDurable, err)
	}
	return nil
}

// beginDurable is Options.Durable.Begin, or a wait that returns at once.
func (p *Provider) beginDurable() func(context.Context) error {
	if p.opts.Durable == nil {
		return noWait
	}
	return p.opts.Durable.Begin()
}

func noWait(context.Context) error { return nil }

// lateAcks holds deliveries to ack once the next sync has finished.
type lateAcks struct {
	mu   sync.Mutex
	msgs []natsjs.Msg
}

// ackWhenDurable acks m, a delivery the store records as consumed: at once
// without Options.Durable, else after the next mark pass's sync (the
// record that consumed it may not be durable yet).
func (p *Provider) ackWhenDurable(m natsjs.Msg) {
	if p.opts.Durable == nil {
		_ = m.Ack()
		return
	}
	p.late.mu.Lock()
	p.late.msgs = append(p.late.msgs, m)
	p.late.mu.Unlock()
}

// takeLateAcks returns the deliveries waiting for a sync.
func (p *Provider) takeLateAcks() []natsjs.Msg {
	p.late.mu.Lock()
	defer p.late.mu.Unlock()
	msgs := p.late.msgs
	p.late.msgs = nil
	return msgs
}
