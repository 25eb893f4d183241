package jetstream

import (
	"context"
	"errors"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// completerRetry is how long the completer waits before trying again work
// that failed (a publish timeout, a stream leader change).
const completerRetry = 250 * time.Millisecond

// wakeCompleter asks the completer to run.
func (p *Provider) wakeCompleter() {
	select {
	case p.completerWake <- struct{}{}:
	default:
	}
}

// completer finishes, in the background, what commits left undone: the
// entities marked for repair (a commit whose publish, apply or dispatch
// failed) and the orphan records found by the tailer (records of the owned
// shards that no commit of this process is writing: written by another
// process, or by a commit of this one that failed after publishing). Nothing
// has to read an entity for its messages to go out.
func (p *Provider) completer() {
	defer p.wg.Done()
	retry := time.NewTimer(completerRetry)
	defer retry.Stop()
	live := p.opts.Liveness.Loop(LoopCompleter)
	for {
		select {
		case <-p.closing:
			return
		case <-p.completerWake:
		case <-retry.C:
		}
		if p.opts.noCompleter {
			continue
		}
		done := live.Busy()
		clean := p.completeAll(p.closeCtx)
		done()
		if !clean {
			retry.Reset(completerRetry)
		}
	}
}

// completeAll runs one pass of the completer; false when work is left.
func (p *Provider) completeAll(ctx context.Context) bool {
	clean := true
	if err := p.repairAll(ctx); err != nil {
		clean = false
		if ctx.Err() == nil {
			p.log.Warn("complete unfinished commits", "err", err)
		}
	}
	for _, sh := range p.ownedStates() {
		for _, seq := range sh.orphans() {
			err := p.completeRecord(ctx, sh, seq)
			if errors.Is(err, errNotYet) {
				clean = false
				continue
			}
			if err != nil {
				clean = false
				if ctx.Err() == nil {
					p.log.Warn("complete log record", "shard", sh.id, "seq", seq, "err", err)
				}
				break // the records of a shard are completed in log order
			}
		}
	}
	return clean && !p.needsAnyRepair()
}

// errNotYet: a record of another writer that is neither confirmed by that
// writer nor old enough to be dispatched here.
var errNotYet = errors.New("jetstream: record of another writer not confirmed yet")

// completeRecord applies the record at seq of shard sh and, if no one has
// meanwhile, dispatches and settles it. A record of another writer is
// settled by that writer's own mark; it is dispatched here only if the
// writer has not confirmed it after foreignGrace.
func (p *Provider) completeRecord(ctx context.Context, sh *shardState, seq uint64) error {
	m, err := p.logStream.GetMsg(ctx, seq)
	if errors.Is(err, natsjs.ErrMsgNotFound) {
		// Purged below a deletion's tombstone: the tombstone, later in the
		// log, stands for it.
		sh.settle(seq)
		return nil
	}
	if err != nil {
		return err
	}
	rec, err := decodeRecord(m.Data)
	if err != nil {
		return err
	}
	mu := p.stripe(rec.entity)
	mu.Lock()
	defer mu.Unlock()
	// Bring the store up to the log: this applies the record if the store
	// is behind it (and dispatches and settles it if this process wrote it).
	if err := p.settleEntityLocked(ctx, rec.entity); err != nil {
		return err
	}
	ps, pending := sh.pendingInfo(seq)
	if !pending {
		return nil
	}
	if ps.writer != "" {
		if sh.applied(seq) {
			return nil // its writer dispatched it
		}
		if time.Since(ps.seen) < foreignGrace(p.opts.DuplicateWindow) {
			return errNotYet
		}
	}
	if ps.writer != "" {
		p.log.Warn("dispatching a record its writer did not confirm", "shard", sh.id, "seq", seq, "writer", ps.writer)
	}
	if err := p.dispatch(ctx, rec, seq, false); err != nil {
		return err
	}
	sh.settle(seq)
	return nil
}

func (p *Provider) needsAnyRepair() bool {
	p.repairMu.Lock()
	defer p.repairMu.Unlock()
	return len(p.repairs) > 0
}
