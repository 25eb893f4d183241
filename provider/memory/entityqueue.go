package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/reprise/reprise/provider"
)

// entityQueue is an entity-locked queue: messages grouped per entity, each
// entity fetched whole under one lock.
type entityQueue struct {
	name    string
	pending map[string]*queuedMessage // by message ID
	recent  dedupLog
	inboxes map[string]*inbox
	// ready holds every inbox that has messages or a lock, ordered by the
	// time it can next be fetched: a lock's expiry, or else the earliest
	// visibility of its messages.
	ready *indexedHeap[*inbox]
}

// inbox is one entity's share of an entity-locked queue.
type inbox struct {
	entity    string
	messages  []*queuedMessage // arrival order
	lock      *entityLockState // nil when unlocked
	readyAt   time.Time
	readyTie  uint64 // arrival of the message that sets readyAt
	heapIndex int
}

// entityLockState is the lock held on an inbox by one fetch. The messages it
// covers are those with locked set.
type entityLockState struct {
	token string
	until time.Time
}

func newEntityQueue(name string, dedupWindow time.Duration) *entityQueue {
	return &entityQueue{
		name:    name,
		pending: map[string]*queuedMessage{},
		recent:  newDedupLog(dedupWindow),
		inboxes: map[string]*inbox{},
		ready: newIndexedHeap(
			func(a, b *inbox) bool {
				if !a.readyAt.Equal(b.readyAt) {
					return a.readyAt.Before(b.readyAt)
				}
				return a.readyTie < b.readyTie
			},
			func(x *inbox, i int) { x.heapIndex = i },
		),
	}
}

// refresh recomputes when the inbox can next be fetched and repositions it in
// the ready heap, dropping it once it is empty and unlocked.
func (q *entityQueue) refresh(in *inbox) {
	switch {
	case in.lock != nil:
		in.readyAt, in.readyTie = in.lock.until, 0
	case len(in.messages) == 0:
		if in.heapIndex >= 0 {
			q.ready.remove(in.heapIndex)
		}
		delete(q.inboxes, in.entity)
		return
	default:
		first := in.messages[0]
		for _, m := range in.messages[1:] {
			if m.visibleAt.Before(first.visibleAt) {
				first = m
			}
		}
		in.readyAt, in.readyTie = first.visibleAt, first.arrival
	}
	if in.heapIndex >= 0 {
		q.ready.fix(in.heapIndex)
	} else {
		q.ready.push(in)
	}
}

// add stores m for its entity.
func (q *entityQueue) add(m *queuedMessage) {
	q.pending[m.msg.ID] = m
	in := q.inboxes[m.msg.Entity]
	if in == nil {
		in = &inbox{entity: m.msg.Entity, heapIndex: -1}
		q.inboxes[m.msg.Entity] = in
	}
	in.messages = append(in.messages, m)
	// Only an earlier message can move an unlocked inbox forward; checking
	// that instead of recomputing keeps a long inbox's sends O(log n).
	switch {
	case in.lock != nil:
		// Ready when the lock expires, whatever arrives meanwhile.
	case in.heapIndex < 0:
		in.readyAt, in.readyTie = m.visibleAt, m.arrival
		q.ready.push(in)
	case m.visibleAt.Before(in.readyAt):
		in.readyAt, in.readyTie = m.visibleAt, m.arrival
		q.ready.fix(in.heapIndex)
	}
}

// unlock drops the inbox's lock; its locked messages become visible again
// at visibleAt.
func (q *entityQueue) unlock(in *inbox, visibleAt time.Time) {
	for _, m := range in.messages {
		if m.locked {
			m.locked = false
			m.visibleAt = visibleAt
		}
	}
	in.lock = nil
	q.refresh(in)
}

// ackLocked removes the messages covered by the inbox's lock, remembers their
// IDs for dedup and releases the lock.
func (q *entityQueue) ackLocked(in *inbox, now time.Time) {
	kept := in.messages[:0]
	for _, m := range in.messages {
		if m.locked {
			delete(q.pending, m.msg.ID)
			q.recent.remember(m.msg.ID, m.msg.Entity, now)
			continue
		}
		kept = append(kept, m)
	}
	clear(in.messages[len(kept):])
	in.messages = kept
	in.lock = nil
	q.refresh(in)
}

// removeWhere drops the inbox's messages matching drop.
func (q *entityQueue) removeWhere(in *inbox, drop func(*queuedMessage) bool) {
	kept := in.messages[:0]
	for _, m := range in.messages {
		if drop(m) {
			delete(q.pending, m.msg.ID)
			continue
		}
		kept = append(kept, m)
	}
	clear(in.messages[len(kept):])
	in.messages = kept
	q.refresh(in)
}

// removeEntity drops the entity's inbox, its messages and its lock.
func (q *entityQueue) removeEntity(entity string) {
	in := q.inboxes[entity]
	if in != nil {
		in.lock = nil
		q.removeWhere(in, func(*queuedMessage) bool { return true })
	}
	q.recent.forgetEntity(entity)
}

// heldLock returns the inbox locked by lock, or ErrLockLost if the lock
// expired, was taken or was released.
func (q *entityQueue) heldLock(lock provider.EntityLock, now time.Time) (*inbox, error) {
	in := q.inboxes[lock.Entity]
	if in == nil || in.lock == nil || in.lock.token != lock.Token || !now.Before(in.lock.until) {
		return nil, fmt.Errorf("memory: entity %q in queue %q: %w", lock.Entity, q.name, provider.ErrLockLost)
	}
	return in, nil
}

// entityQueueFor validates queue as a declared entity-locked queue.
func (p *Provider) entityQueueFor(queue string) (*entityQueue, error) {
	if err := provider.ValidateQueueName(queue); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	q := p.entityQueues[queue]
	if q == nil {
		return nil, fmt.Errorf("memory: %w: %q is a work queue, not an entity-locked queue", provider.ErrInvalidQueue, queue)
	}
	return q, nil
}

// FetchEntity blocks until an unlocked entity of queue has a visible message,
// then locks it and returns its batch. See [provider.Provider.FetchEntity].
func (p *Provider) FetchEntity(ctx context.Context, queue string) (*provider.EntityBatch, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := p.lockOpen("fetch entity"); err != nil {
			return nil, err
		}
		q, err := p.entityQueueFor(queue)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		batch, wakeAt := p.takeEntity(q)
		changed := p.changed
		p.mu.Unlock()
		if batch != nil {
			return batch, nil
		}
		if err := p.await(ctx, changed, wakeAt); err != nil {
			return nil, err
		}
	}
}

// takeEntity locks the first fetchable entity of q and returns its batch, or
// returns when q may next have one (zero: only a change will tell). Callers
// hold p.mu.
func (p *Provider) takeEntity(q *entityQueue) (*provider.EntityBatch, time.Time) {
	now := p.clock.Now()
	var wakeAt time.Time
	if p.topo.MaxDeliveries > 0 && q.name == p.topo.DeadLetterQueue {
		// Expired work locks may move messages here.
		wakeAt = p.expireAllWorkLocks(now)
	}
	for {
		in, ok := q.ready.peek()
		if !ok {
			return nil, wakeAt
		}
		if in.readyAt.After(now) {
			return nil, earliest(wakeAt, in.readyAt)
		}
		if in.lock != nil { // expired: its messages are visible again
			q.unlock(in, in.lock.until)
			continue
		}
		return p.lockInbox(q, in, now), time.Time{}
	}
}

// lockInbox locks in's visible messages and builds the batch. Callers hold
// p.mu.
func (p *Provider) lockInbox(q *entityQueue, in *inbox, now time.Time) *provider.EntityBatch {
	lock := &entityLockState{token: p.newToken(), until: now.Add(p.topo.LockTimeout)}
	batch := &provider.EntityBatch{
		Lock:        provider.EntityLock{Queue: q.name, Entity: in.entity, Token: lock.token},
		LockedUntil: lock.until,
	}
	for _, m := range in.messages {
		if m.visible(now) {
			m.locked = true
			batch.Messages = append(batch.Messages, m.deliver())
		}
	}
	in.lock = lock
	q.refresh(in)
	if rec := p.entities[in.entity]; rec != nil {
		batch.Partition = rec.partition
		batch.History = cloneEvents(rec.partitions[rec.partition])
		batch.Metadata = cloneMetadata(rec.metadata)
	}
	return batch
}

// RenewEntityLock extends a held lock to now plus the lock timeout.
func (p *Provider) RenewEntityLock(ctx context.Context, lock provider.EntityLock) (time.Time, error) {
	if err := p.lockOpen("renew entity lock"); err != nil {
		return time.Time{}, err
	}
	defer p.mu.Unlock()
	q, err := p.entityQueueFor(lock.Queue)
	if err != nil {
		return time.Time{}, err
	}
	now := p.clock.Now()
	in, err := q.heldLock(lock, now)
	if err != nil {
		return time.Time{}, err
	}
	in.lock.until = now.Add(p.topo.LockTimeout)
	q.refresh(in)
	return in.lock.until, nil
}

// AbandonEntity releases a held lock without acking; the fetched messages
// become visible again after delay.
func (p *Provider) AbandonEntity(ctx context.Context, lock provider.EntityLock, delay time.Duration) error {
	if delay < 0 {
		return fmt.Errorf("memory: abandon entity: %w: negative delay %v", provider.ErrInvalidArgument, delay)
	}
	if err := p.lockOpen("abandon entity"); err != nil {
		return err
	}
	defer p.mu.Unlock()
	q, err := p.entityQueueFor(lock.Queue)
	if err != nil {
		return err
	}
	now := p.clock.Now()
	in, err := q.heldLock(lock, now)
	if err != nil {
		return err
	}
	q.unlock(in, now.Add(delay))
	p.broadcast()
	return nil
}
