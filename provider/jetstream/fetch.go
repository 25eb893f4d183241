package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/reprise/reprise/provider"
)

// entityQueue returns the named entity-locked queue.
func (p *Provider) entityQueue(name string) (*entityQueue, error) {
	if q := p.queues[name]; q != nil {
		return q, nil
	}
	if err := provider.ValidateQueueName(name); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %q is not an entity-locked queue", provider.ErrInvalidQueue, name)
}

// FetchEntity blocks until an unlocked entity of queue has buffered
// deliveries, locks it and returns it with its partition, history, metadata
// and every message stored for it when the fetch began.
func (p *Provider) FetchEntity(ctx context.Context, queue string) (*provider.EntityBatch, error) {
	if err := p.checkOpen(); err != nil {
		return nil, err
	}
	q, err := p.entityQueue(queue)
	if err != nil {
		return nil, err
	}
	for {
		q.mu.Lock()
		st := q.popReady()
		if st == nil {
			wake := q.notify
			q.mu.Unlock()
			select {
			case <-wake:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-p.closing:
				return nil, p.closedErr()
			}
		}
		st.reserved = true
		q.mu.Unlock()

		b, err := p.lockBatch(ctx, q, st)
		if err != nil || b != nil {
			return b, err
		}
	}
}

// lockBatch completes and locks the batch of a reserved entity; nil, nil
// when nothing is left to return (the deliveries turned out consumed).
func (p *Provider) lockBatch(ctx context.Context, q *entityQueue, st *entityState) (*provider.EntityBatch, error) {
	unreserve := func() {
		q.mu.Lock()
		st.reserved = false
		q.enqueue(st)
		q.signal()
		q.forget(st)
		q.mu.Unlock()
	}
	entity := st.entity
	if p.needsRepair(entity) {
		if err := p.repair(ctx, entity); err != nil {
			unreserve()
			return nil, err
		}
	}
	if err := p.awaitComplete(ctx, q, st); err != nil {
		unreserve()
		return nil, err
	}

	var renew []*delivery
	q.mu.Lock()
	if len(st.buffered) == 0 {
		st.reserved = false
		q.forget(st)
		q.mu.Unlock()
		return nil, nil
	}
	start := time.Now()
	held := &heldLock{
		token: strconv.FormatUint(p.tokens.Add(1), 36),
		msgs:  st.buffered,
	}
	held.deadline, renew = lockDeadline(held.msgs, start, p.topo.LockTimeout)
	st.buffered = nil
	st.reserved = false
	st.lock = held
	q.mu.Unlock()

	// The server's ack wait restarts when it processes these, after start:
	// the server-side lock outlives held.deadline. Fresh deliveries need
	// none (see lockDeadline).
	for _, d := range renew {
		_ = d.msg.InProgress()
		d.keptAt = start
	}

	b, err := p.readBatch(entity)
	if err != nil {
		q.mu.Lock()
		q.restore(st, held)
		q.mu.Unlock()
		return nil, err
	}
	q.mu.Lock()
	held.logSeq = b.logSeq
	held.lastEvent, held.partition = b.lastEvent(), b.partition
	q.mu.Unlock()

	out := &provider.EntityBatch{
		Lock:        provider.EntityLock{Queue: q.name, Entity: entity, Token: held.token},
		Partition:   b.partition,
		History:     b.history,
		Metadata:    b.metadata,
		Messages:    make([]provider.Message, len(held.msgs)),
		LockedUntil: held.deadline,
	}
	for i, d := range held.msgs {
		out.Messages[i] = d.message()
	}
	return out, nil
}

// message converts a delivery for the caller.
func (d *delivery) message() provider.Message {
	return provider.Message{
		ID:              d.env.ID,
		Entity:          d.env.Entity,
		Data:            d.env.Data,
		Attempt:         d.attempt,
		DeadLettered:    d.env.DeadLettered,
		DeadLetterQueue: d.env.Origin,
	}
}

// awaitComplete waits (at most awaitLimit) until st holds every message
// this provider stored for the entity before now (a message it sent may
// still be on its way from the server) and the redeliveries it awaits.
// Messages other processes store meanwhile are not waited for: the server
// delivers them in stream order, and a later fetch has them.
func (p *Provider) awaitComplete(ctx context.Context, q *entityQueue, st *entityState) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	last := q.sent[st.entity].seq
	if st.complete(last, time.Now()) {
		return nil
	}
	limit := time.NewTimer(awaitLimit)
	defer limit.Stop()
	for !st.complete(last, time.Now()) {
		wake := q.notify
		q.mu.Unlock()
		var err error
		select {
		case <-wake:
		case <-limit.C:
			q.mu.Lock()
			return nil
		case <-ctx.Done():
			err = ctx.Err()
		case <-p.closing:
			err = p.closedErr()
		}
		q.mu.Lock()
		if err != nil {
			return err
		}
	}
	return nil
}

// batchState is what a fetch reads from the store.
type batchState struct {
	partition uint64
	logSeq    uint64
	history   []provider.Event
	metadata  provider.Metadata
}

// lastEvent is the highest event Seq of the batch's partition (0: none).
// History is in Seq order.
func (b *batchState) lastEvent() uint64 {
	if len(b.history) == 0 {
		return 0
	}
	return b.history[len(b.history)-1].Seq
}

// readBatch reads the entity's state under its stripe, so that no apply
// lands between the reads.
func (p *Provider) readBatch(entity string) (batchState, error) {
	mu := p.stripe(entity)
	mu.Lock()
	defer mu.Unlock()
	es, err := p.store.Entity(entity)
	if err != nil {
		return batchState{}, fmt.Errorf("read entity %q: %w", entity, err)
	}
	b := batchState{partition: es.Partition, logSeq: es.LogSeq}
	if !es.Exists {
		return b, nil
	}
	if b.history, err = p.store.History(entity, es.Partition); err != nil {
		return batchState{}, fmt.Errorf("read history of %q: %w", entity, err)
	}
	b.metadata, err = p.store.Metadata(entity)
	if err != nil && !errors.Is(err, provider.ErrNotFound) {
		return batchState{}, fmt.Errorf("read metadata of %q: %w", entity, err)
	}
	return b, nil
}

// freshDelivery is the fraction of the lock timeout within which a delivery
// counts as fresh: the server's ack wait for it started so recently that
// the lock can rest on it without an InProgress round.
const freshDelivery = 10

// lockDeadline returns the deadline of a lock over msgs taken at start, and
// the deliveries that need an InProgress for it. A fresh delivery (received
// within a tenth of the lock timeout) keeps the server's ack wait started at
// its delivery: the lock ends a tenth of the lock timeout before that wait
// would (received is after the server sent it, by the transit and the
// client's queueing). Older deliveries are renewed, and the lock ends
// timeout after start. Saving the InProgress saves a message to the server
// per delivery on the hot path.
func lockDeadline(msgs []*delivery, start time.Time, timeout time.Duration) (time.Time, []*delivery) {
	deadline := start.Add(timeout)
	fresh := timeout / freshDelivery
	var renew []*delivery
	for _, d := range msgs {
		if age := start.Sub(d.keptAt); age >= 0 && age < fresh {
			deadline = minTime(deadline, d.keptAt.Add(timeout-fresh))
			continue
		}
		renew = append(renew, d)
	}
	return deadline, renew
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
