package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/pebble"
)

// validateCommit checks what can be checked without the store.
func validateCommit(c provider.Commit) error {
	seen := make(map[uint64]struct{}, len(c.Events))
	for _, e := range c.Events {
		if _, dup := seen[e.Seq]; dup {
			return fmt.Errorf("%w: seq %d appears twice in the commit", provider.ErrDuplicateEvent, e.Seq)
		}
		seen[e.Seq] = struct{}{}
	}
	for _, o := range c.Send {
		if err := provider.ValidateOutgoing(o); err != nil {
			return err
		}
	}
	for _, ref := range c.Cancel {
		if err := provider.ValidateQueueName(ref.Queue); err != nil {
			return err
		}
		if ref.ID == "" {
			return fmt.Errorf("%w: cancel in queue %q has an empty ID", provider.ErrInvalidArgument, ref.Queue)
		}
	}
	return provider.ValidateExpiry(c)
}

// Commit applies c under lock. The protocol (see the package documentation):
//
//  1. check the lock and c against the store, under the entity's stripe;
//  2. publish one record to the entity's log subject, compare-and-set on the
//     entity's last log sequence read at fetch (fencing);
//  3. apply the record to the store with the shard's log watermark;
//  4. dispatch outgoing messages and cancels, advance the dispatch watermark;
//  5. ack the consumed deliveries, without waiting for the server's
//     confirmation (with Options.Durable, once the record is synced: the
//     sync begins after step 2 and runs during 3 and 4, and the lock is
//     released before the wait). A lost ack brings a delivery back, acked
//     then as consumed; QueueDepth waits for the acks made before it
//     (ackbarrier.go).
//
// Step 2 is the durability point: after it the commit has happened, and a
// failure later leaves it to be completed by the next use of the entity or by
// recovery.
func (p *Provider) Commit(ctx context.Context, l provider.EntityLock, c provider.Commit) error {
	wait, err := p.CommitDeferred(ctx, l, c)
	if err != nil || wait == nil {
		return err
	}
	return wait(ctx)
}

// CommitDeferred implements provider.DeferredCommitter: it is Commit
// without step 5's wait for the record's sync, which the returned wait
// does, with the acks (nil without Options.Durable: the acks are sent
// before it returns).
func (p *Provider) CommitDeferred(ctx context.Context, l provider.EntityLock, c provider.Commit) (wait func(context.Context) error, err error) {
	if err := p.checkOpen(); err != nil {
		return nil, err
	}
	fault := p.faults.take()
	q, err := p.entityQueue(l.Queue)
	if err != nil {
		return nil, err
	}
	if err := validateCommit(c); err != nil {
		return nil, err
	}
	q.mu.Lock()
	st, held, err := q.findLock(l, time.Now())
	if err != nil {
		q.mu.Unlock()
		return nil, err
	}
	held.committing = true
	q.mu.Unlock()

	done, wait, err := p.commit(ctx, q, st, held, c, fault)
	q.mu.Lock()
	held.committing = false
	switch done {
	case commitKeep:
	case commitLost:
		q.releaseLock(st, held, true, 0)
	case commitTaken:
		q.releaseLock(st, held, false, 0)
	case commitLapsed:
		q.restore(st, held)
	case commitDone:
		q.endCommitted(st, held)
	}
	q.mu.Unlock()
	return wait, err
}

// commitOutcome says what becomes of the lock after a commit attempt.
type commitOutcome int

const (
	// commitKeep: nothing happened; the lock is still held.
	commitKeep commitOutcome = iota
	// commitLost: nothing happened and the lock is void; the deliveries
	// are released at once.
	commitLost
	// commitTaken: the commit is durable (or may be) but did not finish;
	// the lock is void and its deliveries are left un-acked, to come back
	// after the ack wait and be acked as consumed.
	commitTaken
	// commitDone: the commit finished and its deliveries are acked.
	commitDone
	// commitLapsed: nothing happened and the shard's ownership lapsed; the
	// deliveries go back to the buffer, not fetched again, returned to the
	// server when the shard is released.
	commitLapsed
)

// commit carries out the protocol for one lock. With Options.Durable, a
// commit that gets as far as the acks ends its lock and returns the wait for
// its sync and the acks (as commitDone, for which ending the lock again does
// nothing); without, it acks before returning, and returns no wait.
func (p *Provider) commit(ctx context.Context, q *entityQueue, st *entityState, held *heldLock, c provider.Commit, fault string) (commitOutcome, func(context.Context) error, error) {
	entity := st.entity
	shard := p.names.shardOf(entity)
	sh := p.shard(shard)
	if sh == nil {
		return commitLost, nil, fmt.Errorf("%w: shard %d of entity %q is not owned", provider.ErrLockLost, shard, entity)
	}
	if !p.valid(sh) {
		// Not naked (that would hand the deliveries straight back to this
		// process, which may still be pulling: a redelivery loop).
		return commitLapsed, nil, fmt.Errorf("%w: the ownership of shard %d (entity %q) lapsed", provider.ErrLockLost, shard, entity)
	}
	mu := p.stripe(entity)
	mu.Lock()
	locked := true
	defer func() {
		if locked {
			mu.Unlock()
		}
	}()

	if p.needsRepair(entity) {
		// A failed commit left the log ahead of the store: this lock's
		// view is stale. Complete that commit; the check below then fails.
		if err := p.repairLocked(ctx, entity); err != nil {
			return commitKeep, nil, err
		}
	}
	es, err := p.store.Entity(entity)
	if err != nil {
		return commitKeep, nil, fmt.Errorf("read entity %q: %w", entity, err)
	}
	if es.LogSeq != held.logSeq {
		return commitLost, nil, fmt.Errorf("%w: entity %q changed since the fetch (log sequence %d, fetched at %d)",
			provider.ErrLockLost, entity, es.LogSeq, held.logSeq)
	}
	if c.Partition < es.Partition {
		return commitKeep, nil, fmt.Errorf("%w: entity %q is at partition %d, commit names %d",
			provider.ErrStalePartition, entity, es.Partition, c.Partition)
	}
	if err := p.checkDuplicates(entity, es, held, c); err != nil {
		return commitKeep, nil, err
	}
	if fault == stepPublish {
		return commitKeep, nil, injected(stepPublish)
	}

	rec := &record{
		kind:        kindCommit,
		entity:      entity,
		partition:   c.Partition,
		events:      c.Events,
		setMeta:     c.SetMetadata,
		delMeta:     c.DeleteMetadata,
		sends:       c.Send,
		cancels:     c.Cancel,
		consumed:    make([]string, len(held.msgs)),
		expireAt:    c.ExpireAt,
		expireParts: c.ExpirePartitions,
	}
	for i, d := range held.msgs {
		rec.consumed[i] = consumedID(q.name, d.env)
	}
	data := encodeRecord(rec)
	if len(data) > p.maxRecord {
		return commitKeep, nil, fmt.Errorf("%w: the commit record of %q is %d bytes, over the limit of %d bytes (the NATS server's max_payload)",
			provider.ErrTooLarge, entity, len(data), p.maxRecord)
	}
	subject := p.names.logSubject(entity)
	sh.beginWrite(subject)
	seq, err := p.publishRecord(ctx, subject, data, held.logSeq, p.names.recordMsgID(entity, held.logSeq, held.token))
	if err != nil {
		if isWrongLastSequence(err) {
			// Another writer (a process that took over the shard, a
			// delete) appended to the entity's log: this lock is fenced.
			p.markRepair(entity, shard, nil)
			p.endWrite(sh, subject, 0)
			return commitLost, nil, fmt.Errorf("%w: entity %q was written by someone else: %v", provider.ErrLockLost, entity, err)
		}
		// The record may or may not be in the log: the completer (or the
		// next use of the entity) reads the log to find out.
		p.markRepair(entity, shard, &pendingRecord{})
		p.endWrite(sh, subject, 0)
		return commitTaken, nil, fmt.Errorf("publish commit record of %q (outcome unknown; completed in the background): %w", entity, err)
	}
	// The record is stored: make it durable while it is applied and
	// dispatched, and wait for that before acking (durable.go). A commit
	// that sends messages shares the sync of the commits that consume
	// them if one comes soon enough.
	durable := p.beginDurable
	if len(rec.sends) > 0 {
		durable = p.beginDurableSoon
	}
	wait := durable()
	pending := &pendingRecord{seq: seq, rec: rec}
	fail := func(err error) (commitOutcome, func(context.Context) error, error) {
		p.markRepair(entity, shard, pending)
		p.endWrite(sh, subject, 0)
		return commitTaken, nil, err
	}
	if fault == stepApply {
		return fail(injected(stepApply))
	}
	if err := p.applyRecord(seq, rec); err != nil {
		return fail(err)
	}
	pending.applied = true
	if fault == stepDispatch {
		return fail(injected(stepDispatch))
	}
	if err := p.dispatch(ctx, rec, seq, fault == stepMidDispatch); err != nil {
		return fail(err)
	}
	p.endWrite(sh, subject, seq)
	mu.Unlock()
	locked = false

	if fault == stepAck {
		return commitTaken, nil, injected(stepAck)
	}
	if p.opts.Durable == nil {
		if err := p.ackUnconfirmed(q.name, shard, held.msgs); err != nil {
			// The commit stands; un-acked deliveries come back and are
			// acked as consumed.
			p.log.Warn("commit: ack failed", "entity", entity, "err", err)
			return commitTaken, nil, nil
		}
		return commitDone, nil, nil
	}
	// The entity's next batch may be fetched while the record's sync runs:
	// its commit appends after this record, so whatever sync makes it
	// durable makes this one durable too, and it acks nothing before its
	// own sync. The deliveries of this lock stay un-acked until the sync;
	// should it fail, they come back and are acked as consumed.
	q.mu.Lock()
	q.endCommitted(st, held)
	q.mu.Unlock()
	msgs := held.msgs
	return commitDone, func(ctx context.Context) error {
		if err := wait(ctx); err != nil {
			// Not acked: the deliveries come back and are acked as
			// consumed once the record is durable.
			return fmt.Errorf("commit of %q: %w: %w", entity, ErrNotDurable, err)
		}
		if err := p.ackUnconfirmed(q.name, shard, msgs); err != nil {
			// The commit stands; un-acked deliveries come back and are
			// acked as consumed.
			p.log.Warn("commit: ack failed", "entity", entity, "err", err)
		}
		return nil
	}, nil
}

// checkDuplicates rejects events whose Seq already exists in the partition.
// Appends above the partition's last Seq, the common case, cost no read:
// the caller checked that the entity's log sequence is still the one the
// fetch read, so the partition's last Seq is still the one the fetch saw.
func (p *Provider) checkDuplicates(entity string, es pebble.EntityState, held *heldLock, c provider.Commit) error {
	if len(c.Events) == 0 || !es.Exists || c.Partition > es.Partition {
		return nil
	}
	last := held.lastEvent
	if es.LogSeq != held.logSeq || c.Partition != held.partition {
		var ok bool
		var err error
		if last, ok, err = p.store.LastSeq(entity, c.Partition); err != nil {
			return fmt.Errorf("read last seq of %q: %w", entity, err)
		}
		if !ok {
			return nil
		}
	}
	below := false
	for _, e := range c.Events {
		below = below || e.Seq <= last
	}
	if !below {
		return nil
	}
	hist, err := p.store.History(entity, c.Partition)
	if err != nil {
		return fmt.Errorf("read history of %q: %w", entity, err)
	}
	have := make(map[uint64]struct{}, len(hist))
	for _, e := range hist {
		have[e.Seq] = struct{}{}
	}
	for _, e := range c.Events {
		if _, dup := have[e.Seq]; dup {
			return fmt.Errorf("%w: entity %q partition %d seq %d", provider.ErrDuplicateEvent, entity, c.Partition, e.Seq)
		}
	}
	return nil
}

// publishRecord appends a record to an entity's log subject, expecting base
// to be the subject's last sequence (0: no message on the subject).
func (p *Provider) publishRecord(ctx context.Context, subject string, data []byte, base uint64, msgID string) (uint64, error) {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(natsjs.ExpectedLastSubjSeqHeader, strconv.FormatUint(base, 10))
	m.Header.Set(writerHeader, p.writer)
	if msgID != "" {
		m.Header.Set(natsjs.MsgIDHeader, msgID)
	}
	ack, err := p.publishMsg(ctx, m)
	if err != nil {
		return 0, err
	}
	if ack.Duplicate {
		// The same lock already wrote this record: the compare-and-set
		// would have failed had it been the last one, so something else
		// has been written since.
		return 0, errDuplicateRecord
	}
	return ack.Sequence, nil
}

var errDuplicateRecord = errors.New("jetstream: commit record already published")

// isWrongLastSequence reports a failed compare-and-set on the log subject.
func isWrongLastSequence(err error) bool {
	if errors.Is(err, errDuplicateRecord) {
		return true
	}
	var apiErr *natsjs.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}

// applyRecord materializes a record this provider published at seq.
func (p *Provider) applyRecord(seq uint64, rec *record) error {
	if err := p.store.Apply([]pebble.Update{rec.update(seq)}, nil); err != nil {
		return fmt.Errorf("apply record %d of %q: %w", seq, rec.entity, err)
	}
	return nil
}

// endWrite closes sh.beginWrite for a record this provider wrote at seq (0:
// not written, or not completed), and wakes the completer when records of
// the subject are left for it.
func (p *Provider) endWrite(sh *shardState, subject string, seq uint64) {
	if sh.endWrite(subject, seq) {
		p.wakeCompleter()
	}
}
