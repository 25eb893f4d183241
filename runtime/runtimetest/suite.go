// Package runtimetest is the runtime's end-to-end suite, runnable against any
// provider: each test builds a fresh provider through the factory, registers
// orchestrations and activities, runs a [worker.Worker] and drives it with a
// [control.Client].
//
// It owns the behavioural contract of the engine as users see it (one test
// per API item and engine rule). It must not know which provider it runs on:
// the same suite passes on provider/memory and provider/jetstream.
package runtimetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
)

// Factory builds a fresh, empty provider with the given topology and
// registers its own cleanup with t.Cleanup.
type Factory func(t *testing.T, topo provider.Topology) provider.Provider

// Option adjusts the suite.
type Option func(*config)

type config struct {
	// timeout bounds each wait for an instance.
	timeout time.Duration
	// lockTimeout is the short lock used by the renewal test.
	lockTimeout time.Duration
	fanOut      int
}

// WithWaitTimeout bounds each wait for an instance to finish (default 60 s).
func WithWaitTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithShortLockTimeout sets the lock timeout used by the lock-renewal test
// (default 1 s, generous so a loaded CI machine does not starve the renewal); providers with a higher minimum can raise it.
func WithShortLockTimeout(d time.Duration) Option { return func(c *config) { c.lockTimeout = d } }

// WithFanOut sets the width of the fan-out test (default 10,000).
func WithFanOut(n int) Option { return func(c *config) { c.fanOut = n } }

type suiteTest struct {
	name string
	run  func(t *testing.T, s *suite)
}

type suite struct {
	factory Factory
	cfg     config
}

// Run runs the whole suite against providers built by factory.
func Run(t *testing.T, factory Factory, opts ...Option) {
	s := &suite{factory: factory, cfg: config{timeout: 60 * time.Second, lockTimeout: time.Second, fanOut: 10_000}}
	for _, o := range opts {
		o(&s.cfg)
	}
	groups := []struct {
		name  string
		tests []suiteTest
	}{
		{"Activities", activityTests},
		{"Timers", timerTests},
		{"Events", eventTests},
		{"SubOrchestrations", subOrchestrationTests},
		{"ContinueAsNew", continueAsNewTests},
		{"Context", contextTests},
		{"Concurrency", concurrencyTests},
		{"Control", controlTests},
		{"Failures", failureTests},
		{"Limits", limitTests},
		{"Client", clientTests},
		{"Dispatch", dispatchTests},
		{"Schedule", scheduleTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, s)
				})
			}
		})
	}
}

// env is one test's provider, registry, worker and client.
type env struct {
	t        *testing.T
	s        *suite
	p        provider.Provider
	reg      *runtime.Registry
	notifier *runtime.Notifier
	client   *control.Client
	workers  []*worker.Worker
}

// newEnv builds a provider with topo (default runtime.Topology()) and an
// empty registry; register functions, then call start.
func (s *suite) newEnv(t *testing.T, topo ...provider.Topology) *env {
	tp := runtime.Topology()
	if len(topo) > 0 {
		tp = topo[0]
	}
	e := &env{t: t, s: s, p: s.factory(t, tp), reg: runtime.NewRegistry(), notifier: runtime.NewNotifier()}
	e.client = control.New(e.p, control.Options{Notifier: e.notifier})
	return e
}

// start runs a worker with opts (the notifier is filled in) until the test
// ends.
func (e *env) start(opts worker.Options) *worker.Worker {
	e.t.Helper()
	return e.startWith(e.reg, opts)
}

func (e *env) startWith(reg *runtime.Registry, opts worker.Options) *worker.Worker {
	e.t.Helper()
	if opts.Notifier == nil {
		opts.Notifier = e.notifier
	}
	if opts.UnknownNameBackoff == 0 {
		opts.UnknownNameBackoff = 5 * time.Millisecond
	}
	w, err := worker.New(e.p, reg, opts)
	if err != nil {
		e.t.Fatalf("worker.New: %v", err)
	}
	if err := w.Start(context.Background()); err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	e.workers = append(e.workers, w)
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			e.t.Errorf("Stop: %v", err)
		}
	})
	return w
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), e.s.cfg.timeout)
	e.t.Cleanup(cancel)
	return ctx
}

// startInstance starts an instance and fails the test on error.
func (e *env) startInstance(name, id string, in any, opts ...control.StartOption) {
	e.t.Helper()
	if _, err := e.client.Start(e.ctx(), name, in, append([]control.StartOption{control.WithID(id)}, opts...)...); err != nil {
		e.t.Fatalf("Start(%s, %s): %v", name, id, err)
	}
}

// wait waits for a finished instance.
func (e *env) wait(id string) *control.InstanceStatus {
	e.t.Helper()
	st, err := e.client.Wait(e.ctx(), id)
	if err != nil {
		e.t.Fatalf("Wait(%s): %v", id, err)
	}
	return st
}

// run starts an instance and waits for it to finish.
func (e *env) run(name, id string, in any) *control.InstanceStatus {
	e.t.Helper()
	e.startInstance(name, id, in)
	return e.wait(id)
}

// expectCompleted asserts a completed status and decodes its output.
func (e *env) expectCompleted(st *control.InstanceStatus, out any) {
	e.t.Helper()
	if st.Status != runtime.StatusCompleted {
		e.t.Fatalf("instance %s: status %s, error %q; want Completed", st.ID, st.Status, st.Error)
	}
	if out != nil {
		if err := st.DecodeOutput(out); err != nil {
			e.t.Fatalf("decode output of %s: %v", st.ID, err)
		}
	}
}

// expectStatus asserts status want and an error that contains every part.
func (e *env) expectStatus(st *control.InstanceStatus, want runtime.Status, parts ...string) {
	e.t.Helper()
	if st.Status != want {
		e.t.Fatalf("instance %s: status %s (error %q), want %s", st.ID, st.Status, st.Error, want)
	}
	for _, p := range parts {
		if !contains(st.Error, p) {
			e.t.Fatalf("instance %s: error %q does not mention %q", st.ID, st.Error, p)
		}
	}
}

// waitStatus polls (via the notifier) until id reaches status want.
func (e *env) waitStatus(id string, want runtime.Status) *control.InstanceStatus {
	e.t.Helper()
	ch, cancel := e.notifier.Subscribe(id)
	defer cancel()
	ctx := e.ctx()
	for {
		st, err := e.client.Status(ctx, id)
		if err == nil && st.Status == want {
			return st
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("instance %s never reached %s (last: %+v, %v)", id, want, st, err)
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// history returns the instance's current history.
func (e *env) history(id string) []runtime.Event {
	e.t.Helper()
	evs, err := e.client.History(e.ctx(), id)
	if err != nil {
		e.t.Fatalf("History(%s): %v", id, err)
	}
	return evs
}

func countKind(evs []runtime.Event, k runtime.EventKind) int {
	n := 0
	for _, ev := range evs {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor waits, woken by commits of id (and a slow safety poll), until
// cond holds.
func (e *env) waitFor(id string, cond func() bool) {
	e.t.Helper()
	ch, cancel := e.notifier.Subscribe(id)
	defer cancel()
	ctx := e.ctx()
	for !cond() {
		select {
		case <-ctx.Done():
			e.t.Fatalf("condition on %s never held", id)
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}
