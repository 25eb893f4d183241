package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/reprise/reprise/provider"
)

// workQueue is a competing-consumer queue: one message per fetch, each under
// its own peek-lock. Every pending message is in exactly one of the two
// heaps.
type workQueue struct {
	name    string
	pending map[string]*queuedMessage // by message ID
	recent  dedupLog
	visible *indexedHeap[*queuedMessage] // unlocked, by visibleAt then arrival
	locked  *indexedHeap[*queuedMessage] // locked, by lockedUntil
}

func newWorkQueue(name string, dedupWindow time.Duration) *workQueue {
	setIndex := func(m *queuedMessage, i int) { m.heapIndex = i }
	return &workQueue{
		name:    name,
		pending: map[string]*queuedMessage{},
		recent:  newDedupLog(dedupWindow),
		visible: newIndexedHeap(func(a, b *queuedMessage) bool {
			if !a.visibleAt.Equal(b.visibleAt) {
				return a.visibleAt.Before(b.visibleAt)
			}
			return a.arrival < b.arrival
		}, setIndex),
		locked: newIndexedHeap(func(a, b *queuedMessage) bool {
			return a.lockedUntil.Before(b.lockedUntil)
		}, setIndex),
	}
}

func (q *workQueue) add(m *queuedMessage) {
	q.pending[m.msg.ID] = m
	q.visible.push(m)
}

// remove drops a pending message from whichever heap holds it.
func (q *workQueue) remove(m *queuedMessage) {
	if m.token != "" {
		q.locked.remove(m.heapIndex)
	} else {
		q.visible.remove(m.heapIndex)
	}
	delete(q.pending, m.msg.ID)
}

func (q *workQueue) removeEntity(entity string) {
	for _, m := range q.pending {
		if m.msg.Entity == entity {
			q.remove(m)
		}
	}
	q.recent.forgetEntity(entity)
}

// heldLock returns the message locked by lock, or ErrLockLost.
func (q *workQueue) heldLock(lock provider.WorkLock, now time.Time) (*queuedMessage, error) {
	m := q.pending[lock.ID]
	if m == nil || m.token == "" || m.token != lock.Token || !now.Before(m.lockedUntil) {
		return nil, fmt.Errorf("memory: message %q in queue %q: %w", lock.ID, q.name, provider.ErrLockLost)
	}
	return m, nil
}

// workQueueFor validates queue as a work queue, creating it on first use when
// create is set (nil, nil when it does not exist yet).
func (p *Provider) workQueueFor(queue string, create bool) (*workQueue, error) {
	if err := provider.ValidateQueueName(queue); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	if p.topo.IsEntityQueue(queue) {
		return nil, fmt.Errorf("memory: %w: %q is an entity-locked queue, not a work queue", provider.ErrInvalidQueue, queue)
	}
	q := p.workQueues[queue]
	if q == nil && create {
		q = newWorkQueue(queue, p.dedupWindow)
		p.workQueues[queue] = q
	}
	return q, nil
}

// releaseWork ends a message's peek-lock without acking it: it becomes
// visible at visibleAt, or is dead-lettered if it has used up its deliveries.
// Callers hold p.mu.
func (p *Provider) releaseWork(q *workQueue, m *queuedMessage, visibleAt, now time.Time) {
	q.locked.remove(m.heapIndex)
	m.token, m.lockedUntil = "", time.Time{}
	if limit := p.topo.MaxDeliveries; limit > 0 && m.deliveries >= limit {
		delete(q.pending, m.msg.ID)
		q.recent.remember(m.msg.ID, m.msg.Entity, now)
		p.deadLetter(q.name, m, now)
		return
	}
	m.visibleAt = visibleAt
	q.visible.push(m)
}

// deadLetter moves m, taken out of work queue from, to the dead-letter queue
// as a message for its owning entity. Callers hold p.mu.
func (p *Provider) deadLetter(from string, m *queuedMessage, now time.Time) {
	msg := provider.Message{
		ID:              m.msg.ID,
		Entity:          m.msg.Entity,
		Data:            m.msg.Data,
		DeadLettered:    true,
		DeadLetterQueue: from,
	}
	if !p.store(provider.Outgoing{Queue: p.topo.DeadLetterQueue, Message: msg}, now) {
		p.log.Warn("dead-letter message dropped: its ID is already pending in the dead-letter queue",
			"queue", from, "dead_letter_queue", p.topo.DeadLetterQueue, "id", m.msg.ID, "deliveries", m.deliveries)
		return
	}
	p.log.Info("message dead-lettered", "queue", from, "dead_letter_queue", p.topo.DeadLetterQueue,
		"id", m.msg.ID, "deliveries", m.deliveries)
}

// expireWorkLocks releases the expired peek-locks of q and returns when the
// next one expires (zero: none held). Callers hold p.mu.
func (p *Provider) expireWorkLocks(q *workQueue, now time.Time) time.Time {
	for {
		m, ok := q.locked.peek()
		if !ok {
			return time.Time{}
		}
		if now.Before(m.lockedUntil) {
			return m.lockedUntil
		}
		p.releaseWork(q, m, m.lockedUntil, now)
		p.broadcast()
	}
}

// expireAllWorkLocks runs expireWorkLocks on every work queue and returns the
// next expiry among them. Callers hold p.mu.
func (p *Provider) expireAllWorkLocks(now time.Time) time.Time {
	var next time.Time
	for _, q := range p.workQueues {
		next = earliest(next, p.expireWorkLocks(q, now))
	}
	return next
}

// FetchWork blocks until a visible message of the work queue is available,
// then peek-locks and returns it. See [provider.Provider.FetchWork].
func (p *Provider) FetchWork(ctx context.Context, queue string) (*provider.WorkItem, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := p.lockOpen("fetch work"); err != nil {
			return nil, err
		}
		q, err := p.workQueueFor(queue, true)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		item, wakeAt := p.takeWork(q)
		changed := p.changed
		p.mu.Unlock()
		if item != nil {
			return item, nil
		}
		if err := p.await(ctx, changed, wakeAt); err != nil {
			return nil, err
		}
	}
}

// takeWork locks the first visible message of q, or returns when q may next
// have one. Callers hold p.mu.
func (p *Provider) takeWork(q *workQueue) (*provider.WorkItem, time.Time) {
	now := p.clock.Now()
	wakeAt := p.expireWorkLocks(q, now)
	m, ok := q.visible.peek()
	if !ok {
		return nil, wakeAt
	}
	if !m.visible(now) {
		return nil, earliest(wakeAt, m.visibleAt)
	}
	q.visible.remove(m.heapIndex)
	m.token, m.lockedUntil = p.newToken(), now.Add(p.topo.LockTimeout)
	q.locked.push(m)
	return &provider.WorkItem{
		Lock:        provider.WorkLock{Queue: q.name, ID: m.msg.ID, Token: m.token},
		Message:     m.deliver(),
		LockedUntil: m.lockedUntil,
	}, time.Time{}
}

// CompleteWork acks a locked work message and sends replies, atomically.
func (p *Provider) CompleteWork(ctx context.Context, lock provider.WorkLock, replies []provider.Outgoing) error {
	for _, o := range replies {
		if err := provider.ValidateOutgoing(o); err != nil {
			return fmt.Errorf("memory: complete work: %w", err)
		}
	}
	if err := p.lockOpen("complete work"); err != nil {
		return err
	}
	defer p.mu.Unlock()
	now := p.clock.Now()
	q, m, err := p.heldWork(lock, now)
	if err != nil {
		return err
	}
	q.remove(m)
	q.recent.remember(m.msg.ID, m.msg.Entity, now)
	for _, o := range replies {
		p.enqueue(o, now)
	}
	p.broadcast()
	return nil
}

// heldWork finds the message a work lock holds, failing with ErrLockLost
// when the queue, the message or the lock is gone. Callers hold p.mu.
func (p *Provider) heldWork(lock provider.WorkLock, now time.Time) (*workQueue, *queuedMessage, error) {
	q, err := p.workQueueFor(lock.Queue, false)
	if err != nil {
		return nil, nil, err
	}
	if q == nil {
		return nil, nil, fmt.Errorf("memory: message %q in queue %q: %w", lock.ID, lock.Queue, provider.ErrLockLost)
	}
	m, err := q.heldLock(lock, now)
	if err != nil {
		return nil, nil, err
	}
	return q, m, nil
}

// RenewWorkLock extends a held peek-lock to now plus the lock timeout.
func (p *Provider) RenewWorkLock(ctx context.Context, lock provider.WorkLock) (time.Time, error) {
	if err := p.lockOpen("renew work lock"); err != nil {
		return time.Time{}, err
	}
	defer p.mu.Unlock()
	now := p.clock.Now()
	q, m, err := p.heldWork(lock, now)
	if err != nil {
		return time.Time{}, err
	}
	m.lockedUntil = now.Add(p.topo.LockTimeout)
	q.locked.fix(m.heapIndex)
	return m.lockedUntil, nil
}

// AbandonWork releases a held peek-lock; the message becomes visible again
// after delay, or is dead-lettered if it has used up its deliveries.
func (p *Provider) AbandonWork(ctx context.Context, lock provider.WorkLock, delay time.Duration) error {
	if delay < 0 {
		return fmt.Errorf("memory: abandon work: %w: negative delay %v", provider.ErrInvalidArgument, delay)
	}
	if err := p.lockOpen("abandon work"); err != nil {
		return err
	}
	defer p.mu.Unlock()
	now := p.clock.Now()
	q, m, err := p.heldWork(lock, now)
	if err != nil {
		return err
	}
	p.releaseWork(q, m, now.Add(delay), now)
	p.broadcast()
	return nil
}
