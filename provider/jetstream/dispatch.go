package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
)

// Message schedule headers (ADR-51). The @at form is written by hand with
// nanoseconds: nats.go's WithScheduleAt truncates to whole seconds.
const (
	scheduleHeader       = "Nats-Schedule"
	scheduleTargetHeader = "Nats-Schedule-Target"
)

// targetSubject is where message id to queue for entity waits.
func (p *Provider) targetSubject(queue, entity, id string) string {
	if p.topo.IsEntityQueue(queue) {
		return p.names.entitySubject(queue, entity)
	}
	return p.names.workSubject(queue, entity, id)
}

// outgoingMsg builds the stream message for o. A message whose NotBefore is
// still ahead becomes a schedule that the server fires at NotBefore into the
// queue's subject.
func (p *Provider) outgoingMsg(o provider.Outgoing, now time.Time) *nats.Msg {
	target := p.targetSubject(o.Queue, o.Message.Entity, o.Message.ID)
	m := nats.NewMsg(target)
	m.Data = encodeEnvelope(envelope{ID: o.Message.ID, Entity: o.Message.Entity, Data: o.Message.Data})
	m.Header.Set(natsjs.MsgIDHeader, sendMsgID(o.Queue, o.Message.Entity, o.Message.ID))
	if nb := o.Message.NotBefore; !nb.IsZero() && nb.After(now) {
		m.Subject = p.names.scheduleSubject(o.Queue, o.Message.ID, o.Message.Entity)
		m.Header.Set(scheduleHeader, "@at "+nb.UTC().Format(time.RFC3339Nano))
		m.Header.Set(scheduleTargetHeader, target)
	}
	return m
}

// dispatch carries out a record's effects on the queues: for a commit, its
// cancels and then its sends; for a tombstone, the purges of the entity.
// Every effect is idempotent, so a record may be dispatched again. With
// stopMidway (fault injection) it returns after the first send. seq is the
// record's log sequence.
func (p *Provider) dispatch(ctx context.Context, rec *record, seq uint64, stopMidway bool) error {
	if rec.kind == kindDelete {
		return p.purgeEntity(ctx, rec.entity, seq, rec.purgeBelow)
	}
	for _, c := range rec.cancels {
		if err := p.workStream.Purge(ctx, natsjs.WithPurgeSubject(p.names.scheduleIDFilter(c.Queue, c.ID))); err != nil {
			return fmt.Errorf("cancel %q in queue %q: %w", c.ID, c.Queue, err)
		}
		if p.topo.IsEntityQueue(c.Queue) {
			continue
		}
		// A work message already queued (never delayed, or whose schedule
		// fired) is removed too. One that a fetch holds is removed as
		// well; its holder's completion still sends its replies.
		if err := p.workStream.Purge(ctx, natsjs.WithPurgeSubject(p.names.workIDFilter(c.Queue, c.ID))); err != nil {
			return fmt.Errorf("cancel %q in queue %q: %w", c.ID, c.Queue, err)
		}
	}
	if stopMidway {
		if len(rec.sends) > 0 {
			if err := p.send(ctx, rec.sends[:1]); err != nil {
				return err
			}
		}
		return injected(stepMidDispatch)
	}
	return p.send(ctx, rec.sends)
}

// noteSent tells the entity queue of an owned shard that o, sent at now
// and stored at ack's sequence, is on its way to its entity (see
// awaitComplete). Delayed messages are not: the server stores them when
// they are due.
func (p *Provider) noteSent(o provider.Outgoing, ack *natsjs.PubAck, now time.Time) {
	if ack == nil || !p.topo.IsEntityQueue(o.Queue) {
		return
	}
	if nb := o.Message.NotBefore; !nb.IsZero() && nb.After(now) {
		return
	}
	shard := p.ShardOf(o.Message.Entity)
	if !p.OwnsShard(shard) {
		return
	}
	q, err := p.entityQueue(o.Queue)
	if err != nil {
		return
	}
	q.mu.Lock()
	q.noteSent(o.Message.Entity, shard, ack.Sequence, now)
	q.mu.Unlock()
}

// sendWindow bounds the asynchronous publishes one send keeps outstanding.
// It stays well below nats.go's limit of pending asynchronous publishes per
// JetStream context (4,000 by default), beyond which a publish stalls and
// then fails, so that one large commit (a wide fan-out) cannot fail its
// dispatch and leaves room for concurrent sends.
const sendWindow = 512

// send publishes messages with their deterministic Nats-Msg-Id, pipelined
// sendWindow at a time, and waits for every acknowledgement.
func (p *Provider) send(ctx context.Context, out []provider.Outgoing) error {
	now := time.Now()
	if len(out) == 1 {
		ack, err := p.publishDedupAck(ctx, p.outgoingMsg(out[0], now))
		if err != nil {
			return fmt.Errorf("send %q to queue %q: %w", out[0].Message.ID, out[0].Queue, err)
		}
		p.noteSent(out[0], ack, now)
		return nil
	}
	for len(out) > sendWindow {
		if err := p.sendPipelined(ctx, out[:sendWindow], now); err != nil {
			return err
		}
		out = out[sendWindow:]
	}
	return p.sendPipelined(ctx, out, now)
}

// sendPipelined publishes out asynchronously and waits for every
// acknowledgement.
func (p *Provider) sendPipelined(ctx context.Context, out []provider.Outgoing, now time.Time) error {
	futures := make([]natsjs.PubAckFuture, 0, len(out))
	for _, o := range out {
		f, err := p.js.PublishMsgAsync(p.outgoingMsg(o, now))
		if err != nil {
			return fmt.Errorf("send %q to queue %q: %w", o.Message.ID, o.Queue, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			p.noteSent(out[i], ack, now)
		case err := <-f.Err():
			var ack *natsjs.PubAck
			if isDuplicateInProcess(err) {
				ack, err = p.publishDedupAck(ctx, f.Msg())
			}
			if err != nil {
				return fmt.Errorf("send %q to queue %q: %w", out[i].Message.ID, out[i].Queue, err)
			}
			p.noteSent(out[i], ack, now)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Send enqueues messages outside any lock. Every message is validated first,
// so an invalid one sends nothing. The messages are published with
// deterministic Nats-Msg-Ids: a Send that failed midway may have enqueued a
// prefix, and repeating it enqueues the rest without duplicating the prefix
// (within the duplicate window).
func (p *Provider) Send(ctx context.Context, msgs ...provider.Outgoing) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	for _, o := range msgs {
		if err := provider.ValidateOutgoing(o); err != nil {
			return err
		}
	}
	if err := p.send(ctx, msgs); err != nil {
		return err
	}
	return p.syncDurableSoon(ctx)
}

// publishDedup publishes m, waiting out a concurrent publish of the same
// Nats-Msg-Id: a replicated stream answers "duplicate message id is in
// process" (10158) while the first copy is being replicated, and a
// duplicate acknowledgement once it is stored.
func (p *Provider) publishDedup(ctx context.Context, m *nats.Msg) error {
	_, err := p.publishDedupAck(ctx, m)
	return err
}

// publishDedupAck is publishDedup returning the acknowledgement, whose
// Duplicate field says whether the stream dropped m as a repeat.
func (p *Provider) publishDedupAck(ctx context.Context, m *nats.Msg) (*natsjs.PubAck, error) {
	wait := time.Millisecond
	for {
		ack, err := p.publishMsg(ctx, m)
		if !isDuplicateInProcess(err) {
			return ack, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// errCodeDuplicateInProcess is the server's "duplicate message id is in
// process" error code.
const errCodeDuplicateInProcess natsjs.ErrorCode = 10158

func isDuplicateInProcess(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeDuplicateInProcess
}

// SendNew enqueues one message and reports whether it was new. It is false
// when the work stream dropped the message as a duplicate (its Nats-Msg-Id
// was seen within Options.DuplicateWindow: the message is pending, or was
// sent or delivered recently), or, for an entity-locked queue, when the
// local store records the id as consumed by the target entity (known only
// for an owned shard, and kept beyond the duplicate window).
func (p *Provider) SendNew(ctx context.Context, o provider.Outgoing) (bool, error) {
	if err := p.checkOpen(); err != nil {
		return false, err
	}
	if err := provider.ValidateOutgoing(o); err != nil {
		return false, err
	}
	if p.store != nil && p.topo.IsEntityQueue(o.Queue) && p.OwnsShard(p.ShardOf(o.Message.Entity)) {
		consumed, err := p.store.Consumed(o.Message.Entity, consumedID(o.Queue, envelope{ID: o.Message.ID}))
		if err != nil {
			return false, fmt.Errorf("send %q to queue %q: %w", o.Message.ID, o.Queue, err)
		}
		if consumed {
			// The record that consumed it may not be durable yet.
			return false, p.syncDurableSoon(ctx)
		}
	}
	now := time.Now()
	ack, err := p.publishDedupAck(ctx, p.outgoingMsg(o, now))
	if err != nil {
		return false, fmt.Errorf("send %q to queue %q: %w", o.Message.ID, o.Queue, err)
	}
	p.noteSent(o, ack, now)
	// A duplicate's first copy may not be durable yet either.
	if err := p.syncDurableSoon(ctx); err != nil {
		return false, err
	}
	return !ack.Duplicate, nil
}
