package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/reprise/reprise/liveness"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
)

// Options configure a [Worker]. Zero fields take the defaults.
type Options struct {
	// OrchestratorQueue is the entity-locked queue of instances (default
	// [runtime.DefaultOrchestratorQueue]).
	OrchestratorQueue string
	// ActivityQueues are the work queues this worker serves (default
	// [runtime.DefaultActivityQueue]). The first is where activities go unless
	// [runtime.WithQueue] routes them elsewhere.
	ActivityQueues []string
	// DisableOrchestrations / DisableActivities run only one dispatcher
	// (an activity-only worker, or an orchestrator-only service).
	DisableOrchestrations bool
	DisableActivities     bool
	// OrchestrationConcurrency is the number of instances processed at
	// once (default 4).
	OrchestrationConcurrency int
	// ActivityConcurrency is the number of activities run at once, over all
	// queues (default 64; at least one per queue, each slot fetching its
	// next task). An activity that has returned gives its slot to the next
	// task while its result is completed; the completions in flight are
	// bounded apart, by completionsPerSlot times as many.
	ActivityConcurrency int
	// CacheSize bounds the sticky cache by instances (default 10,000; a
	// negative value disables the cache: every turn replays).
	CacheSize int
	// CacheBytes bounds the sticky cache by approximate retained bytes
	// (default 256 MiB).
	CacheBytes int64
	// MaxDeliveries: an orchestrator message delivered more often fails its
	// instance as poison (default 10).
	MaxDeliveries int
	// UnknownNameAttempts: deliveries of work for an unregistered
	// orchestration or activity name that are retried, with backoff, before
	// it fails (default 5). UnknownNameBackoff is the first delay (default
	// 1 s, doubling).
	UnknownNameAttempts int
	UnknownNameBackoff  time.Duration
	// Retention is how long finished instances and earlier executions are
	// kept (default runtime.DefaultRetention; runtime.EngineOptions).
	Retention time.Duration
	// Limits bound payloads, history and pending calls.
	Limits runtime.Limits
	// Codec encodes user values (default [runtime.JSONCodec]).
	Codec runtime.Codec
	// Logger receives the worker's logs and the orchestrations' replay-safe
	// logs (default: discard).
	Logger *slog.Logger
	// Notifier, when set, is told every instance's status after each commit.
	Notifier *runtime.Notifier
	// OnStatusChange, when set, is called for every commit that changes an
	// instance's status, including its first Running and a new execution
	// (continue-as-new, or a restart of a finished id). It is called
	// synchronously on the dispatcher goroutine, after the commit
	// succeeded and before the Notifier is told, so it must be cheap and
	// must not block: hand the change off (to a buffered channel, a
	// counter) rather than doing I/O in it. Calls may be concurrent; the
	// lock is released by the commit, so the next turn of the same
	// instance may commit (and be reported) on another goroutine before
	// this call returns.
	OnStatusChange func(c runtime.StatusChange)
	// Observer is told what the dispatchers do, for metrics (default
	// [runtime.NopObserver]).
	Observer runtime.Observer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Liveness, when set, is told when each turn and each activity's
	// completion begins and ends (loops "orchestration turns" and "activity
	// results"), so that a liveness probe can tell a wedged dispatcher from
	// an idle one. Waiting for work and running activity code are not
	// counted: both may last indefinitely.
	Liveness *liveness.Monitor
}

// Worker runs the orchestration and activity dispatchers over a provider:
// the I/O half of the runtime. It fetches, hands each batch to the pure core
// (runtime.Engine.Turn) and applies the result: commit or abandon, cache
// the live instance, notify; it runs activity tasks the same way. It keeps
// locks renewed while a turn or an activity runs.
type Worker struct {
	p      provider.Provider
	reg    *runtime.Registry
	opts   Options
	engine *runtime.Engine
	cache  *instanceCache
	log    *slog.Logger
	// order keeps each instance's reports in the order of its turns.
	order turnOrder
	// handOff passes a fetched activity task to an idle runner
	// (activityRunner).
	handOff chan *provider.WorkItem
	// completions bounds the activity completions in flight
	// (runActivity).
	completions chan struct{}
	// deferred is the provider's DeferredCommitter (nil without one), and
	// durableWaits bounds the turns whose commits are waited for off their
	// loop (processBatch).
	deferred     provider.DeferredCommitter
	durableWaits chan struct{}

	mu      sync.Mutex
	started bool
	stopped bool
	// fetchCancel stops the fetch loops (no new work); workCancel aborts
	// in-flight work when a graceful stop runs out of time.
	fetchCancel context.CancelFunc
	workCancel  context.CancelFunc
	loops       sync.WaitGroup
	inflight    sync.WaitGroup
	// runners are the activity runners (activityRunner), ended by
	// workCancel when idle.
	runners sync.WaitGroup
	// turns and results bracket each turn and each activity completion
	// for WorkerOptions.Liveness (nil without it).
	turns, results *liveness.Loop
}

// New returns a worker for p running the functions in reg. Call Start to
// begin and Stop to end.
func New(p provider.Provider, reg *runtime.Registry, opts Options) (*Worker, error) {
	if p == nil || reg == nil {
		return nil, errors.New("worker: New needs a provider and a registry")
	}
	if opts.OrchestratorQueue == "" {
		opts.OrchestratorQueue = runtime.DefaultOrchestratorQueue
	}
	if len(opts.ActivityQueues) == 0 {
		opts.ActivityQueues = []string{runtime.DefaultActivityQueue}
	}
	for _, q := range append([]string{opts.OrchestratorQueue}, opts.ActivityQueues...) {
		if err := provider.ValidateQueueName(q); err != nil {
			return nil, fmt.Errorf("worker: New: %w", err)
		}
	}
	if opts.OrchestrationConcurrency <= 0 {
		opts.OrchestrationConcurrency = 4
	}
	if opts.ActivityConcurrency <= 0 {
		opts.ActivityConcurrency = 64
	}
	if !opts.DisableActivities && opts.ActivityConcurrency < len(opts.ActivityQueues) {
		return nil, fmt.Errorf("worker: New: ActivityConcurrency %d is below the number of activity queues (%d): each queue needs a slot of its own for its fetch to wait in",
			opts.ActivityConcurrency, len(opts.ActivityQueues))
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 10_000
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 256 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Observer == nil {
		opts.Observer = runtime.NopObserver{}
	}
	w := &Worker{p: p, reg: reg, opts: opts, log: opts.Logger, handOff: make(chan *provider.WorkItem)}
	w.deferred, _ = provider.As[provider.DeferredCommitter](p)
	w.durableWaits = make(chan struct{}, durableWaitsPerLoop*opts.OrchestrationConcurrency)
	if !opts.DisableOrchestrations {
		w.turns = opts.Liveness.Loop("orchestration turns")
	}
	if !opts.DisableActivities {
		w.results = opts.Liveness.Loop("activity results")
	}
	// The engine applies the defaults of the options it takes (codec,
	// limits, deliveries, unknown names).
	w.engine = runtime.NewEngine(reg, runtime.EngineOptions{
		Codec:               opts.Codec,
		Limits:              opts.Limits,
		Logger:              opts.Logger,
		OrchestratorQueue:   opts.OrchestratorQueue,
		ActivityQueue:       opts.ActivityQueues[0],
		MaxDeliveries:       opts.MaxDeliveries,
		UnknownNameAttempts: opts.UnknownNameAttempts,
		UnknownNameBackoff:  opts.UnknownNameBackoff,
		Retention:           opts.Retention,
	})
	if opts.CacheSize > 0 {
		w.cache = newInstanceCache(opts.CacheSize, opts.CacheBytes)
	}
	return w, nil
}

// Start launches the dispatchers. They run until Stop; ctx only bounds
// Start itself.
func (w *Worker) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return runtime.ErrStopped
	}
	if w.started {
		return errors.New("worker: already started")
	}
	w.started = true
	fetchCtx, fetchCancel := context.WithCancel(context.Background())
	workCtx, workCancel := context.WithCancel(context.Background())
	w.fetchCancel, w.workCancel = fetchCancel, workCancel
	if !w.opts.DisableOrchestrations {
		for range w.opts.OrchestrationConcurrency {
			w.loops.Add(1)
			go w.orchestrationLoop(fetchCtx, workCtx)
		}
	}
	if !w.opts.DisableActivities {
		sem := make(chan struct{}, w.opts.ActivityConcurrency)
		w.completions = make(chan struct{}, completionsPerSlot*w.opts.ActivityConcurrency)
		fetchers := activityFetchers(w.opts.ActivityConcurrency, len(w.opts.ActivityQueues))
		for _, q := range w.opts.ActivityQueues {
			for range fetchers {
				w.loops.Add(1)
				go w.activityLoop(fetchCtx, workCtx, q, sem)
			}
		}
	}
	return nil
}

// durableWaitsPerLoop is how many turns per orchestration loop may wait
// for their commits to become durable (provider.DeferredCommitter) while
// the loop goes on; at the bound, the loop waits too. A turn takes a few
// hundred microseconds of CPU, a group commit's flush one to several
// milliseconds. Measured with bench/ chain-10 at 100 in flight with group
// commit (-fsync) on two cores: with each loop waiting for its turn's
// flush, 733-743 instances/s, and 257-317 with the disk's writes throttled
// to 3,000 IOPS (flushes of 5 ms); with the waits off the loops, 911-916,
// and 369-518 throttled.
const durableWaitsPerLoop = 8

// activityFetchers is the number of FetchWork loops per activity queue: the
// activity concurrency shared evenly among the queues. A loop takes a slot
// before its fetch (a fetched task always has one to run in) and holds it
// while the fetch waits, so the loops of all the queues together never hold
// more than every slot, and each queue keeps its own: none waits for slots
// that another's idle fetches hold. One FetchWork is a round trip to the
// provider, and the JetStream provider asks the server for about as many
// tasks as fetches are waiting: measured with bench/ on two cores, eight
// loops held an embedded deployment to 9,000 activities/s in chain-10 and
// 9,800 in fanout-5, with tasks waiting 10 ms on average to start; one per
// slot (64) ran 11,200 and 15,000 with 14 % and 33 % less CPU per instance.
func activityFetchers(concurrency, queues int) int {
	return max(1, concurrency/queues)
}

// Stop stops fetching, lets in-flight turns and activities finish until ctx
// ends, then aborts what is left: aborted activities are abandoned (not
// completed), so they run again elsewhere and nothing is lost. It returns
// ctx.Err() if it had to abort. The sticky cache is emptied.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return nil
	}
	w.stopped = true
	started := w.started
	w.mu.Unlock()
	if !started {
		return nil
	}
	w.fetchCancel()
	done := make(chan struct{})
	go func() {
		w.loops.Wait()
		w.inflight.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		w.workCancel()
		<-done
	}
	w.workCancel()
	w.runners.Wait()
	w.cache.clear()
	return err
}

// CacheLen returns the number of instances in the sticky cache.
func (w *Worker) CacheLen() int { return w.cache.len() }

// CacheStats returns the sticky cache's hits and misses so far.
func (w *Worker) CacheStats() (hits, misses int64) {
	if w.cache == nil {
		return 0, 0
	}
	return w.cache.hits.Load(), w.cache.misses.Load()
}

// retryDelay paces a fetch loop after a provider error.
func retryDelay(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
