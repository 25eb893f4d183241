package jetstream

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
)

// workQueues holds the consumers of the work queues used so far, their
// pullers (workpull.go) and the peek-locks this provider holds.
type workQueues struct {
	mu        sync.Mutex
	consumers map[string]natsjs.Consumer
	locks     map[string]*workLock
	pullers   map[string]*workPuller
	// pullersClosed is set by Close: no puller is made afterwards.
	pullersClosed bool
}

// workLock is one fetched, un-acked work message.
type workLock struct {
	queue    string
	id       string
	msg      *nats.Msg
	env      envelope
	seq      uint64
	attempt  int
	deadline time.Time
}

// lastAttempt reports whether the message has had all its deliveries: if
// this lock is abandoned or expires, it is dead-lettered.
func (p *Provider) lastAttempt(wl *workLock) bool {
	return p.topo.MaxDeliveries > 0 && wl.attempt >= p.topo.MaxDeliveries
}

// workPullWait bounds one pull request of FetchWork; a longer wait is a
// sequence of pulls.
const workPullWait = 5 * time.Second

// minPullWait is the shortest pull request FetchWork makes.
const minPullWait = 20 * time.Millisecond

// workQueue validates a work-queue name and returns its consumer, creating
// it on first use.
func (p *Provider) workQueue(ctx context.Context, queue string) (natsjs.Consumer, error) {
	if err := provider.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	if p.topo.IsEntityQueue(queue) {
		return nil, fmt.Errorf("%w: %q is an entity-locked queue, not a work queue", provider.ErrInvalidQueue, queue)
	}
	p.work.mu.Lock()
	defer p.work.mu.Unlock()
	if c := p.work.consumers[queue]; c != nil {
		return c, nil
	}
	c, err := p.ensureWorkConsumer(ctx, queue)
	if err != nil {
		return nil, err
	}
	p.work.consumers[queue] = c
	return c, nil
}

// FetchWork pulls one message of the work queue and returns it under a
// peek-lock: the un-acked delivery, for the consumer's ack wait (the lock
// timeout). A message delivered more than Topology.MaxDeliveries times is
// moved to the dead-letter queue instead of being returned. Deliveries come
// through the queue's puller (workpull.go); the lock's deadline is counted
// from a time at or before the server's delivery, so that it never outlives
// the server's ack wait.
func (p *Provider) FetchWork(ctx context.Context, queue string) (*provider.WorkItem, error) {
	if err := p.checkOpen(); err != nil {
		return nil, err
	}
	if _, err := p.workQueue(ctx, queue); err != nil {
		return nil, err
	}
	wp, err := p.workPuller(queue)
	if err != nil {
		return nil, err
	}
	ctx, stop := p.untilClosed(ctx)
	defer stop()
	for {
		a, err := wp.next(ctx)
		if err != nil {
			if p.closed.Load() {
				return nil, p.closedErr()
			}
			return nil, err
		}
		m := a.msg
		meta, err := m.Metadata()
		if err != nil {
			return nil, fmt.Errorf("work queue %q: delivery metadata: %w", queue, err)
		}
		env, err := decodeEnvelope(m.Data)
		if err != nil {
			p.log.Error("work queue: terminating undecodable message", "queue", queue,
				"seq", meta.Sequence.Stream, "err", err)
			_ = p.nc.Publish(m.Reply, ackTerm)
			continue
		}
		if p.topo.MaxDeliveries > 0 && int(meta.NumDelivered) > p.topo.MaxDeliveries {
			if err := p.deadLetter(ctx, queue, m, env, meta.Sequence.Stream); err != nil {
				return nil, err
			}
			continue
		}
		token := "w" + strconv.FormatUint(p.tokens.Add(1), 36)
		wl := &workLock{
			queue: queue, id: env.ID, msg: m, env: env, seq: meta.Sequence.Stream,
			attempt: int(meta.NumDelivered), deadline: a.base.Add(p.topo.LockTimeout),
		}
		p.work.mu.Lock()
		// A redelivery of the same message voids an older lock on it
		// (acks match by sequence, so it must not complete).
		for old, other := range p.work.locks {
			if other.queue == queue && other.seq == wl.seq {
				delete(p.work.locks, old)
			}
		}
		p.work.locks[token] = wl
		p.work.mu.Unlock()
		return &provider.WorkItem{
			Lock: provider.WorkLock{Queue: queue, ID: env.ID, Token: token},
			Message: provider.Message{
				ID:      env.ID,
				Entity:  env.Entity,
				Data:    env.Data,
				Attempt: int(meta.NumDelivered),
			},
			LockedUntil: wl.deadline,
		}, nil
	}
}

// deadLetter moves a work message that exceeded MaxDeliveries to the
// dead-letter queue, to its owning entity, marked DeadLettered, then acks
// the original. The copy's Nats-Msg-Id is derived from the original's
// sequence, so a retry after a crash does not duplicate it.
func (p *Provider) deadLetter(ctx context.Context, origin string, m *nats.Msg, env envelope, seq uint64) error {
	dl := envelope{ID: env.ID, Entity: env.Entity, Data: env.Data, DeadLettered: true, Origin: origin}
	out := nats.NewMsg(p.names.entitySubject(p.topo.DeadLetterQueue, env.Entity))
	out.Data = encodeEnvelope(dl)
	out.Header.Set(natsjs.MsgIDHeader, deadLetterMsgID(origin, seq))
	if err := p.publishDedup(ctx, out); err != nil {
		return fmt.Errorf("dead-letter %q from %q: %w", env.ID, origin, err)
	}
	// The copy must be durable before the original goes.
	if err := p.syncDurable(ctx); err != nil {
		return fmt.Errorf("dead-letter %q from %q: %w", env.ID, origin, err)
	}
	if err := p.ackReply(ctx, m.Reply, ackAck); err != nil {
		return fmt.Errorf("ack dead-lettered %q in %q: %w", env.ID, origin, err)
	}
	p.log.Info("dead-lettered", "queue", origin, "id", env.ID, "to", p.topo.DeadLetterQueue)
	return nil
}

// findWorkLock returns the live peek-lock named by l; with take it is also
// removed.
func (p *Provider) findWorkLock(l provider.WorkLock, take bool) (*workLock, error) {
	p.work.mu.Lock()
	defer p.work.mu.Unlock()
	wl := p.work.locks[l.Token]
	if wl == nil || wl.queue != l.Queue || wl.id != l.ID {
		return nil, fmt.Errorf("%w: message %q in work queue %q is not locked by this token", provider.ErrLockLost, l.ID, l.Queue)
	}
	if !time.Now().Before(wl.deadline) {
		delete(p.work.locks, l.Token)
		return nil, fmt.Errorf("%w: lock on message %q in work queue %q expired", provider.ErrLockLost, l.ID, l.Queue)
	}
	if take {
		delete(p.work.locks, l.Token)
	}
	return wl, nil
}

// CompleteWork sends the replies (deterministic Nats-Msg-Ids), then acks
// the message. A crash in between redelivers the message; its replies are
// then dropped as duplicates, or acked as consumed by their entity. When
// the send or the ack fails, the lock stays held (until its deadline), so
// the call can be repeated. With Options.Durable the replies are synced
// before the ack, and the ack before returning.
func (p *Provider) CompleteWork(ctx context.Context, l provider.WorkLock, replies []provider.Outgoing) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	for _, o := range replies {
		if err := provider.ValidateOutgoing(o); err != nil {
			return err
		}
	}
	wl, err := p.findWorkLock(l, true)
	if err != nil {
		return err
	}
	err = p.send(ctx, replies)
	if err == nil {
		err = p.syncDurableSoon(ctx)
	}
	if err != nil {
		p.work.mu.Lock()
		p.work.locks[l.Token] = wl
		p.work.mu.Unlock()
		return err
	}
	if err := p.ackReply(ctx, wl.msg.Reply, ackAck); err != nil {
		// The lock is kept, so that the caller may try again while it
		// holds (the replies are deduplicated; an ack is idempotent).
		p.work.mu.Lock()
		p.work.locks[l.Token] = wl
		p.work.mu.Unlock()
		return fmt.Errorf("ack %q in work queue %q (replies sent): %w", l.ID, l.Queue, err)
	}
	// The ack's removal of the message durable too: an activity whose
	// completion returned must not run again after a power loss.
	if err := p.syncDurableSoon(ctx); err != nil {
		return fmt.Errorf("ack %q in work queue %q (replies sent and durable): %w", l.ID, l.Queue, err)
	}
	return nil
}

// RenewWorkLock extends the peek-lock by the lock timeout.
func (p *Provider) RenewWorkLock(ctx context.Context, l provider.WorkLock) (time.Time, error) {
	if err := p.checkOpen(); err != nil {
		return time.Time{}, err
	}
	wl, err := p.findWorkLock(l, false)
	if err != nil {
		return time.Time{}, err
	}
	start := time.Now()
	if err := p.ackReply(ctx, wl.msg.Reply, ackProgress); err != nil {
		return time.Time{}, fmt.Errorf("renew lock on %q in work queue %q: %w", l.ID, l.Queue, err)
	}
	p.work.mu.Lock()
	defer p.work.mu.Unlock()
	if p.work.locks[l.Token] != wl {
		return time.Time{}, fmt.Errorf("%w: message %q in work queue %q", provider.ErrLockLost, l.ID, l.Queue)
	}
	wl.deadline = start.Add(p.topo.LockTimeout)
	return wl.deadline, nil
}

// AbandonWork releases the peek-lock: the message is Nak'ed with delay and
// comes back with its delivery count increased.
func (p *Provider) AbandonWork(ctx context.Context, l provider.WorkLock, delay time.Duration) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	wl, err := p.findWorkLock(l, true)
	if err != nil {
		return err
	}
	if p.lastAttempt(wl) {
		return p.deadLetter(ctx, wl.queue, wl.msg, wl.env, wl.seq)
	}
	body := ackNak
	if delay > 0 {
		body = fmt.Appendf(nil, "-NAK {\"delay\": %d}", delay.Nanoseconds())
	}
	if err := p.ackReply(ctx, wl.msg.Reply, body); err != nil {
		return fmt.Errorf("abandon %q in work queue %q: %w", l.ID, l.Queue, err)
	}
	return nil
}

// expireWorkLocks dead-letters the messages whose last delivery's lock
// expired, and forgets locks whose deadline passed long ago. A message whose
// last lock expires in a process that crashed is dead-lettered by the next
// FetchWork that receives its next delivery instead; both paths publish the
// copy with the same Nats-Msg-Id.
func (p *Provider) expireWorkLocks(ctx context.Context, now time.Time) {
	var last []*workLock
	p.work.mu.Lock()
	for token, wl := range p.work.locks {
		switch {
		case now.Before(wl.deadline):
		case p.lastAttempt(wl):
			delete(p.work.locks, token)
			last = append(last, wl)
		case now.Sub(wl.deadline) > p.topo.LockTimeout:
			delete(p.work.locks, token)
		}
	}
	p.work.mu.Unlock()
	p.releaseUnclaimed(now)
	for _, wl := range last {
		if err := p.deadLetter(ctx, wl.queue, wl.msg, wl.env, wl.seq); err != nil {
			p.log.Warn("dead-letter after lock expiry", "queue", wl.queue, "id", wl.id, "err", err)
		}
	}
}
