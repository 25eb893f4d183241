package jetstream

import (
	"context"
	"fmt"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
)

// findLock returns the live lock named by l. Lock held.
func (q *entityQueue) findLock(l provider.EntityLock, now time.Time) (*entityState, *heldLock, error) {
	st := q.entities[l.Entity]
	if st == nil || st.lock == nil || st.lock.token != l.Token {
		return nil, nil, fmt.Errorf("%w: entity %q in queue %q is not locked by this token", provider.ErrLockLost, l.Entity, q.name)
	}
	if st.lock.committing {
		return nil, nil, fmt.Errorf("%w: entity %q in queue %q is being committed", provider.ErrLockLost, l.Entity, q.name)
	}
	if !now.Before(st.lock.deadline) {
		return nil, nil, fmt.Errorf("%w: lock on entity %q in queue %q expired at %s", provider.ErrLockLost, l.Entity, q.name, st.lock.deadline.Format(time.RFC3339Nano))
	}
	return st, st.lock, nil
}

// RenewEntityLock extends the lock by the lock timeout: InProgress on every
// delivery of the batch, the last one confirmed by the server (acks of one
// connection are processed in order).
func (p *Provider) RenewEntityLock(ctx context.Context, l provider.EntityLock) (time.Time, error) {
	if err := p.checkOpen(); err != nil {
		return time.Time{}, err
	}
	q, err := p.entityQueue(l.Queue)
	if err != nil {
		return time.Time{}, err
	}
	start := time.Now()
	q.mu.Lock()
	_, held, err := q.findLock(l, start)
	if err != nil {
		q.mu.Unlock()
		return time.Time{}, err
	}
	msgs := held.msgs
	q.mu.Unlock()

	if err := p.progress(ctx, msgs); err != nil {
		return time.Time{}, fmt.Errorf("renew lock on %q: %w", l.Entity, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, held2, err := q.findLock(l, time.Now()); err != nil || held2 != held {
		return time.Time{}, fmt.Errorf("%w: entity %q in queue %q", provider.ErrLockLost, l.Entity, q.name)
	}
	held.deadline = start.Add(p.topo.LockTimeout)
	return held.deadline, nil
}

// progress sends InProgress for msgs and waits for the server to confirm
// the last one.
func (p *Provider) progress(ctx context.Context, msgs []*delivery) error {
	for i, d := range msgs {
		if i < len(msgs)-1 {
			if err := d.msg.InProgress(); err != nil {
				return err
			}
			continue
		}
		if err := p.ackRequest(ctx, d.msg, []byte("+WPI")); err != nil {
			return err
		}
	}
	return nil
}

// ackRequest sends an ack-protocol message and waits for the server's reply.
func (p *Provider) ackRequest(ctx context.Context, m natsjs.Msg, body []byte) error {
	return p.ackReply(ctx, m.Reply(), body)
}

// requestTimeout bounds a server request made without a caller deadline.
const requestTimeout = 10 * time.Second

// AbandonEntity releases the lock without acking: every delivery of the
// batch is Nak'ed with delay, and comes back with its delivery count
// increased.
func (p *Provider) AbandonEntity(ctx context.Context, l provider.EntityLock, delay time.Duration) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	q, err := p.entityQueue(l.Queue)
	if err != nil {
		return err
	}
	delay = max(delay, 0)
	q.mu.Lock()
	defer q.mu.Unlock()
	st, held, err := q.findLock(l, time.Now())
	if err != nil {
		return err
	}
	q.releaseLock(st, held, true, delay)
	return nil
}
