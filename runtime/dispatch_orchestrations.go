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
		w.observeRedeliveries(w.opts.OrchestratorQueue, b.Messages)
		w.inflight.Add(1)
		w.processBatch(workCtx, b)
		w.inflight.Done()
	}
}

// processBatch runs one turn for a fetched instance, applies its commit,
// reports the turn to the observer and then publishes the new status (so
// that whoever learns of the status finds the metrics already updated).
func (w *Worker) processBatch(ctx context.Context, b *provider.EntityBatch) {
	began := time.Now()
	res := w.runTurn(ctx, b)
	committed := w.applyTurn(ctx, b, &res)
	w.observeTurn(&res.stats, b, time.Since(began), committed)
	if !committed || res.status == "" {
		return
	}
	if res.statusChanged && w.opts.OnStatusChange != nil {
		w.opts.OnStatusChange(StatusChange{ID: b.Lock.Entity, Name: res.name, Status: res.status, Partition: res.commit.Partition})
	}
	w.opts.Notifier.Publish(b.Lock.Entity, res.status)
}

// runTurn computes the turn while keeping the instance locked.
func (w *Worker) runTurn(ctx context.Context, b *provider.EntityBatch) turnResult {
	id := b.Lock.Entity
	stopRenew := keepLocked(ctx, b.LockedUntil, func(ctx context.Context) (time.Time, error) {
		return w.p.RenewEntityLock(ctx, b.Lock)
	}, func(err error) { w.log.Warn("instance lock lost during turn", "instance", id, "err", err) })
	defer stopRenew()
	return w.engine.turn(w.cache.take(id), b, w.opts.Now())
}

// applyTurn commits the turn's result (or abandons the batch) and reports
// whether it committed.
func (w *Worker) applyTurn(ctx context.Context, b *provider.EntityBatch, res *turnResult) bool {
	id := b.Lock.Entity
	if res.abandon {
		w.log.Warn("abandoning instance batch", "instance", id, "reason", res.reason, "delay", res.delay)
		if err := w.p.AbandonEntity(ctx, b.Lock, res.delay); err != nil && !errors.Is(err, provider.ErrLockLost) {
			w.log.Error("abandon instance", "instance", id, "err", err)
		}
		return false
	}
	err := w.p.Commit(ctx, b.Lock, res.commit)
	if errors.Is(err, provider.ErrTooLarge) {
		// Nothing was stored: fail the instance in a small commit instead.
		if res.inst != nil {
			res.inst.stop()
		}
		*res = w.engine.tooLargeTurn(b, err, w.opts.Now())
		err = w.p.Commit(ctx, b.Lock, res.commit)
	}
	if err != nil {
		if res.inst != nil {
			res.inst.stop()
		}
		w.log.Error("commit turn", "instance", id, "err", err)
		if !errors.Is(err, provider.ErrLockLost) {
			if err := w.p.AbandonEntity(ctx, b.Lock, 100*time.Millisecond); err != nil && !errors.Is(err, provider.ErrLockLost) {
				w.log.Error("abandon instance", "instance", id, "err", err)
			}
		}
		return false
	}
	if res.inst != nil {
		w.cache.put(id, res.inst)
	}
	return true
}
