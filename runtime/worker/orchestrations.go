package worker

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
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
		done := w.turns.Busy()
		w.processBatch(workCtx, b)
		done()
		w.inflight.Done()
	}
}

// processBatch runs one turn for a fetched instance, applies its commit,
// reports the turn to the observer and then publishes the new status (so
// that whoever learns of the status finds the metrics already updated).
// When the provider makes the commit durable later (DeferredCommitter),
// the wait for that and the reports run on a goroutine of their own, and
// the loop fetches the next instance meanwhile.
func (w *Worker) processBatch(ctx context.Context, b *provider.EntityBatch) {
	began := time.Now()
	prev, mine := w.order.enter(b.Lock.Entity)
	res := w.runTurn(ctx, b)
	committed, wait := w.applyTurn(ctx, b, &res)
	if wait == nil {
		w.reportTurn(b, &res, began, committed, prev, mine)
		return
	}
	w.durableWaits <- struct{}{}
	w.inflight.Add(1)
	go func() {
		defer w.inflight.Done()
		defer func() { <-w.durableWaits }()
		if err := wait(ctx); err != nil {
			// The commit is made but may not survive a power loss: it
			// is not reported (its messages come back and are consumed
			// once it is durable).
			w.dropCached(b.Lock.Entity, res.Instance)
			w.log.Error("commit turn", "instance", b.Lock.Entity, "err", err)
			committed = false
		}
		w.reportTurn(b, &res, began, committed, prev, mine)
	}()
}

// reportTurn reports a turn to the observer and publishes the instance's
// new status if it committed, after the reports of the instance's earlier
// turns (prev), and marks this turn's reports done (mine).
func (w *Worker) reportTurn(b *provider.EntityBatch, res *runtime.TurnResult, began time.Time, committed bool, prev <-chan struct{}, mine chan struct{}) {
	defer func() {
		// Done only after the turns before it, also when this one
		// reports nothing: the next turn waits for all of them.
		if prev != nil {
			<-prev
		}
		w.order.leave(b.Lock.Entity, mine)
	}()
	w.observeTurn(&res.Stats, b, time.Since(began), committed)
	if !committed || res.Status == "" {
		return
	}
	if prev != nil {
		<-prev // the previous turn's commit is durable too: it reports first
	}
	if res.StatusChanged && w.opts.OnStatusChange != nil {
		w.opts.OnStatusChange(runtime.StatusChange{ID: b.Lock.Entity, Name: res.Name, Status: res.Status,
			Partition: res.Commit.Partition, Metadata: committedMetadata(b.Metadata, &res.Commit)})
	}
	w.opts.Notifier.Publish(b.Lock.Entity, res.Status)
}

// committedMetadata is the metadata the commit c left: prior with c's
// changes applied (a key both set and deleted is deleted), in a new map.
func committedMetadata(prior provider.Metadata, c *provider.Commit) provider.Metadata {
	md := make(provider.Metadata, len(prior)+len(c.SetMetadata))
	maps.Copy(md, prior)
	maps.Copy(md, c.SetMetadata)
	for _, k := range c.DeleteMetadata {
		delete(md, k)
	}
	return md
}

// runTurn computes the turn while keeping the instance locked.
func (w *Worker) runTurn(ctx context.Context, b *provider.EntityBatch) runtime.TurnResult {
	id := b.Lock.Entity
	stopRenew := keepLocked(ctx, b.LockedUntil, func(ctx context.Context) (time.Time, error) {
		return w.p.RenewEntityLock(ctx, b.Lock)
	}, func(err error) { w.log.Warn("instance lock lost during turn", "instance", id, "err", err) })
	defer stopRenew()
	return w.engine.Turn(runtime.TurnInput{Batch: b, Cached: w.cache.take(id), Now: w.opts.Now()})
}

// applyTurn commits the turn's result (or abandons the batch) and reports
// whether it committed, with what is left to wait for before the commit is
// durable (nil: nothing; see provider.DeferredCommitter).
func (w *Worker) applyTurn(ctx context.Context, b *provider.EntityBatch, res *runtime.TurnResult) (committed bool, wait func(context.Context) error) {
	id := b.Lock.Entity
	if res.Abandon {
		w.log.Warn("abandoning instance batch", "instance", id, "reason", res.Reason, "delay", res.Delay)
		if err := w.p.AbandonEntity(ctx, b.Lock, res.Delay); err != nil && !errors.Is(err, provider.ErrLockLost) {
			w.log.Error("abandon instance", "instance", id, "err", err)
		}
		return false, nil
	}
	// Cached before the commit: a provider may release the lock before
	// Commit returns (a durable one, while the record's sync runs), and the
	// next turn should find the instance.
	if res.Instance != nil {
		w.cache.put(id, res.Instance)
	}
	wait, err := w.commit(ctx, b.Lock, res.Commit)
	if errors.Is(err, provider.ErrTooLarge) {
		// Nothing was stored: fail the instance in a small commit instead.
		w.dropCached(id, res.Instance)
		*res = w.engine.TooLarge(b, err, w.opts.Now())
		if res.Instance != nil {
			w.cache.put(id, res.Instance)
		}
		wait, err = w.commit(ctx, b.Lock, res.Commit)
	}
	if err != nil {
		w.dropCached(id, res.Instance)
		w.log.Error("commit turn", "instance", id, "err", err)
		if !errors.Is(err, provider.ErrLockLost) {
			if err := w.p.AbandonEntity(ctx, b.Lock, 100*time.Millisecond); err != nil && !errors.Is(err, provider.ErrLockLost) {
				w.log.Error("abandon instance", "instance", id, "err", err)
			}
		}
		return false, nil
	}
	return true, wait
}

// commit is the provider's CommitDeferred, or its Commit with nothing left
// to wait for.
func (w *Worker) commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) (func(context.Context) error, error) {
	if w.deferred != nil {
		return w.deferred.CommitDeferred(ctx, lock, c)
	}
	return nil, w.p.Commit(ctx, lock, c)
}

// dropCached stops inst, put in the cache for a commit that failed, unless
// a later turn took it meanwhile: the commit may have happened after all
// (its outcome unknown), and that turn checks the instance against the
// history it fetched.
func (w *Worker) dropCached(id string, inst *runtime.Instance) {
	if inst != nil && w.cache.takeBack(id, inst) {
		inst.Stop()
	}
}
