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
	for {
		select {
		case <-p.closing:
			return
		case <-p.completerWake:
		case <-retry.C:
		}
		if !p.completeAll(p.closeCtx) {
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
	for _, sh := range p.shards {
		for _, seq := range sh.orphans() {
			if err := p.completeRecord(ctx, sh, seq); err != nil {
				clean = false
				if ctx.Err() == nil {
					p.log.Warn("complete log record", "shard", sh.id, "seq", seq, "err", err)
				}
				break // records of a shard are completed in log order
			}
		}
	}
	return clean && !p.needsAnyRepair()
}

// completeRecord applies and dispatches the record at seq of shard sh, if
// no one has meanwhile, and settles it.
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
	// Bring the store up to the log (this applies, dispatches and settles
	// the record if the store was behind it)...
	if err := p.settleEntityLocked(ctx, rec.entity); err != nil {
		return err
	}
	// ...and dispatch it if it was applied but never dispatched.
	if sh.isPending(seq) {
		if err := p.dispatch(ctx, rec, seq, false); err != nil {
			return err
		}
		sh.settle(seq)
	}
	return nil
}

func (p *Provider) needsAnyRepair() bool {
	p.repairMu.Lock()
	defer p.repairMu.Unlock()
	return len(p.repairs) > 0
}
