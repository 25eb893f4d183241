package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/reprise/reprise/provider"
)

// WorkerOptions configure a [Worker]. Zero fields take the defaults.
type WorkerOptions struct {
	// OrchestratorQueue is the entity-locked queue of instances (default
	// [DefaultOrchestratorQueue]).
	OrchestratorQueue string
	// ActivityQueues are the work queues this worker serves (default
	// [DefaultActivityQueue]). The first is where activities go unless
	// [WithQueue] routes them elsewhere.
	ActivityQueues []string
	// DisableOrchestrations / DisableActivities run only one dispatcher
	// (an activity-only worker, or an orchestrator-only service).
	DisableOrchestrations bool
	DisableActivities     bool
	// OrchestrationConcurrency is the number of instances processed at
	// once (default 4).
	OrchestrationConcurrency int
	// ActivityConcurrency is the number of activities run at once, over all
	// queues (default 64).
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
	// Limits bound payloads, history and pending calls.
	Limits Limits
	// Codec encodes user values (default [JSONCodec]).
	Codec Codec
	// Logger receives the worker's logs and the orchestrations' replay-safe
	// logs (default: discard).
	Logger *slog.Logger
	// Notifier, when set, is told every instance's status after each commit.
	Notifier *Notifier
	// Observer is told what the dispatchers do, for metrics (default
	// [NopObserver]).
	Observer Observer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Worker runs the orchestration and activity dispatchers over a provider.
type Worker struct {
	p      provider.Provider
	reg    *Registry
	opts   WorkerOptions
	engine *engine
	cache  *instanceCache
	log    *slog.Logger

	mu      sync.Mutex
	started bool
	stopped bool
	// fetchCancel stops the fetch loops (no new work); workCancel aborts
	// in-flight work when a graceful stop runs out of time.
	fetchCancel context.CancelFunc
	workCancel  context.CancelFunc
	loops       sync.WaitGroup
	inflight    sync.WaitGroup
}

// NewWorker returns a worker for p running the functions in reg. Call Start
// to begin and Stop to end.
func NewWorker(p provider.Provider, reg *Registry, opts WorkerOptions) (*Worker, error) {
	if p == nil || reg == nil {
		return nil, errors.New("runtime: NewWorker needs a provider and a registry")
	}
	if opts.OrchestratorQueue == "" {
		opts.OrchestratorQueue = DefaultOrchestratorQueue
	}
	if len(opts.ActivityQueues) == 0 {
		opts.ActivityQueues = []string{DefaultActivityQueue}
	}
	for _, q := range append([]string{opts.OrchestratorQueue}, opts.ActivityQueues...) {
		if err := provider.ValidateQueueName(q); err != nil {
			return nil, fmt.Errorf("runtime: NewWorker: %w", err)
		}
	}
	if opts.OrchestrationConcurrency <= 0 {
		opts.OrchestrationConcurrency = 4
	}
	if opts.ActivityConcurrency <= 0 {
		opts.ActivityConcurrency = 64
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 10_000
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 256 << 20
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
	if opts.Codec == nil {
		opts.Codec = JSONCodec{}
	}
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Observer == nil {
		opts.Observer = NopObserver{}
	}
	opts.Limits = opts.Limits.withDefaults()
	w := &Worker{p: p, reg: reg, opts: opts, log: opts.Logger}
	w.engine = &engine{
		reg:               reg,
		codec:             opts.Codec,
		limits:            opts.Limits,
		logger:            opts.Logger,
		orchestratorQueue: opts.OrchestratorQueue,
		activityQueue:     opts.ActivityQueues[0],
		maxDeliveries:     opts.MaxDeliveries,
		unknownAttempts:   opts.UnknownNameAttempts,
		unknownBackoff:    opts.UnknownNameBackoff,
	}
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
		return ErrStopped
	}
	if w.started {
		return errors.New("runtime: worker already started")
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
		for _, q := range w.opts.ActivityQueues {
			w.loops.Add(1)
			go w.activityLoop(fetchCtx, workCtx, q, sem)
		}
	}
	return nil
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

// keepLocked renews a lock at half its remaining time until the returned
// stop function is called; lost is called once if renewal fails.
func keepLocked(ctx context.Context, until time.Time, renew func(context.Context) (time.Time, error), lost func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			wait := max(time.Until(until)/2, 10*time.Millisecond)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			next, err := renew(ctx)
			if err != nil {
				if ctx.Err() == nil {
					lost(err)
				}
				return
			}
			until = next
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
