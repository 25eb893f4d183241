package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/reprise/reprise/provider"
)

// activityLoop fetches tasks from one work queue and runs each on its own
// goroutine, bounded by sem (shared by all queues and their loops). A slot
// is taken before the fetch, so the activities running and the fetches
// waiting never exceed the activity concurrency.
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
		go func() {
			defer w.inflight.Done()
			defer func() { <-sem }()
			w.runActivity(workCtx, item)
		}()
	}
}

// runActivity executes one task and completes it with its result, or
// abandons it when the worker is stopping or the lock was lost.
func (w *Worker) runActivity(workCtx context.Context, item *provider.WorkItem) {
	env, err := decodeEnvelope(item.Message.Data)
	if err != nil || env.kind != msgActivityTask {
		w.log.Error("dropping undecodable activity task", "message", item.Message.ID, "err", err)
		// Complete without a reply: it can never succeed.
		if err := w.p.CompleteWork(workCtx, item.Lock, nil); err != nil {
			w.log.Error("complete undecodable task", "message", item.Message.ID, "err", err)
		}
		return
	}
	name := env.ev.Name
	fn, ok := w.reg.activity(name)
	if !ok {
		w.unregisteredActivity(workCtx, item, &env)
		return
	}

	runCtx, cancel := context.WithCancel(workCtx)
	defer cancel()
	if env.ev.Timeout > 0 {
		var c2 context.CancelFunc
		runCtx, c2 = context.WithTimeout(runCtx, env.ev.Timeout)
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
	if !env.ev.Time.IsZero() {
		scheduleToStart = max(w.opts.Now().Sub(env.ev.Time), 0)
	}
	w.opts.Observer.ActivityStarted(name, scheduleToStart)
	began := time.Now()
	out, runErr := callActivity(runCtx, fn, w.opts.Codec, env.ev.Payload)
	elapsed := time.Since(began)
	stopRenew()
	select {
	case <-lockLost:
		w.opts.Observer.ActivityFinished(name, OutcomeLockLost, elapsed)
		return // another worker owns the task now
	default:
	}
	if workCtx.Err() != nil {
		// Stopping: give the task back rather than report a failure the
		// stop caused.
		if err := w.p.AbandonWork(context.Background(), item.Lock, 0); err != nil {
			w.log.Error("abandon activity on stop", "activity", name, "err", err)
		}
		return
	}
	var failure *Error
	outcome := OutcomeSuccess
	if runErr != nil {
		failure, outcome = toError(runErr), OutcomeFailure
		if errors.Is(runErr, context.DeadlineExceeded) && env.ev.Timeout > 0 {
			failure, outcome = &Error{Type: typeTimeout, Message: fmt.Sprintf("activity %q exceeded its %s timeout: %v", name, env.ev.Timeout, runErr)}, OutcomeTimeout
		}
	} else if len(out) > w.opts.Limits.MaxPayloadBytes {
		failure, outcome = payloadError(fmt.Sprintf("result of activity %q", name), len(out), w.opts.Limits.MaxPayloadBytes), OutcomeFailure
		out = nil
	}
	if err := w.complete(workCtx, item, &env, out, failure); errors.Is(err, provider.ErrLockLost) {
		outcome = OutcomeLockLost
	}
	w.opts.Observer.ActivityFinished(name, outcome, elapsed)
}

// callActivity runs fn, turning a panic into an error.
// unregisteredActivity backs off a task whose activity this worker does not
// know (another worker, or the next version, may), and fails it after
// UnknownNameAttempts deliveries.
func (w *Worker) unregisteredActivity(workCtx context.Context, item *provider.WorkItem, env *envelope) {
	name := env.ev.Name
	if item.Message.Attempt < w.opts.UnknownNameAttempts {
		delay := w.engine.backoff(item.Message.Attempt)
		w.log.Warn("activity not registered, backing off", "activity", name, "attempt", item.Message.Attempt, "delay", delay)
		if err := w.p.AbandonWork(workCtx, item.Lock, delay); err != nil {
			w.log.Error("abandon activity", "activity", name, "err", err)
		}
		return
	}
	_ = w.complete(workCtx, item, env, nil, &Error{Type: typeNotRegistered, NonRetryable: true,
		Message: fmt.Sprintf("activity %q is not registered on any worker that received it (%d deliveries)", name, item.Message.Attempt)})
}

func callActivity(ctx context.Context, fn activityFunc, codec Codec, input []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Type: typePanic, Message: fmt.Sprintf("panic: %v", r), Stack: string(debug.Stack())}
		}
	}()
	return fn(ctx, codec, input)
}

// complete acks the task and sends its result to the owning instance,
// atomically. The error is logged here and returned for the observer.
func (w *Worker) complete(ctx context.Context, item *provider.WorkItem, task *envelope, out []byte, failure *Error) error {
	res := envelope{kind: msgActivityResult, partition: task.partition, ev: Event{Decision: task.ev.Decision, Payload: out}}
	if failure != nil {
		res.flags |= flagFailed
		res.ev.Failure = failure
		res.ev.Payload = nil
	}
	reply := provider.Outgoing{Queue: w.opts.OrchestratorQueue, Message: provider.Message{
		ID:     messageID(item.Message.Entity, task.partition, idResult, task.ev.Decision),
		Entity: item.Message.Entity,
		Data:   encodeEnvelope(&res),
	}}
	err := w.p.CompleteWork(ctx, item.Lock, []provider.Outgoing{reply})
	if err != nil {
		w.log.Error("complete activity", "activity", task.ev.Name, "instance", item.Message.Entity, "err", err)
	}
	return err
}
