package runtime

import (
	"context"
	"errors"
	"time"

	"github.com/reprise/reprise/provider"
)

// orchestrationLoop fetches instances and runs one turn per fetch.
func (w *Worker) orchestrationLoop(fetchCtx, workCtx context.Context) {
	defer w.loops.Done()
	for {
		b, err := w.p.FetchEntity(fetchCtx, w.opts.OrchestratorQueue)
		if err != nil {
			if fetchCtx.Err() != nil || errors.Is(err, provider.ErrClosed) {
				return
			}
			w.log.Error("fetch instance", "queue", w.opts.OrchestratorQueue, "err", err)
			retryDelay(fetchCtx, time.Second)
			continue
		}
		w.inflight.Add(1)
		w.processBatch(workCtx, b)
		w.inflight.Done()
	}
}

// processBatch runs one turn for a fetched instance and applies its commit.
func (w *Worker) processBatch(ctx context.Context, b *provider.EntityBatch) {
	id := b.Lock.Entity
	stopRenew := keepLocked(ctx, b.LockedUntil, func(ctx context.Context) (time.Time, error) {
		return w.p.RenewEntityLock(ctx, b.Lock)
	}, func(err error) { w.log.Warn("instance lock lost during turn", "instance", id, "err", err) })
	cached := w.cache.take(id)
	res := w.engine.turn(cached, b, w.opts.Now())
	stopRenew()
	if res.abandon {
		w.log.Warn("abandoning instance batch", "instance", id, "reason", res.reason, "delay", res.delay)
		if err := w.p.AbandonEntity(ctx, b.Lock, res.delay); err != nil && !errors.Is(err, provider.ErrLockLost) {
			w.log.Error("abandon instance", "instance", id, "err", err)
		}
		return
	}
	if err := w.p.Commit(ctx, b.Lock, res.commit); err != nil {
		if res.inst != nil {
			res.inst.stop()
		}
		w.log.Error("commit turn", "instance", id, "err", err)
		if !errors.Is(err, provider.ErrLockLost) {
			if err := w.p.AbandonEntity(ctx, b.Lock, 100*time.Millisecond); err != nil && !errors.Is(err, provider.ErrLockLost) {
				w.log.Error("abandon instance", "instance", id, "err", err)
			}
		}
		return
	}
	if res.inst != nil {
		w.cache.put(id, res.inst)
	}
	if res.status != "" {
		w.opts.Notifier.Publish(id, res.status)
	}
}
