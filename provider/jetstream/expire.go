package jetstream

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/pebble"
)

// Expiry (provider.Commit.ExpireAt and ExpirePartitions).
//
// A commit's expiries travel in its record (after everything else, only when
// set, so records without them are byte for byte what they were), and the
// store schedules them when it applies the record: they survive restarts,
// and a store rebuilt from the log schedules them again.
//
// The expirer, one goroutine per provider, carries out every
// Options.ExpiryInterval the due expiries of the shards this process owns
// and serves (a store may hold stale entities of shards owned elsewhere:
// those are left alone):
//
//   - An entity expiry appends a tombstone to the entity's log subject,
//     compare-and-set on the entity's last log sequence, exactly like a
//     commit: a commit under a lock taken before then fails its own
//     compare-and-set (ErrLockLost), and a commit that got in first has set
//     the entity's expiry anew, which the expirer reads again before trying.
//     The tombstone is then applied (the store deletes history, metadata,
//     index entries, consumed ids and expiries) and dispatched (the log
//     subject is purged below it), as DeleteEntity's is, except that the
//     entity's queued messages are kept (purgeBelow 0): they are delivered
//     to the entity as a new one. A failure part way is completed like a
//     failed commit: by the completer, or by recovery.
//   - A partition expiry is carried out in the store only
//     (pebble.Store.ExpirePartitions): partitions below the current one are
//     never written again, so nothing needs fencing, and a store rebuilt
//     from the log schedules the expiry again from the record that set it.
//     The log records of those partitions are removed by the log's own
//     trimming, not here.

// encodeExpiry appends the record's expiry trailer, if it has one.
func encodeExpiry(w *writer, rec *record) {
	if rec.expireAt.IsZero() && rec.expireParts.Below == 0 {
		return
	}
	w.varint(unixNanos(rec.expireAt))
	w.uvarint(rec.expireParts.Below)
	w.varint(unixNanos(rec.expireParts.At))
}

// decodeExpiry reads the expiry trailer, if the record has one.
func decodeExpiry(r *reader, rec *record) {
	if r.err != nil || len(r.b) == 0 {
		return
	}
	at, below, partsAt := r.varint(), r.uvarint(), r.varint()
	if r.err != nil {
		return
	}
	if (at == 0 && below == 0) || (below == 0) != (partsAt == 0) {
		r.fail("malformed expiry")
		return
	}
	if at != 0 {
		rec.expireAt = time.Unix(0, at)
	}
	if below != 0 {
		rec.expireParts = provider.PartitionExpiry{Below: below, At: time.Unix(0, partsAt)}
	}
}

func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// expiryBatch bounds the expiries one read from the store returns;
// expiryWorkers bounds the entities expired at once.
const (
	expiryBatch   = 512
	expiryWorkers = 16
)

// expirer carries out due expiries until Close.
func (p *Provider) expirer() {
	defer p.wg.Done()
	tick := time.NewTicker(p.opts.ExpiryInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.closing:
			return
		case <-tick.C:
			if err := p.expireDue(p.closeCtx, time.Now()); err != nil && p.closeCtx.Err() == nil {
				p.log.Warn("expire", "err", err)
			}
		}
	}
}

// expireDue carries out the expiries due at now in the owned, serving
// shards, batch after batch until none is left, up to expiryWorkers
// entities at a time. A failed expiry stays scheduled and is tried again on
// the next pass (this one goes on with the others).
func (p *Provider) expireDue(ctx context.Context, now time.Time) error {
	owned := func(entity string) bool {
		sh := p.shard(p.names.shardOf(entity))
		return sh != nil && sh.serving.Load() && p.valid(sh)
	}
	// seen holds the expiries this pass tried: one that failed, or that
	// was left for later (written to meanwhile), is not tried twice.
	seen := map[pebble.Expiry]bool{}
	var first error
	for {
		due, err := p.store.DueExpiries(now, expiryBatch+len(seen), owned)
		if err != nil {
			return err
		}
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			sem  = make(chan struct{}, expiryWorkers)
			todo int
		)
		for _, x := range due {
			if seen[x] {
				continue
			}
			if ctx.Err() != nil {
				break
			}
			seen[x] = true
			todo++
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				var err error
				if x.Below > 0 {
					err = p.store.ExpirePartitions(x.Entity, x.Below)
				} else {
					err = p.expireEntity(ctx, x.Entity, now)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if todo == 0 || len(due) < expiryBatch+len(seen)-todo {
			return first
		}
	}
}

// expireEntity deletes an entity whose expiry is due, fenced like a commit.
func (p *Provider) expireEntity(ctx context.Context, entity string, now time.Time) error {
	shard := p.names.shardOf(entity)
	sh := p.shard(shard)
	if sh == nil {
		return nil // released meanwhile: its next owner expires it
	}
	mu := p.stripe(entity)
	mu.Lock()
	defer mu.Unlock()
	if err := p.repairLocked(ctx, entity); err != nil {
		return err
	}
	// Read again under the stripe: a commit may have set a new expiry.
	at, err := p.store.EntityExpiry(entity)
	if err != nil {
		return fmt.Errorf("expire %q: %w", entity, err)
	}
	if at.IsZero() || at.After(now) {
		return nil
	}
	es, err := p.store.Entity(entity)
	if err != nil {
		return fmt.Errorf("expire %q: %w", entity, err)
	}
	rec := &record{kind: kindDelete, entity: entity}
	subject := p.names.logSubject(entity)
	sh.beginWrite(subject)
	seq, err := p.publishRecord(ctx, subject, encodeRecord(rec), es.LogSeq, "")
	if err != nil {
		if isWrongLastSequence(err) {
			// Someone wrote to the entity since the store saw it: catch
			// up; the next pass decides on what the entity is then.
			p.markRepair(entity, shard, nil)
			p.endWrite(sh, subject, 0)
			return nil
		}
		p.markRepair(entity, shard, &pendingRecord{})
		p.endWrite(sh, subject, 0)
		return fmt.Errorf("expire %q: publish tombstone: %w", entity, err)
	}
	pending := &pendingRecord{seq: seq, rec: rec}
	// The tombstone is durable before the store forgets the entity and
	// its log is purged (durable.go).
	err = p.syncDurable(ctx)
	if err == nil {
		err = p.applyRecord(seq, rec)
	}
	if err != nil {
		p.markRepair(entity, shard, pending)
		p.endWrite(sh, subject, 0)
		return fmt.Errorf("expire %q: %w", entity, err)
	}
	pending.applied = true
	if err := p.dispatch(ctx, rec, seq, false); err != nil {
		p.markRepair(entity, shard, pending)
		p.endWrite(sh, subject, 0)
		return fmt.Errorf("expire %q: %w", entity, err)
	}
	p.endWrite(sh, subject, seq)
	return nil
}
