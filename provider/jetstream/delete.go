package jetstream

import (
	"context"
	"fmt"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
)

// DeleteEntity removes the entity's history, metadata, log and pending
// messages. It appends a tombstone to the entity's log subject (so that a
// replay deletes too, and so that a commit under a lock taken before fails
// its compare-and-set), deletes the entity from the store, then purges the
// log subject below the tombstone and the entity's queued and delayed
// messages in every queue. An entity that never committed has no tombstone
// written; its messages are purged all the same. With Options.Durable the
// tombstone is synced before anything is purged, and the purges before
// returning.
func (p *Provider) DeleteEntity(ctx context.Context, entity string) error {
	if err := p.deleteEntity(ctx, entity); err != nil {
		return err
	}
	return p.syncDurable(ctx)
}

func (p *Provider) deleteEntity(ctx context.Context, entity string) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	if err := provider.ValidateEntity(entity); err != nil {
		return err
	}
	if p.store == nil {
		return ErrNoStore
	}
	mu := p.stripe(entity)
	mu.Lock()
	defer mu.Unlock()
	if err := p.repairLocked(ctx, entity); err != nil {
		return err
	}
	info, err := p.workStream.Info(ctx)
	if err != nil {
		return fmt.Errorf("delete %q: %w", entity, err)
	}
	purgeBelow := info.State.LastSeq
	// Forget the deliveries first: a lock on them must not commit.
	for _, q := range p.queues {
		q.mu.Lock()
		q.dropEntity(entity, purgeBelow)
		q.mu.Unlock()
	}
	es, err := p.store.Entity(entity)
	if err != nil {
		return fmt.Errorf("delete %q: %w", entity, err)
	}
	shard := p.names.shardOf(entity)
	sh := p.shard(shard)
	if sh != nil && !es.Exists && es.LogSeq == 0 {
		// Nothing was ever logged for the entity here.
		return p.purgeQueues(ctx, entity, purgeBelow)
	}

	rec := &record{kind: kindDelete, entity: entity, purgeBelow: purgeBelow}
	subject := p.names.logSubject(entity)
	if sh != nil {
		sh.beginWrite(subject)
	}
	// No compare-and-set: a deletion wins over any lock.
	m := natsMsg(subject, encodeRecord(rec))
	m.Header.Set(writerHeader, p.writer)
	ack, err := p.publishMsg(ctx, m)
	if err != nil {
		if sh != nil {
			p.markRepair(entity, shard, &pendingRecord{})
			p.endWrite(sh, subject, 0)
		}
		return fmt.Errorf("delete %q: publish tombstone: %w", entity, err)
	}
	seq := ack.Sequence
	if err := p.syncDurable(ctx); err != nil {
		// Not applied nor purged: the completer (or the next use of the
		// entity) does both from the log.
		if sh != nil {
			p.markRepair(entity, shard, &pendingRecord{seq: seq, rec: rec})
			p.endWrite(sh, subject, 0)
		}
		return fmt.Errorf("delete %q: tombstone: %w", entity, err)
	}
	if sh == nil {
		if err := p.applyRecord(seq, rec); err != nil {
			return fmt.Errorf("delete %q: %w", entity, err)
		}
		return p.purgeEntity(ctx, entity, seq, purgeBelow)
	}
	pending := &pendingRecord{seq: seq, rec: rec}
	if err := p.applyRecord(seq, rec); err != nil {
		p.markRepair(entity, shard, pending)
		p.endWrite(sh, subject, 0)
		return fmt.Errorf("delete %q: %w", entity, err)
	}
	pending.applied = true
	if err := p.purgeEntity(ctx, entity, seq, purgeBelow); err != nil {
		p.markRepair(entity, shard, pending)
		p.endWrite(sh, subject, 0)
		return err
	}
	p.endWrite(sh, subject, seq)
	return nil
}

// purgeEntity removes the entity's log records below its tombstone at seq,
// and its messages stored in the work stream up to purgeBelow.
func (p *Provider) purgeEntity(ctx context.Context, entity string, seq, purgeBelow uint64) error {
	err := p.logStream.Purge(ctx, natsjs.WithPurgeSubject(p.names.logSubject(entity)), natsjs.WithPurgeSequence(seq))
	if err != nil {
		return fmt.Errorf("delete %q: purge log: %w", entity, err)
	}
	return p.purgeQueues(ctx, entity, purgeBelow)
}

// purgeQueues removes the entity's queued and delayed messages in every
// queue stored up to purgeBelow.
func (p *Provider) purgeQueues(ctx context.Context, entity string, purgeBelow uint64) error {
	if purgeBelow == 0 {
		return nil
	}
	for _, f := range p.names.entityPurgeFilters(entity) {
		err := p.workStream.Purge(ctx, natsjs.WithPurgeSubject(f), natsjs.WithPurgeSequence(purgeBelow+1))
		if err != nil {
			return fmt.Errorf("delete %q: purge %s: %w", entity, f, err)
		}
	}
	return nil
}
