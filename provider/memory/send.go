package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/reprise/reprise/provider"
)

// Send validates every message, then enqueues them all: either every message
// is accepted or none is. A message whose ID is pending, or was delivered
// within the dedup window, in the same queue is silently dropped.
func (p *Provider) Send(ctx context.Context, msgs ...provider.Outgoing) error {
	for _, o := range msgs {
		if err := provider.ValidateOutgoing(o); err != nil {
			return fmt.Errorf("memory: send: %w", err)
		}
	}
	if err := p.lockOpen("send"); err != nil {
		return err
	}
	defer p.mu.Unlock()
	now := p.clock.Now()
	for _, o := range msgs {
		p.enqueue(o, now)
	}
	if len(msgs) > 0 {
		p.broadcast()
	}
	return nil
}

// enqueue stores a validated message from a caller, ignoring the fields the
// provider owns. Callers hold p.mu and broadcast afterwards.
func (p *Provider) enqueue(o provider.Outgoing, now time.Time) {
	o.Message.Attempt, o.Message.DeadLettered, o.Message.DeadLetterQueue = 0, false, ""
	p.store(o, now)
}

// store adds a message to its queue and reports whether it was new (false: a
// duplicate ID, dropped). Callers hold p.mu and broadcast afterwards.
func (p *Provider) store(o provider.Outgoing, now time.Time) bool {
	p.arrivals++
	if q := p.entityQueues[o.Queue]; q != nil {
		if q.pending[o.Message.ID] != nil || q.recent.seen(o.Message.ID, now) {
			return false
		}
		q.add(newQueuedMessage(o.Message, p.arrivals, now))
		return true
	}
	q, _ := p.workQueueFor(o.Queue, true) // validated by the caller
	if q.pending[o.Message.ID] != nil || q.recent.seen(o.Message.ID, now) {
		return false
	}
	q.add(newQueuedMessage(o.Message, p.arrivals, now))
	return true
}

// cancel removes a pending message that is not locked. Unknown, locked or
// already delivered messages are ignored. Callers hold p.mu.
func (p *Provider) cancel(ref provider.MessageRef) {
	if q := p.entityQueues[ref.Queue]; q != nil {
		m := q.pending[ref.ID]
		if m == nil || m.locked {
			return
		}
		in := q.inboxes[m.msg.Entity]
		q.removeWhere(in, func(x *queuedMessage) bool { return x == m })
		return
	}
	q := p.workQueues[ref.Queue]
	if q == nil {
		return
	}
	if m := q.pending[ref.ID]; m != nil && m.token == "" {
		q.remove(m)
	}
}

// QueueDepth returns how many messages the queue holds: visible, delayed and
// locked. An unknown (never used) work queue holds none.
func (p *Provider) QueueDepth(ctx context.Context, queue string) (int, error) {
	if err := provider.ValidateQueueName(queue); err != nil {
		return 0, fmt.Errorf("memory: queue depth: %w", err)
	}
	if err := p.lockOpen("queue depth"); err != nil {
		return 0, err
	}
	defer p.mu.Unlock()
	if p.topo.MaxDeliveries > 0 {
		// Expired locks may have moved messages to the dead-letter queue.
		p.expireAllWorkLocks(p.clock.Now())
	}
	if q := p.entityQueues[queue]; q != nil {
		return len(q.pending), nil
	}
	if q := p.workQueues[queue]; q != nil {
		return len(q.pending), nil
	}
	return 0, nil
}

// SendNew enqueues one message and reports whether it was new: false means
// a message with the same ID is pending in the queue, or was delivered from
// it within the dedup window, and nothing was enqueued.
func (p *Provider) SendNew(ctx context.Context, o provider.Outgoing) (bool, error) {
	if err := provider.ValidateOutgoing(o); err != nil {
		return false, fmt.Errorf("memory: send: %w", err)
	}
	if err := p.lockOpen("send"); err != nil {
		return false, err
	}
	defer p.mu.Unlock()
	o.Message.Attempt, o.Message.DeadLettered, o.Message.DeadLetterQueue = 0, false, ""
	if !p.store(o, p.clock.Now()) {
		return false, nil
	}
	p.broadcast()
	return true, nil
}
