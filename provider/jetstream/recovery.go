package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/pebble"
)

// pendingRecord is a record this provider published (or may have) whose
// commit stopped before finishing.
type pendingRecord struct {
	tickets tickets
	seq     uint64  // 0: outcome of the publish unknown
	rec     *record // nil when seq is 0
	applied bool
}

// repairEntry lists what is unfinished for one entity: the log may be ahead
// of the store, and records may be applied but not dispatched.
type repairEntry struct {
	shard   int
	pending []*pendingRecord
}

// markRepair notes that entity's log may be ahead of the store, or that pr
// is unfinished; the next use of the entity completes it (repair).
func (p *Provider) markRepair(entity string, shard int, pr *pendingRecord) {
	p.repairMu.Lock()
	defer p.repairMu.Unlock()
	r := p.repairs[entity]
	if r == nil {
		r = &repairEntry{shard: shard}
		p.repairs[entity] = r
	}
	if pr != nil {
		r.pending = append(r.pending, pr)
	}
}

func (p *Provider) needsRepair(entity string) bool {
	p.repairMu.Lock()
	defer p.repairMu.Unlock()
	return p.repairs[entity] != nil
}

// repair completes entity's unfinished commits (see repairLocked).
func (p *Provider) repair(ctx context.Context, entity string) error {
	mu := p.stripe(entity)
	mu.Lock()
	defer mu.Unlock()
	return p.repairLocked(ctx, entity)
}

// repairAll repairs every entity that needs it.
func (p *Provider) repairAll(ctx context.Context) error {
	p.repairMu.Lock()
	entities := make([]string, 0, len(p.repairs))
	for e := range p.repairs {
		entities = append(entities, e)
	}
	p.repairMu.Unlock()
	for _, e := range entities {
		if err := p.repair(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// repairLocked brings entity's store state up to its log and finishes the
// dispatch of its unfinished records, then acks its buffered deliveries that
// turn out consumed. It is what recovery does for a shard, for one entity,
// while the provider runs. The entity's stripe is held.
func (p *Provider) repairLocked(ctx context.Context, entity string) error {
	p.repairMu.Lock()
	r := p.repairs[entity]
	p.repairMu.Unlock()
	if r == nil {
		return nil
	}
	// Records applied but not (fully) dispatched come first: they are
	// older than anything the log holds above the store.
	for _, pr := range r.pending {
		if pr.applied {
			if err := p.dispatch(ctx, pr.rec, pr.seq, false); err != nil {
				return fmt.Errorf("repair %q: %w", entity, err)
			}
		}
	}
	if err := p.catchUp(ctx, entity); err != nil {
		return fmt.Errorf("repair %q: %w", entity, err)
	}
	es, err := p.store.Entity(entity)
	if err != nil {
		return fmt.Errorf("repair %q: %w", entity, err)
	}
	if sh := p.shards[r.shard]; sh != nil {
		for _, pr := range r.pending {
			seq := pr.seq
			if seq == 0 {
				seq = es.LogSeq
			}
			sh.apply.complete(pr.tickets.apply, seq)
			sh.dispatch.complete(pr.tickets.dispatch, seq)
		}
		if len(r.pending) > 0 {
			err := p.store.Apply(nil, map[string]uint64{
				logWatermark(sh.id):      sh.apply.watermark(),
				dispatchWatermark(sh.id): sh.dispatch.watermark(),
			})
			if err != nil {
				p.log.Warn("persist watermarks after repair", "shard", sh.id, "err", err)
			}
		}
	}
	p.repairMu.Lock()
	if p.repairs[entity] == r {
		delete(p.repairs, entity)
	}
	p.repairMu.Unlock()
	p.ackConsumedBuffered(entity)
	return nil
}

// catchUp applies and dispatches the records of entity's log subject above
// the entity's last log sequence in the store. Stripe held.
func (p *Provider) catchUp(ctx context.Context, entity string) error {
	es, err := p.store.Entity(entity)
	if err != nil {
		return err
	}
	subject := p.names.logSubject(entity)
	for next := es.LogSeq + 1; ; {
		m, err := p.logStream.GetMsg(ctx, next, natsjs.WithGetMsgSubject(subject))
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read log of %q from %d: %w", entity, next, err)
		}
		rec, err := decodeRecord(m.Data)
		if err != nil {
			return fmt.Errorf("log record %d: %w", m.Sequence, err)
		}
		if err := p.store.Apply([]pebble.Update{rec.update(m.Sequence)}, nil); err != nil {
			return fmt.Errorf("apply log record %d: %w", m.Sequence, err)
		}
		if sh := p.shards[p.names.shardOf(entity)]; sh != nil {
			sh.apply.observe(m.Sequence)
			sh.dispatch.observe(m.Sequence)
		}
		if err := p.dispatch(ctx, rec, m.Sequence, false); err != nil {
			return err
		}
		next = m.Sequence + 1
	}
}

// ackConsumedBuffered acks and drops the buffered deliveries of entity that
// the store now records as consumed.
func (p *Provider) ackConsumedBuffered(entity string) {
	for _, q := range p.queues {
		q.mu.Lock()
		if st := q.entities[entity]; st != nil {
			kept := st.buffered[:0]
			for _, d := range st.buffered {
				if ok, err := p.store.Consumed(entity, consumedID(q.name, d.env)); err == nil && ok {
					_ = d.msg.Ack()
					continue
				}
				kept = append(kept, d)
			}
			clear(st.buffered[len(kept):])
			st.buffered = kept
			q.signal()
			q.forget(st)
		}
		q.mu.Unlock()
	}
}

// errRecoveryFault is returned by a recovery stopped by Options.recoveryFault.
var errRecoveryFault = fmt.Errorf("recovery stopped: %w", provider.ErrInjectedFault)

// recover replays, for every owned shard, the log above the store's
// watermarks: records above the log watermark and the entity's own last log
// sequence are applied; records above the dispatch watermark are dispatched
// again (idempotently). Deliveries already consumed are acked when they are
// redelivered (entityQueue.onMessage).
func (p *Provider) recover(ctx context.Context) error {
	replayed := 0
	for _, shard := range p.opts.OwnedShards {
		applied, err := p.store.Watermark(logWatermark(shard))
		if err != nil {
			return err
		}
		dispatched, err := p.store.Watermark(dispatchWatermark(shard))
		if err != nil {
			return err
		}
		last, n, err := p.replayShard(ctx, shard, applied, dispatched, &replayed)
		if err != nil {
			return fmt.Errorf("recover shard %d: %w", shard, err)
		}
		if n > 0 {
			p.log.Info("recovered shard", "shard", shard, "records", n, "from", min(applied, dispatched)+1, "to", last)
		}
		p.shards[shard] = newShardState(shard, max(applied, last), max(dispatched, last))
	}
	return nil
}

// replayShard replays one shard's log from min(applied, dispatched)+1 to its
// end at the time of the call, and returns the last sequence replayed and the
// record count.
func (p *Provider) replayShard(ctx context.Context, shard int, applied, dispatched uint64, replayed *int) (uint64, int, error) {
	start := min(applied, dispatched) + 1
	cons, err := p.logStream.CreateConsumer(ctx, natsjs.ConsumerConfig{
		FilterSubject:     p.names.logShardFilter(shard),
		DeliverPolicy:     natsjs.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         natsjs.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return 0, 0, fmt.Errorf("create replay consumer: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
		defer cancel()
		_ = p.logStream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	total := int(cons.CachedInfo().NumPending)
	var last uint64
	flushed := dispatched
	persist := func() error {
		if last > flushed {
			flushed = last
			return p.store.Apply(nil, map[string]uint64{dispatchWatermark(shard): last})
		}
		return nil
	}
	for n := 0; n < total; {
		batch, err := cons.Fetch(min(total-n, 256), natsjs.FetchMaxWait(requestTimeout))
		if err != nil {
			return last, n, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return last, n, err
			}
			seq := meta.Sequence.Stream
			if err := p.replayRecord(ctx, shard, seq, m.Data(), applied, dispatched); err != nil {
				return last, n, fmt.Errorf("record %d: %w", seq, err)
			}
			last = seq
			n++
			*replayed++
			if p.opts.recoveryFault > 0 && *replayed >= p.opts.recoveryFault {
				return last, n, errors.Join(errRecoveryFault, persist())
			}
			if n%256 == 0 {
				if err := persist(); err != nil {
					return last, n, err
				}
			}
		}
		if err := batch.Error(); err != nil {
			return last, n, err
		}
		if got == 0 {
			return last, n, fmt.Errorf("replay stalled at %d of %d records", n, total)
		}
	}
	return last, total, persist()
}

// replayRecord applies one record if the store is behind it, and dispatches
// it if the dispatch watermark is.
func (p *Provider) replayRecord(ctx context.Context, shard int, seq uint64, data []byte, applied, dispatched uint64) error {
	rec, err := decodeRecord(data)
	if err != nil {
		return err
	}
	if seq > applied {
		es, err := p.store.Entity(rec.entity)
		if err != nil {
			return err
		}
		if seq > es.LogSeq {
			err := p.store.Apply([]pebble.Update{rec.update(seq)}, map[string]uint64{logWatermark(shard): seq})
			if err != nil {
				return err
			}
		}
	}
	if seq > dispatched {
		return p.dispatch(ctx, rec, seq, false)
	}
	return nil
}
