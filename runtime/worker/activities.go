package worker

import (
	"context"
	"errors"
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
)

// activityLoop fetches tasks from one work queue and runs each on a runner
// goroutine, bounded by sem (shared by all queues and their loops). A slot
// is taken before the fetch, so the activities running and the fetches
// waiting never exceed the activity concurrency. A runner that finished its
// task waits a while for the next one (handOff) before it ends: a new
// goroutine per task grew its stack anew each time, 3 % of the CPU of
// chain-10 in the bench.
func (w *Worker) activityLoop(fetchCtx, workCtx context.Context, queue string, sem chan struct{}) {
	defer w.loops.Done()
	for {
		select {
		case sem <- struct{}{}:
		case <-fetchCtx.Done():
			return
		}
		item, err := w.p.FetchWork(fetchCtx, queue)
		if err != nil {
			<-sem
			if fetchCtx.Err() != nil || errors.Is(err, provider.ErrClosed) {
				return
			}
			w.log.Error("fetch activity", "queue", queue, "err", err)
			retryDelay(fetchCtx, time.Second)
			continue
		}
		w.observeRedeliveries(queue, []provider.Message{item.Message})
		w.inflight.Add(1)
		select {
		case w.handOff <- item:
		default:
			w.runners.Add(1)
			go w.activityRunner(workCtx, item, sem)
		}
	}
}

// runnerIdle is how long an activity runner waits for another task before
// it ends.
const runnerIdle = time.Second

// completionsPerSlot is how many activity completions may be in flight per
// slot of the activity concurrency. A completion waits on the provider,
// with group commit for a flush of the disk (two, in the JetStream
// provider: the result's, then the ack's), tens of milliseconds when the
// disk is slow; holding the activity's slot meanwhile capped a worker at
// about 64 slots / 36 ms = 1,800 activities/s in chain-10 (measured: a
// task waited 66 ms on average to start, against 31 ms without group
// commit). The bound keeps a stalled provider from piling up fetched tasks:
// when it is reached, a finished activity keeps its slot until a
// completion ends.
const completionsPerSlot = 4

// taskSlot is a runner's hold on one slot of the activity concurrency.
type taskSlot struct {
	sem  chan struct{}
	held bool
}

// release gives the slot back, once.
func (s *taskSlot) release() {
	if s.held {
		s.held = false
		<-s.sem
	}
}

// activityRunner runs item, then the tasks handed to it (handOff) until
// none comes for runnerIdle or the worker stops. Each task holds one slot
// of sem until the activity has returned (runActivity) and one count of
// w.inflight until it is done.
func (w *Worker) activityRunner(workCtx context.Context, item *provider.WorkItem, sem chan struct{}) {
	defer w.runners.Done()
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	slot := &taskSlot{sem: sem}
	for {
		slot.held = true
		w.runActivity(workCtx, item, slot)
		slot.release()
		w.inflight.Done()
		idle.Reset(runnerIdle)
		select {
		case item = <-w.handOff:
		case <-idle.C:
			return
		case <-workCtx.Done():
			return
		}
	}
}

// runActivity executes one task and completes it with its result, or
// abandons it when the worker is stopping or the lock was lost. Once the
// activity has returned, its slot goes to the next task while the result
// is completed (completionsPerSlot).
func (w *Worker) runActivity(workCtx context.Context, item *provider.WorkItem, slot *taskSlot) {
	task, err := runtime.DecodeActivityTask(&item.Message)
	if err != nil {
		w.log.Error("dropping undecodable activity task", "message", item.Message.ID, "err", err)
		if err := w.p.CompleteWork(workCtx, item.Lock, nil); err != nil {
			w.log.Error("complete undecodable task", "message", item.Message.ID, "err", err)
		}
		return
	}
	name := task.Name
	if !w.engine.HasActivity(name) {
		w.unregisteredActivity(workCtx, item, task)
		return
	}
	runCtx, cancel := context.WithCancel(workCtx)
	defer cancel()
	if task.Timeout > 0 {
		var c2 context.CancelFunc
		runCtx, c2 = context.WithTimeout(runCtx, task.Timeout)
		defer c2()
	}
	lockLost := make(chan struct{})
	stopRenew := keepLocked(workCtx, item.LockedUntil, func(ctx context.Context) (time.Time, error) {
		return w.p.RenewWorkLock(ctx, item.Lock)
	}, func(err error) {
		w.log.Warn("activity lock lost", "activity", name, "err", err)
		close(lockLost)
		cancel()
	})
	var scheduleToStart time.Duration
	if !task.ScheduledAt.IsZero() {
		scheduleToStart = max(w.opts.Now().Sub(task.ScheduledAt), 0)
	}
	w.opts.Observer.ActivityStarted(name, scheduleToStart)
	began := time.Now()
	out, runErr := w.engine.RunActivity(runCtx, task)
	elapsed := time.Since(began)
	stopRenew()
	select {
	case <-lockLost:
		w.opts.Observer.ActivityFinished(name, runtime.OutcomeLockLost, elapsed)
		return // another worker owns the task now
	default:
	}
	if workCtx.Err() != nil {
		if err := w.p.AbandonWork(context.Background(), item.Lock, 0); err != nil {
			w.log.Error("abandon activity on stop", "activity", name, "err", err)
		}
		return
	}
	reply, outcome := w.engine.ActivityReply(task, out, runErr)
	select {
	case w.completions <- struct{}{}:
	case <-workCtx.Done():
		if err := w.p.AbandonWork(context.Background(), item.Lock, 0); err != nil {
			w.log.Error("abandon activity on stop", "activity", name, "err", err)
		}
		return
	}
	slot.release()
	err = w.complete(workCtx, item, task, reply)
	<-w.completions
	if errors.Is(err, provider.ErrLockLost) {
		outcome = runtime.OutcomeLockLost
	}
	w.opts.Observer.ActivityFinished(name, outcome, elapsed)
}

// unregisteredActivity backs off a task whose activity this worker does not
// know (another worker, or the next version, may), and fails it after
// UnknownNameAttempts deliveries.
func (w *Worker) unregisteredActivity(workCtx context.Context, item *provider.WorkItem, task *runtime.ActivityTask) {
	if item.Message.Attempt < w.engine.UnknownNameAttempts() {
		delay := w.engine.Backoff(item.Message.Attempt)
		w.log.Warn("activity not registered, backing off", "activity", task.Name, "attempt", item.Message.Attempt, "delay", delay)
		if err := w.p.AbandonWork(workCtx, item.Lock, delay); err != nil {
			w.log.Error("abandon activity", "activity", task.Name, "err", err)
		}
		return
	}
	_ = w.complete(workCtx, item, task, w.engine.UnregisteredActivityReply(task, item.Message.Attempt))
}

// complete completes the task with its reply. A failure of the transport
// (a NATS server lost, a stream leader election, a timeout) is retried
// while the lock holds: the result is stored at most once however often it
// is sent (the provider deduplicates replies), and running the activity
// again after the lock expired would cost far more than a few retries. The
// provider's refusals (lock lost, invalid, too large, closed, an injected
// fault) end it at once.
func (w *Worker) complete(ctx context.Context, item *provider.WorkItem, task *runtime.ActivityTask, reply provider.Outgoing) error {
	done := w.results.Busy()
	defer done()
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := w.p.CompleteWork(ctx, item.Lock, []provider.Outgoing{reply})
		if err == nil {
			if attempt > 1 {
				w.log.Info("activity completed after retries", "activity", task.Name, "instance", item.Message.Entity, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil || isProviderRefusal(err) {
			w.log.Error("complete activity", "activity", task.Name, "instance", item.Message.Entity, "attempts", attempt, "err", err)
			return err
		}
		w.log.Warn("complete activity, retrying while the lock holds", "activity", task.Name, "instance", item.Message.Entity,
			"attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// isProviderRefusal reports an error the provider returns by decision (a
// sentinel), not because it could not reach its store.
func isProviderRefusal(err error) bool {
	for _, s := range []error{provider.ErrLockLost, provider.ErrInvalidArgument, provider.ErrInvalidQueue,
		provider.ErrTooLarge, provider.ErrClosed, provider.ErrInjectedFault, provider.ErrNotFound} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
