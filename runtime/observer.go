package runtime

import (
	"time"

	"github.com/reprise/reprise/provider"
)

// Observer is told what a [worker.Worker]'s dispatchers do, for metrics. Set it with
// [worker.Options.Observer]; the default is [NopObserver].
//
// The dispatchers call it synchronously from many goroutines, on the hot
// path: an implementation must be safe for concurrent use, cheap, and must
// never block (count, observe a histogram, return).
//
// Every string argument has bounded cardinality, so it can be a metric label
// as is: orchestration and activity names are registered names (an
// orchestration name this worker has not registered is reported as
// [UnregisteredName]), queue names are configured, statuses and outcomes are
// fixed sets. Instance ids are never passed.
//
// Methods may be added to this interface; embed [NopObserver] in an
// implementation to keep it compiling.
type Observer interface {
	// OrchestrationStarted: a new instance started (a client start, a
	// child, a fire-and-forget start, or a restart of a finished id). A
	// continue-as-new is not a new start. Called after the turn's commit.
	OrchestrationStarted(name string)
	// OrchestrationFinished: an instance reached a terminal status
	// ([StatusCompleted], [StatusFailed] or [StatusTerminated]). elapsed
	// runs from the instance's creation (its first start, across
	// continue-as-new) to the turn that finished it. Called after the
	// turn's commit.
	OrchestrationFinished(name string, status Status, elapsed time.Duration)
	// TurnDone: one fetched batch of an instance was processed, from the
	// fetch's return to the end of its commit (or abandon): running the
	// code, replay included, and committing. replayed is the number of
	// history events re-executed to rebuild the instance (0 unless cache is
	// [CacheMiss]). Called once per fetched batch, whatever the outcome.
	TurnDone(name string, elapsed time.Duration, replayed int, cache CacheResult)
	// ActivityStarted: a worker is about to run an activity attempt.
	// scheduleToStart runs from the turn that scheduled the attempt to now
	// (0 when the task carries no schedule time; clamped at 0 against clock
	// skew between machines).
	ActivityStarted(name string, scheduleToStart time.Duration)
	// ActivityFinished: an activity attempt that was started ended with
	// outcome after running for elapsed. Attempts aborted because the worker
	// stopped are given back to the queue and not reported.
	ActivityFinished(name string, outcome ActivityOutcome, elapsed time.Duration)
	// TimerFired: a durable timer's message was applied to its instance
	// lateness after its due time. Called after the turn's commit.
	TimerFired(lateness time.Duration)
	// Redelivered: a message was fetched again from queue (attempt >= 2)
	// after an abandon or an expired lock.
	Redelivered(queue string, attempt int)
	// Poisoned: a message of queue was delivered more often than
	// [worker.Options.MaxDeliveries] and failed its instance. Called after
	// the turn's commit.
	Poisoned(queue string)
	// DeadLettered: the provider gave up delivering a task of queue (see
	// [provider.Topology.MaxDeliveries]) and the owning instance learnt of
	// it. Called after the turn's commit.
	DeadLettered(queue string)
}

// CacheResult says how a turn found its instance.
type CacheResult uint8

const (
	// CacheNone: the turn needed no cached instance (a new execution, a
	// continue-as-new, a message to a finished instance, a poison message).
	CacheNone CacheResult = iota
	// CacheHit: the instance came from the sticky cache.
	CacheHit
	// CacheMiss: the instance was rebuilt by replaying its history.
	CacheMiss
)

// String returns "none", "hit" or "miss".
func (c CacheResult) String() string {
	switch c {
	case CacheHit:
		return "hit"
	case CacheMiss:
		return "miss"
	}
	return "none"
}

// ActivityOutcome is how an activity attempt ended. Its values are fixed, so
// they can be metric label values.
type ActivityOutcome string

// Activity outcomes.
const (
	// OutcomeSuccess: the activity returned a result, and it was delivered.
	OutcomeSuccess ActivityOutcome = "success"
	// OutcomeFailure: the activity returned an error or panicked (or its
	// result exceeded the payload limit).
	OutcomeFailure ActivityOutcome = "failure"
	// OutcomeTimeout: the attempt exceeded its per-attempt timeout.
	OutcomeTimeout ActivityOutcome = "timeout"
	// OutcomeLockLost: the task's lock was lost while it ran or before its
	// result was delivered; another worker will run it again.
	OutcomeLockLost ActivityOutcome = "lock_lost"
)

// UnregisteredName is the name reported to an [Observer] for an
// orchestration this worker has not registered, so that arbitrary names sent
// by clients never become metric labels.
const UnregisteredName = "(unregistered)"

// NopObserver is an [Observer] that does nothing. Embed it to implement only
// some methods.
type NopObserver struct{}

// OrchestrationStarted implements [Observer].
func (NopObserver) OrchestrationStarted(string) {}

// OrchestrationFinished implements [Observer].
func (NopObserver) OrchestrationFinished(string, Status, time.Duration) {}

// TurnDone implements [Observer].
func (NopObserver) TurnDone(string, time.Duration, int, CacheResult) {}

// ActivityStarted implements [Observer].
func (NopObserver) ActivityStarted(string, time.Duration) {}

// ActivityFinished implements [Observer].
func (NopObserver) ActivityFinished(string, ActivityOutcome, time.Duration) {}

// TimerFired implements [Observer].
func (NopObserver) TimerFired(time.Duration) {}

// Redelivered implements [Observer].
func (NopObserver) Redelivered(string, int) {}

// Poisoned implements [Observer].
func (NopObserver) Poisoned(string) {}

// DeadLettered implements [Observer].
func (NopObserver) DeadLettered(string) {}

// turnStats is what a turn observed, reported by the dispatcher once the
// batch is committed (or abandoned). The turn itself stays free of side
// effects.
type turnStats struct {
	// name is the orchestration name as the turn knew it ("" if unknown).
	name     string
	replayed int
	cache    CacheResult
	// started: a new instance (not a continuation) started in this turn.
	started bool
	// finished is the terminal status reached in this turn, "" if none.
	finished Status
	// elapsed is the instance's age at finish (creation to this turn).
	elapsed time.Duration
	// timerLateness holds, per applied timer, now minus its due time.
	timerLateness []time.Duration
	// poisoned: the turn failed the instance for a poison message.
	poisoned bool
}

// finish fills the finish fields from the instance's final state.
func (st *turnStats) finish(inst *Instance, created time.Time, now time.Time) {
	st.name = inst.name
	if !inst.status.IsTerminal() {
		return
	}
	st.finished = inst.status
	if !created.IsZero() {
		st.elapsed = max(now.Sub(created), 0)
	}
}

// createdAt returns when the instance was created: now for a fresh start,
// otherwise the time recorded in its metadata (zero if unreadable).
func createdAt(md provider.Metadata, fresh bool, now time.Time) time.Time {
	if fresh {
		return now
	}
	t, err := time.Parse(time.RFC3339Nano, md[MetaCreatedAt])
	if err != nil {
		return time.Time{}
	}
	return t
}

// timerLateness returns how late a timer message is applied (now minus the
// due time it carries), for a timer the instance still waits for; ok is false
// for other messages, stale timers and timers sent without a due time.
func timerLateness(inst *Instance, env *envelope, now time.Time) (late time.Duration, ok bool) {
	if env.kind != msgTimerFired || inst.terminal || env.ev.Time.IsZero() || env.partition != inst.partition {
		return 0, false
	}
	if call := inst.pending[env.ev.Decision]; call == nil || call.kind != KindTimerCreated {
		return 0, false
	}
	return max(now.Sub(env.ev.Time), 0), true
}
