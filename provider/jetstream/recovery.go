package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/pebble"
)

// pendingRecord is a record this provider published (or may have) whose
// commit stopped before finishing.
type pendingRecord struct {
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
// is unfinished. The completer repairs it in the background; a use of the
// entity before that repairs it first.
func (p *Provider) markRepair(entity string, shard int, pr *pendingRecord) {
	p.repairMu.Lock()
	r := p.repairs[entity]
	if r == nil {
		r = &repairEntry{shard: shard}
		p.repairs[entity] = r
	}
	if pr != nil {
		r.pending = append(r.pending, pr)
	}
	p.repairMu.Unlock()
	p.wakeCompleter()
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
	var errs []error
	for _, e := range entities {
		if err := p.repair(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// repairLocked brings entity's store state up to its log and finishes the
// dispatch of its unfinished records (settleEntityLocked), if it was marked
// for repair. The entity's stripe is held.
func (p *Provider) repairLocked(ctx context.Context, entity string) error {
	p.repairMu.Lock()
	r := p.repairs[entity]
	p.repairMu.Unlock()
	if r == nil {
		return nil
	}
	return p.settleEntityLocked(ctx, entity)
}

// settleEntityLocked dispatches entity's records that were applied but not
// dispatched, applies and dispatches the records of its log above the store,
// settles them in their shard, clears the entity's repair mark and acks its
// buffered deliveries that turn out consumed. It is what recovery does for a
// shard, for one entity, while the provider runs. The entity's stripe is
// held.
func (p *Provider) settleEntityLocked(ctx context.Context, entity string) error {
	p.repairMu.Lock()
	r := p.repairs[entity]
	p.repairMu.Unlock()
	sh := p.shard(p.names.shardOf(entity))
	if r != nil {
		// Records applied but not (fully) dispatched come first: they are
		// older than anything the log holds above the store.
		for _, pr := range r.pending {
			if !pr.applied {
				continue
			}
			if err := p.dispatch(ctx, pr.rec, pr.seq, false); err != nil {
				return fmt.Errorf("repair %q: %w", entity, err)
			}
			if sh != nil {
				sh.settle(pr.seq)
			}
			pr.applied = false
			pr.seq = 0 // done; a retry of this entry must not send it again
		}
	}
	if err := p.catchUp(ctx, entity); err != nil {
		return fmt.Errorf("repair %q: %w", entity, err)
	}
	if r != nil {
		p.repairMu.Lock()
		if p.repairs[entity] == r {
			delete(p.repairs, entity)
		}
		p.repairMu.Unlock()
	}
	p.ackConsumedBuffered(entity)
	return nil
}

// catchUp applies the records of entity's log subject above the entity's
// last log sequence in the store, and dispatches and settles those this
// provider wrote. Stripe held.
func (p *Provider) catchUp(ctx context.Context, entity string) error {
	es, err := p.store.Entity(entity)
	if err != nil {
		return err
	}
	subject := p.names.logSubject(entity)
	sh := p.shard(p.names.shardOf(entity))
	for next := es.LogSeq + 1; ; {
		m, err := p.logStream.GetMsg(ctx, next, natsjs.WithGetMsgSubject(subject))
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			if next == es.LogSeq+1 {
				// Nothing above the store: a deleted entity whose
				// tombstone was trimmed is forgotten.
				return p.forgetIfTrimmed(ctx, entity, es)
			}
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
		if m.Header.Get(writerHeader) != p.writer {
			// Another writer's record: that writer dispatches it (the
			// completer checks, see completeRecord).
			next = m.Sequence + 1
			continue
		}
		if err := p.dispatch(ctx, rec, m.Sequence, false); err != nil {
			// Applied, not dispatched: the record stays pending in its
			// shard, and the completer dispatches it (completeRecord).
			return err
		}
		if sh != nil {
			sh.settle(m.Sequence)
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
					p.ackWhenDurable(d.msg)
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

// RecoveryReport says what New found in the log for the owned shards.
type RecoveryReport struct {
	// Records is how many log records were read.
	Records int
	// Redispatched is how many of them were above their shard's dispatch
	// mark and were dispatched again; Messages counts their outgoing
	// messages. These are the records whose dispatch was not confirmed
	// when the previous owner stopped: each message was either sent then
	// or never, and is sent now (a copy the server still remembers within
	// its duplicate window is dropped).
	Redispatched, Messages int
}

// Recovered returns what the recoveries of the shards acquired so far did
// (New's and AcquireShard's, summed).
func (p *Provider) Recovered() RecoveryReport {
	p.recMu.Lock()
	defer p.recMu.Unlock()
	return p.recovered
}

// recoverShard replays the shard's log above the store's log watermark and
// the shard's dispatch mark: records above the entity's last log sequence in
// the store are applied (whoever wrote them); records above the dispatch
// mark are dispatched again. It returns the shard's state and the log
// sequence from which its tailer takes over. Deliveries already consumed are
// acked when they are redelivered (entityQueue.onMessage).
func (p *Provider) recoverShard(ctx context.Context, shard int) (*shardState, uint64, error) {
	info, err := p.logStream.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("read log stream: %w", err)
	}
	tailFrom := info.State.LastSeq + 1
	applied, err := p.store.Watermark(logWatermark(shard))
	if err != nil {
		return nil, 0, err
	}
	if applied, err = p.resetIfAheadOfLog(ctx, shard, applied); err != nil {
		return nil, 0, err
	}
	head, err := p.restoreIfBehind(ctx, shard, applied)
	if err != nil {
		return nil, 0, err
	}
	mark, markSeq, err := p.readMark(ctx, shard)
	if err != nil {
		return nil, 0, err
	}
	if head != nil {
		// Everything the snapshot covers was dispatched before it was
		// taken, whatever a stale dispatch mark says; the store holds
		// it all.
		applied = max(applied, head.Seq)
		mark = max(mark, head.Seq)
	}
	sh := newShardState(shard, 0, mark)
	sh.markSeq = markSeq
	sh.snap = head
	last, err := p.replayShard(ctx, sh, applied, mark)
	if err != nil {
		return nil, 0, err
	}
	sh.mark = max(applied, mark, last)
	sh.stored = applied
	sh.lastRecord = last
	if sh.mark > sh.published {
		// Confirm what was dispatched again before anything else runs.
		if _, err := p.js.PublishMsg(ctx, p.markMsg(shard, sh.mark, sh.mark)); err != nil {
			return nil, 0, fmt.Errorf("write dispatch mark: %w", err)
		}
		sh.published, sh.publishedOwn = sh.mark, sh.mark
	}
	return sh, tailFrom, nil
}

// restoreIfBehind reads the shard's snapshot head and, when the store has
// not applied everything the snapshot covers (a new, rebuilt or stale
// store), replaces the store's state of the shard with the snapshot. It
// returns the head (nil: the shard has no snapshot). A restore that fails
// because a newer snapshot replaced the one being read starts again.
func (p *Provider) restoreIfBehind(ctx context.Context, shard int, applied uint64) (*snapHead, error) {
	for attempt := 0; ; attempt++ {
		head, err := p.readSnapHead(ctx, shard)
		if err != nil || head == nil || head.Seq <= applied {
			return head, err
		}
		err = p.restoreSnapshot(ctx, shard, head)
		if err == nil {
			return head, nil
		}
		if attempt == 2 || ctx.Err() != nil {
			return nil, err
		}
		p.log.Warn("restore snapshot again", "shard", shard, "err", err)
	}
}

// replayShard replays one shard's log from min(applied, mark)+1 to its end
// at the time of the call, and returns the last sequence replayed.
func (p *Provider) replayShard(ctx context.Context, sh *shardState, applied, mark uint64) (uint64, error) {
	shard := sh.id
	start := min(applied, mark) + 1
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
		return 0, fmt.Errorf("create replay consumer: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
		defer cancel()
		_ = p.logStream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	total := int(cons.CachedInfo().NumPending)
	var last uint64
	first, redispatched, messages, records, noPull := uint64(0), 0, 0, 0, 0
	defer func() {
		p.recMu.Lock()
		p.recovered.Records += records
		p.recovered.Redispatched += redispatched
		p.recovered.Messages += messages
		p.recMu.Unlock()
	}()
	for n := 0; n < total; {
		batch, err := cons.Fetch(min(total-n, 256), natsjs.FetchMaxWait(requestTimeout))
		for try := 0; errors.Is(err, nats.ErrNoResponders) && try < 50; try++ {
			// A consumer just created on a cluster may not serve pulls for
			// a moment.
			select {
			case <-ctx.Done():
				return last, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			batch, err = cons.Fetch(min(total-n, 256), natsjs.FetchMaxWait(requestTimeout))
		}
		if err != nil {
			return last, fmt.Errorf("read the log: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			n++
			meta, err := m.Metadata()
			if err != nil {
				return last, err
			}
			seq := meta.Sequence.Stream
			if first == 0 {
				first = seq
			}
			if _, isMark, _ := p.names.parseLogSubject(m.Subject()); isMark {
				last = seq
				continue
			}
			sends, err := p.replayRecord(ctx, shard, seq, m.Data(), applied, mark)
			if err != nil {
				return last, fmt.Errorf("record %d: %w", seq, err)
			}
			sh.tailCounted(len(m.Data()))
			if seq > mark {
				redispatched++
				messages += sends
			}
			last = seq
			records++
			if p.opts.recoveryFault > 0 && p.Recovered().Records+records >= p.opts.recoveryFault {
				return last, errRecoveryFault
			}
		}
		if err := batch.Error(); err != nil && !(got == 0 && errors.Is(err, nats.ErrNoResponders)) {
			return last, fmt.Errorf("read the log: %w", err)
		}
		if got == 0 && noPull < 50 {
			// A consumer just created on a cluster may not serve pulls
			// for a moment.
			noPull++
			select {
			case <-ctx.Done():
				return last, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		if got == 0 {
			return last, fmt.Errorf("replay stalled at %d of %d records", n, total)
		}
	}
	if total > 0 {
		p.log.Info("recovered shard", "shard", shard, "from", first, "to", last, "records", total,
			"redispatched", redispatched)
	}
	return last, nil
}

// replayRecord applies one record if the store is behind it, and dispatches
// it if the shard's dispatch mark is; it returns how many messages it sent.
func (p *Provider) replayRecord(ctx context.Context, shard int, seq uint64, data []byte, applied, mark uint64) (int, error) {
	rec, err := decodeRecord(data)
	if err != nil {
		return 0, err
	}
	if seq > applied {
		es, err := p.store.Entity(rec.entity)
		if err != nil {
			return 0, err
		}
		if seq > es.LogSeq {
			err := p.store.Apply([]pebble.Update{rec.update(seq)}, map[string]uint64{logWatermark(shard): seq})
			if err != nil {
				return 0, err
			}
		}
	}
	if seq > mark {
		return len(rec.sends), p.dispatch(ctx, rec, seq, false)
	}
	return 0, nil
}
