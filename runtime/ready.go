package runtime

import (
	"log/slog"
	"time"

	"github.com/reprise/reprise/provider"
)

// The Ready line: everything the I/O half (package runtime/worker) needs
// from the pure core, as values. The core decides; the worker fetches,
// commits, abandons, caches, renews locks and notifies.

// EngineOptions configure an [Engine]. Zero fields take the defaults (those
// of the worker's options of the same names).
type EngineOptions struct {
	// Codec encodes user values (default [JSONCodec]).
	Codec Codec
	// Limits bound payloads, history and pending calls.
	Limits Limits
	// Logger receives the engine's logs and the orchestrations' replay-safe
	// logs (default: discard).
	Logger *slog.Logger
	// OrchestratorQueue is the queue of instances (default
	// [DefaultOrchestratorQueue]); ActivityQueue is where activities go
	// unless routed elsewhere (default [DefaultActivityQueue]).
	OrchestratorQueue string
	ActivityQueue     string
	// MaxDeliveries: a message delivered more often poisons its instance
	// (default 10).
	MaxDeliveries int
	// UnknownNameAttempts: deliveries of work for an unregistered name that
	// are retried with backoff before it fails (default 5);
	// UnknownNameBackoff is the first delay (default 1 s, doubling).
	UnknownNameAttempts int
	UnknownNameBackoff  time.Duration
	// Retention is how long a finished instance, and each earlier
	// execution of a continued-as-new one, is kept before it is deleted
	// (default [DefaultRetention]); a start may set its own
	// ([StartMessage]).
	Retention time.Duration
}

// NewEngine returns the turn core running the functions of reg.
func NewEngine(reg *Registry, opts EngineOptions) *Engine {
	if opts.Codec == nil {
		opts.Codec = JSONCodec{}
	}
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	if opts.OrchestratorQueue == "" {
		opts.OrchestratorQueue = DefaultOrchestratorQueue
	}
	if opts.ActivityQueue == "" {
		opts.ActivityQueue = DefaultActivityQueue
	}
	if opts.MaxDeliveries <= 0 {
		opts.MaxDeliveries = 10
	}
	if opts.UnknownNameAttempts <= 0 {
		opts.UnknownNameAttempts = 5
	}
	if opts.UnknownNameBackoff <= 0 {
		opts.UnknownNameBackoff = time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	return &Engine{
		reg:               reg,
		codec:             opts.Codec,
		limits:            opts.Limits.withDefaults(),
		logger:            opts.Logger,
		orchestratorQueue: opts.OrchestratorQueue,
		activityQueue:     opts.ActivityQueue,
		maxDeliveries:     opts.MaxDeliveries,
		unknownAttempts:   opts.UnknownNameAttempts,
		unknownBackoff:    opts.UnknownNameBackoff,
		retention:         opts.Retention,
	}
}

// Backoff is the delay before delivery attempt+1 of work for a name the
// registry lacks: UnknownNameBackoff, doubling, at most a minute.
func (e *Engine) Backoff(attempt int) time.Duration { return e.backoff(attempt) }

// UnknownNameAttempts is the number of deliveries of work for an
// unregistered name that are retried before it fails.
func (e *Engine) UnknownNameAttempts() int { return e.unknownAttempts }

// TurnInput is what one turn reads.
type TurnInput struct {
	// Batch is the fetched instance, locked: its messages, history and
	// metadata.
	Batch *provider.EntityBatch
	// Cached is the live instance an earlier turn of this entity returned
	// ([TurnResult.Instance]) and whose commit succeeded, or nil. The turn
	// owns it from here on: it reuses it only if it matches the batch's
	// history, and stops it otherwise.
	Cached *Instance
	// Now is the turn's clock.
	Now time.Time
}

// TurnResult is everything one turn decided.
type TurnResult struct {
	// Commit is what to commit atomically, unless Abandon.
	Commit provider.Commit
	// Abandon asks to abandon the batch for Delay instead of committing (an
	// unregistered orchestration during a rolling deploy, or an internal
	// error); Reason says why.
	Abandon bool
	Delay   time.Duration
	Reason  string
	// Instance is the live instance to cache once the commit succeeded (and
	// to stop if it failed); nil when the instance finished or must not be
	// cached.
	Instance *Instance
	// Status is the instance's status after the commit ("" if unknown); Name
	// its orchestration's name.
	Status Status
	Name   string
	// StatusChanged is set when the commit changes the instance's status or
	// starts a new execution (partition) of it.
	StatusChanged bool
	// Stats is what the turn observed, for the worker's [Observer].
	Stats TurnStats
}

// TurnStats is what a turn observed, reported once the batch is committed
// (or abandoned); the turn itself stays free of side effects.
type TurnStats struct {
	// Name is the orchestration name as the turn knew it ("" if unknown).
	Name string
	// Replayed is the number of history events replayed (a cache miss).
	Replayed int
	// Cache says whether the turn found the instance cached.
	Cache CacheResult
	// Started: a new instance (not a continuation) started in this turn.
	Started bool
	// Finished is the terminal status reached in this turn, "" if none;
	// Elapsed the instance's age then (creation to this turn).
	Finished Status
	Elapsed  time.Duration
	// TimerLateness holds, per applied timer, now minus its due time.
	TimerLateness []time.Duration
	// Poisoned: the turn failed the instance for a poison message.
	Poisoned bool
}

// Turn computes one turn (see the steps and invariants on the core's turn
// function): pure, its result depends only on in.
func (e *Engine) Turn(in TurnInput) TurnResult {
	return exportResult(e.turn(in.Cached, in.Batch, in.Now))
}

// TooLarge fails the instance whose turn's commit the provider refused as
// too large (err says the size and the limit), without running any code:
// the turn's decisions are dropped. The worker stops the refused turn's
// Instance first.
func (e *Engine) TooLarge(b *provider.EntityBatch, err error, now time.Time) TurnResult {
	return exportResult(e.tooLargeTurn(b, err, now))
}

func exportResult(r turnResult) TurnResult {
	st := r.stats
	return TurnResult{
		Commit: r.commit, Abandon: r.abandon, Delay: r.delay, Reason: r.reason, Instance: r.inst,
		Status: r.status, Name: r.name, StatusChanged: r.statusChanged,
		Stats: TurnStats{
			Name: st.name, Replayed: st.replayed, Cache: st.cache, Started: st.started, Finished: st.finished,
			Elapsed: st.elapsed, TimerLateness: st.timerLateness, Poisoned: st.poisoned,
		},
	}
}

// Stop ends the instance's orchestration goroutines. A worker stops an
// instance it drops (cache eviction, a failed commit); stopping twice is
// harmless.
func (inst *Instance) Stop() { inst.stop() }

// Size is the instance's approximate retained bytes, for cache bounds.
func (inst *Instance) Size() int64 { return inst.size }
