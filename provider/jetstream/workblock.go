package jetstream

import (
	"context"
	"errors"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// The NATS file store removes a message block once its last message is
// gone, and when that block is the one being written, it creates a new
// block file to replace it. A work-queue stream that empties after each
// delivery is acked (every quiet moment of a lightly loaded engine: a
// hello at one in flight empties it once) then creates and deletes a
// block file per emptying: file-system metadata for every syncfs of
// Options.Durable to commit, and system calls for the server. Measured
// with hello at one in flight and -fsync, the bench's work stream created
// 1,196 block files for 1,200 instances, and p50 went from 2.09-2.14 to
// 1.92-1.93 ms with the block kept.
//
// keepWorkBlock keeps the block being written from emptying: it stores a
// small message that no consumer matches (sentinelSubject) and, once a
// second, stores a new one and deletes the one before, so that after the
// file store starts a new block, the next sentinel lands in it. Only a
// provider with a store (an orchestrator) runs it.

// sentinelEvery is how often the sentinel is renewed.
const sentinelEvery = time.Second

// sentinelSubject is the subject of the work stream's sentinels: in the
// stream's subjects, and matched by no consumer (a queue name cannot
// contain '~', and every queue subject has a fourth token).
func (n names) sentinelSubject() string { return n.prefix + ".w.~keep" }

// keepWorkBlock runs until the provider closes (see above).
func (p *Provider) keepWorkBlock() {
	defer p.wg.Done()
	ctx := p.closeCtx
	// Sentinels of earlier runs (a crashed process) go first.
	if err := p.workStream.Purge(ctx, natsjs.WithPurgeSubject(p.names.sentinelSubject())); err != nil && ctx.Err() == nil {
		p.log.Debug("work stream sentinel: purge", "err", err)
	}
	var last uint64
	tick := time.NewTicker(sentinelEvery)
	defer tick.Stop()
	for {
		if ack, err := p.js.Publish(ctx, p.names.sentinelSubject(), nil); err == nil {
			if last != 0 {
				p.deleteSentinel(ctx, last)
			}
			last = ack.Sequence
		} else if ctx.Err() == nil {
			p.log.Debug("work stream sentinel: publish", "err", err)
		}
		select {
		case <-p.closing:
			if last != 0 {
				dctx, cancel := context.WithTimeout(context.Background(), time.Second)
				p.deleteSentinel(dctx, last)
				cancel()
			}
			return
		case <-tick.C:
		}
	}
}

func (p *Provider) deleteSentinel(ctx context.Context, seq uint64) {
	if err := p.workStream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, natsjs.ErrMsgNotFound) && ctx.Err() == nil {
		p.log.Debug("work stream sentinel: delete", "seq", seq, "err", err)
	}
}
