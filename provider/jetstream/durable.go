package jetstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider/pebble"
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
	// BeginSoon is Begin for a caller that can wait up to d for a sync
	// someone else starts: wait(ctx) returns once everything stored
	// before the call is on stable storage.
	BeginSoon(d time.Duration) (wait func(context.Context) error)
}

// soonSyncDelay is how long Send, SendNew, CompleteWork and a commit that
// sends messages wait for a sync someone else starts (Durability.BeginSoon)
// before starting one: what they store (a start, an event, a result, a
// task) is consumed by a commit soon, whose sync then covers it too, and a
// sync of their own started just before that commit's would hold the
// commit's back by a whole flush. Measured with hello at one in flight:
// 4.24 flushes per instance with every sync started at once, 3.09 with
// CompleteWork's waiting 1 ms, 2.1 with Send's and SendNew's too, 1.07
// with the commits that send waiting 2 ms as well (1 ms: 1.34; a hello's
// path from start to last commit is about a millisecond).
const soonSyncDelay = 2 * time.Millisecond

// ErrNotDurable wraps a failed Options.Durable sync: what was written may
// not survive a power loss, and was not acknowledged.
var ErrNotDurable = errors.New("jetstream: writes not made durable")

// Where the provider syncs, and why each is enough (Options.Durable):
//
//   - Send, SendNew (every start, raise, terminate, ... of the API): after
//     the publish, before returning. A SendNew that finds the message
//     already sent or consumed syncs too: the copy it found may not be
//     durable yet. They wait up to soonSyncDelay for a sync someone else
//     starts (the commit that consumes the message).
//   - CompleteWork: after the replies are published, before the work
//     message is acked (a result lost with its task acked would be lost
//     work); and after the ack, before returning, so that an activity
//     whose completion returned does not run again after a power loss.
//     Both wait up to soonSyncDelay for a sync someone else starts (the
//     commit that consumes the result) before starting their own.
//   - Commit: the sync begins right after the record's publish (the
//     durability point) and is waited for before the consumed deliveries
//     are acked, so apply and dispatch run meanwhile. A commit that sends
//     messages waits up to soonSyncDelay for a sync someone else starts
//     (the commits consuming what it sent) before starting its own. A failed sync leaves
//     the deliveries un-acked: they come back and are acked as consumed.
//     The entity's lock is released before the wait: its next commit
//     appends a record after this one (compare-and-set on its sequence),
//     so a sync that makes the next record durable makes this one durable
//     too, and the next commit acks nothing before its own sync.
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
// Options.Durable covers what this provider acknowledges: a worker in
// another process, with its own provider and no Durable, completes its work
// without a sync.
//
// Acks of deliveries whose commit has been synced, of a second stored copy
// of a message already buffered (entityqueue.add: the first copy stays),
// InProgress, Nak and Term need no sync: losing one after a power loss only
// brings a message back, which is then acked as consumed or handled again.

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

// syncDurableSoon is Options.Durable.SyncSoon with soonSyncDelay, or
// nothing without it.
func (p *Provider) syncDurableSoon(ctx context.Context) error {
	if p.opts.Durable == nil {
		return nil
	}
	if err := p.opts.Durable.BeginSoon(soonSyncDelay)(ctx); err != nil {
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

// beginDurableSoon is Options.Durable.BeginSoon with soonSyncDelay, or a
// wait that returns at once.
func (p *Provider) beginDurableSoon() func(context.Context) error {
	if p.opts.Durable == nil {
		return noWait
	}
	return p.opts.Durable.BeginSoon(soonSyncDelay)
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

// resetIfAheadOfLog empties the store's state of shard when the store holds
// a record the log does not: after a power loss, the store's files may have
// reached the disk with a record applied whose own write to the log did not
// (a commit applies its record while the record's sync runs, and a sync in
// progress may write the store's files after the record's). An entity whose
// last log sequence in the store is above its log subject's last message
// is such a case; its next commit would be fenced for ever, and the
// messages its lost record consumed would be dropped as consumed. The
// shard is then rebuilt as a new store's would be: from its snapshot and
// the log. It returns the shard's log watermark to recover from.
//
// Only with Options.Durable: without it, nothing survives a power loss for
// certain, and a process crash cannot put the store ahead (the server has
// every record it acknowledged). The check reads the store's entities of
// the shard, and the log only for those above the log's last sequence when
// New began (normally none).
func (p *Provider) resetIfAheadOfLog(ctx context.Context, shard int, applied uint64) (uint64, error) {
	if p.opts.Durable == nil {
		return applied, nil
	}
	keep := func(e string) bool { return p.names.shardOf(e) == shard }
	type candidate struct {
		entity string
		st     pebble.EntityState
	}
	var cands []candidate
	err := p.store.VisitEntities(keep, func(entity string, st pebble.EntityState) {
		if st.LogSeq > p.logStart {
			cands = append(cands, candidate{entity, st})
		}
	})
	if err != nil {
		return 0, fmt.Errorf("check the store against the log: %w", err)
	}
	ahead := ""
	for _, c := range cands {
		var last uint64
		m, err := p.logStream.GetLastMsgForSubject(ctx, p.names.logSubject(c.entity))
		switch {
		case errors.Is(err, natsjs.ErrMsgNotFound):
			if !c.st.Exists {
				continue // a deleted entity whose tombstone was trimmed (forgetIfTrimmed)
			}
		case err != nil:
			return 0, fmt.Errorf("check the store against the log: %w", err)
		default:
			last = m.Sequence
		}
		if last < c.st.LogSeq {
			ahead = c.entity
			break
		}
	}
	if ahead == "" {
		return applied, nil
	}
	p.log.Warn("the store holds log records the log lost (a power loss): rebuilding the shard from its snapshot and the log",
		"shard", shard, "entity", ahead)
	var empty bytes.Buffer
	if _, err := p.store.WriteSnapshot(&empty, func(string) bool { return false }, func(string, pebble.EntityState) {}); err != nil {
		return 0, fmt.Errorf("reset shard %d: %w", shard, err)
	}
	if _, err := p.store.RestoreSnapshot(&empty, keep, map[string]uint64{logWatermark(shard): 0}); err != nil {
		return 0, fmt.Errorf("reset shard %d: %w", shard, err)
	}
	return 0, nil
}
