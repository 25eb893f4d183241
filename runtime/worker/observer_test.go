package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
)

// call is one recorded observer call.
type call struct {
	method   string
	name     string // orchestration/activity name or queue
	status   runtime.Status
	outcome  runtime.ActivityOutcome
	cache    runtime.CacheResult
	d        time.Duration
	replayed int
	attempt  int
}

// recorder is an Observer that keeps every call and wakes waiters.
type recorder struct {
	mu    sync.Mutex
	calls []call
	wake  chan struct{}
}

var _ runtime.Observer = (*recorder)(nil)

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) add(c call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) OrchestrationStarted(name string) {
	r.add(call{method: "started", name: name})
}
func (r *recorder) OrchestrationFinished(name string, s runtime.Status, d time.Duration) {
	r.add(call{method: "finished", name: name, status: s, d: d})
}
func (r *recorder) TurnDone(name string, d time.Duration, replayed int, c runtime.CacheResult) {
	r.add(call{method: "turn", name: name, d: d, replayed: replayed, cache: c})
}
func (r *recorder) ActivityStarted(name string, d time.Duration) {
	r.add(call{method: "activityStarted", name: name, d: d})
}
func (r *recorder) ActivityFinished(name string, o runtime.ActivityOutcome, d time.Duration) {
	r.add(call{method: "activityFinished", name: name, outcome: o, d: d})
}
func (r *recorder) TimerFired(d time.Duration) { r.add(call{method: "timer", d: d}) }
func (r *recorder) Redelivered(q string, attempt int) {
	r.add(call{method: "redelivered", name: q, attempt: attempt})
}
func (r *recorder) Poisoned(q string)     { r.add(call{method: "poisoned", name: q}) }
func (r *recorder) DeadLettered(q string) { r.add(call{method: "deadLettered", name: q}) }

// of returns the recorded calls of method.
func (r *recorder) of(method string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.method == method {
			out = append(out, c)
		}
	}
	return out
}

// await blocks until cond holds for the recorded calls, or fails the test
// when ctx ends.
func (r *recorder) await(ctx context.Context, t *testing.T, what string, cond func(r *recorder) bool) {
	t.Helper()
	for !cond(r) {
		select {
		case <-r.wake:
		case <-ctx.Done():
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("observer never saw %s; calls: %+v", what, r.calls)
		}
	}
}

// count reports whether method was called at least n times.
func count(method string, n int) func(r *recorder) bool {
	return func(r *recorder) bool { return len(r.of(method)) >= n }
}

// has reports whether some call of method satisfies match.
func has(method string, match func(c call) bool) func(r *recorder) bool {
	return func(r *recorder) bool {
		for _, c := range r.of(method) {
			if match(c) {
				return true
			}
		}
		return false
	}
}

// obsEnv is a memory provider, a worker with a recorder and a client.
type obsEnv struct {
	p      provider.Provider
	reg    *runtime.Registry
	rec    *recorder
	client *control.Client
	ctx    context.Context
}

func newObsEnv(t *testing.T, topo provider.Topology) *obsEnv {
	p, err := memory.New(topo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &obsEnv{p: p, reg: runtime.NewRegistry(), rec: newRecorder(), ctx: ctx}
}

func (e *obsEnv) start(t *testing.T, opts worker.Options) {
	t.Helper()
	n := runtime.NewNotifier()
	opts.Notifier, opts.Observer = n, e.rec
	w, err := worker.New(e.p, e.reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	e.client = control.New(e.p, control.Options{Notifier: n})
}

func (e *obsEnv) run(t *testing.T, name, id string, in any) *control.InstanceStatus {
	t.Helper()
	if _, err := e.client.Start(e.ctx, name, in, control.WithID(id)); err != nil {
		t.Fatal(err)
	}
	st, err := e.client.Wait(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestObserverSeesACompletedOrchestration(t *testing.T) {
	e := newObsEnv(t, runtime.Topology())
	mustT(t, runtime.RegisterActivity(e.reg, "greet", func(_ context.Context, who string) (string, error) {
		return "hello " + who, nil
	}))
	mustT(t, runtime.RegisterOrchestration(e.reg, "hello", func(ctx *runtime.OrchestrationContext, who string) (string, error) {
		if err := ctx.CreateTimer(20 * time.Millisecond).Await(nil); err != nil {
			return "", err
		}
		var out string
		err := ctx.CallActivity("greet", who).Await(&out)
		return out, err
	}))
	e.start(t, worker.Options{})
	if st := e.run(t, "hello", "h1", "you"); st.Status != runtime.StatusCompleted {
		t.Fatalf("status %s (%s)", st.Status, st.Error)
	}
	// Turns of one instance are serialised, but their reports are made
	// after the commit, so a later turn may report first: await them all.
	for method, n := range map[string]int{"turn": 3, "started": 1, "finished": 1, "timer": 1, "activityFinished": 1} {
		e.rec.await(e.ctx, t, fmt.Sprintf("%d %s calls", n, method), count(method, n))
	}

	if got := e.rec.of("started"); len(got) != 1 || got[0].name != "hello" {
		t.Errorf("started calls %+v, want one for hello", got)
	}
	fin := e.rec.of("finished")
	if len(fin) != 1 || fin[0].name != "hello" || fin[0].status != runtime.StatusCompleted {
		t.Fatalf("finished calls %+v, want one Completed for hello", fin)
	}
	// End-to-end time is measured on the turn clock: the timer alone holds
	// the instance for 20 ms of it.
	if fin[0].d < 20*time.Millisecond {
		t.Errorf("end-to-end duration %s, want at least the 20ms timer", fin[0].d)
	}
	turns := e.rec.of("turn")
	if len(turns) != 3 { // start, timer fired, activity result
		t.Errorf("%d turns, want 3: %+v", len(turns), turns)
	}
	hits := 0
	for _, c := range turns {
		if c.name != "hello" || c.d <= 0 || c.replayed != 0 {
			t.Errorf("turn %+v: want name hello, a positive duration, nothing replayed", c)
		}
		if c.cache == runtime.CacheHit {
			hits++
		}
	}
	if hits != 2 {
		t.Errorf("%d cache hits, want 2 (every turn after the first): %+v", hits, turns)
	}
	if got := e.rec.of("timer"); len(got) != 1 || got[0].d < 0 {
		t.Errorf("timer calls %+v, want one with a lateness >= 0", got)
	}
	as, af := e.rec.of("activityStarted"), e.rec.of("activityFinished")
	if len(as) != 1 || as[0].name != "greet" || as[0].d < 0 {
		t.Errorf("activity started calls %+v, want one for greet", as)
	}
	if len(af) != 1 || af[0].name != "greet" || af[0].outcome != runtime.OutcomeSuccess || af[0].d <= 0 {
		t.Errorf("activity finished calls %+v, want one success for greet with a positive duration", af)
	}
	if got := e.rec.of("redelivered"); len(got) != 0 {
		t.Errorf("redeliveries %+v, want none", got)
	}
}

func TestObserverSeesReplayWithoutCache(t *testing.T) {
	e := newObsEnv(t, runtime.Topology())
	mustT(t, runtime.RegisterActivity(e.reg, "inc", func(_ context.Context, n int) (int, error) { return n + 1, nil }))
	mustT(t, runtime.RegisterOrchestration(e.reg, "count", func(ctx *runtime.OrchestrationContext, n int) (int, error) {
		for range 3 {
			if err := ctx.CallActivity("inc", n).Await(&n); err != nil {
				return 0, err
			}
		}
		return n, nil
	}))
	e.start(t, worker.Options{CacheSize: -1})
	if st := e.run(t, "count", "c1", 0); st.Status != runtime.StatusCompleted {
		t.Fatalf("status %s (%s)", st.Status, st.Error)
	}
	e.rec.await(e.ctx, t, "4 turns", count("turn", 4))
	turns := e.rec.of("turn")
	if len(turns) != 4 {
		t.Fatalf("%d turns, want 4: %+v", len(turns), turns)
	}
	// Reports may arrive out of turn order; history only grows.
	slices.SortFunc(turns, func(a, b call) int { return a.replayed - b.replayed })
	if turns[0].cache != runtime.CacheNone || turns[0].replayed != 0 {
		t.Errorf("first turn %+v, want no cache and no replay", turns[0])
	}
	prev := 0
	for _, c := range turns[1:] {
		if c.cache != runtime.CacheMiss || c.replayed <= prev {
			t.Errorf("turn %+v: want a miss replaying more than the previous turn (%d)", c, prev)
		}
		prev = c.replayed
	}
}

func TestObserverSeesActivityOutcomes(t *testing.T) {
	e := newObsEnv(t, runtime.Topology())
	mustT(t, runtime.RegisterActivity(e.reg, "fail", func(context.Context, int) (int, error) {
		return 0, errors.New("boom")
	}))
	mustT(t, runtime.RegisterActivity(e.reg, "hang", func(ctx context.Context, _ int) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}))
	mustT(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		errFail := ctx.CallActivity("fail", 0).Await(nil)
		errHang := ctx.CallActivity("hang", 0, runtime.WithTimeout(50*time.Millisecond)).Await(nil)
		return fmt.Sprintf("%v|%v", errFail != nil, errHang != nil), nil
	}))
	e.start(t, worker.Options{})
	if st := e.run(t, "o", "o1", 0); st.Status != runtime.StatusCompleted {
		t.Fatalf("status %s (%s)", st.Status, st.Error)
	}
	// The orchestration's own timeout may fire before the activity reports.
	e.rec.await(e.ctx, t, "the timed-out activity", has("activityFinished", func(c call) bool { return c.name == "hang" }))
	got := map[string]call{}
	for _, c := range e.rec.of("activityFinished") {
		got[c.name] = c
	}
	if got["fail"].outcome != runtime.OutcomeFailure || got["hang"].outcome != runtime.OutcomeTimeout {
		t.Fatalf("outcomes %+v, want fail=failure hang=timeout", got)
	}
	// The timed-out attempt ran until its deadline.
	if d := got["hang"].d; d < 50*time.Millisecond {
		t.Errorf("timed-out attempt ran %s, want at least its 50ms timeout", d)
	}
}

// lossyRenewals loses every work lock it is asked to renew.
type lossyRenewals struct{ provider.Provider }

func (lossyRenewals) RenewWorkLock(context.Context, provider.WorkLock) (time.Time, error) {
	return time.Time{}, provider.ErrLockLost
}

func TestObserverSeesLostActivityLock(t *testing.T) {
	e := newObsEnv(t, runtime.Topology(runtime.WithLockTimeout(200*time.Millisecond)))
	e.p = lossyRenewals{e.p}
	mustT(t, runtime.RegisterActivity(e.reg, "hang", func(ctx context.Context, _ int) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}))
	mustT(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		return 0, ctx.CallActivity("hang", 0).Await(nil)
	}))
	e.start(t, worker.Options{})
	_, err := e.client.Start(e.ctx, "o", 0, control.WithID("l1"))
	mustT(t, err)
	e.rec.await(e.ctx, t, "a lost lock", has("activityFinished", func(c call) bool {
		return c.name == "hang" && c.outcome == runtime.OutcomeLockLost
	}))
	// The task comes back once its lock expires.
	e.rec.await(e.ctx, t, "the redelivery", has("redelivered", func(c call) bool {
		return c.name == runtime.DefaultActivityQueue && c.attempt >= 2
	}))
}

func TestObserverSeesRedeliveryAndDeadLetter(t *testing.T) {
	e := newObsEnv(t, runtime.Topology(runtime.WithMaxDeliveries(2)))
	mustT(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		return 0, ctx.CallActivity("missing", 0).Await(nil)
	}))
	// The unknown activity is abandoned on every delivery until the
	// provider dead-letters it after two.
	e.start(t, worker.Options{UnknownNameAttempts: 100, UnknownNameBackoff: time.Millisecond})
	if st := e.run(t, "o", "d1", 0); st.Status != runtime.StatusFailed {
		t.Fatalf("status %s (%s), want Failed", st.Status, st.Error)
	}
	e.rec.await(e.ctx, t, "the finish", has("finished", func(call) bool { return true }))
	if got := e.rec.of("deadLettered"); len(got) != 1 || got[0].name != runtime.DefaultActivityQueue {
		t.Errorf("dead-lettered calls %+v, want one for %s", got, runtime.DefaultActivityQueue)
	}
	if got := e.rec.of("redelivered"); len(got) != 1 || got[0].name != runtime.DefaultActivityQueue || got[0].attempt != 2 {
		t.Errorf("redelivered calls %+v, want one (attempt 2) for %s", got, runtime.DefaultActivityQueue)
	}
	if got := e.rec.of("finished"); len(got) != 1 || got[0].status != runtime.StatusFailed || got[0].name != "o" {
		t.Errorf("finished calls %+v, want o Failed", got)
	}
	if got := e.rec.of("activityStarted"); len(got) != 0 {
		t.Errorf("an unregistered activity was reported started: %+v", got)
	}
}

func TestObserverSeesPoisonWithBoundedName(t *testing.T) {
	e := newObsEnv(t, runtime.Topology())
	// Nothing is registered: the start is abandoned until it is poison.
	e.start(t, worker.Options{MaxDeliveries: 2, UnknownNameAttempts: 100, UnknownNameBackoff: time.Millisecond})
	if st := e.run(t, "no-such-orchestration", "p1", 0); st.Status != runtime.StatusFailed {
		t.Fatalf("status %s (%s), want Failed", st.Status, st.Error)
	}
	e.rec.await(e.ctx, t, "the finish", has("finished", func(call) bool { return true }))
	if got := e.rec.of("poisoned"); len(got) != 1 || got[0].name != runtime.DefaultOrchestratorQueue {
		t.Errorf("poisoned calls %+v, want one for %s", got, runtime.DefaultOrchestratorQueue)
	}
	if got := e.rec.of("redelivered"); len(got) != 2 || got[0].attempt != 2 || got[1].attempt != 3 {
		t.Errorf("redelivered calls %+v, want attempts 2 and 3", got)
	}
	for _, m := range []string{"started", "finished", "turn"} {
		for _, c := range e.rec.of(m) {
			if c.name != runtime.UnregisteredName {
				t.Errorf("%s call %+v names %q, want %q", m, c, c.name, runtime.UnregisteredName)
			}
		}
	}
	if got := e.rec.of("finished"); len(got) != 1 || got[0].status != runtime.StatusFailed {
		t.Errorf("finished calls %+v, want one Failed", got)
	}
}

// lostCompletions loses every work lock when the result is delivered.
type lostCompletions struct{ provider.Provider }

func (lostCompletions) CompleteWork(context.Context, provider.WorkLock, []provider.Outgoing) error {
	return provider.ErrLockLost
}

func TestObserverSeesLockLostAtCompletion(t *testing.T) {
	e := newObsEnv(t, runtime.Topology())
	e.p = lostCompletions{e.p}
	mustT(t, runtime.RegisterActivity(e.reg, "quick", func(context.Context, int) (int, error) { return 1, nil }))
	mustT(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		return 0, ctx.CallActivity("quick", 0).Await(nil)
	}))
	e.start(t, worker.Options{})
	_, err := e.client.Start(e.ctx, "o", 0, control.WithID("q1"))
	mustT(t, err)
	e.rec.await(e.ctx, t, "the finished attempt", has("activityFinished", func(c call) bool { return c.name == "quick" }))
	if got := e.rec.of("activityFinished"); got[0].outcome != runtime.OutcomeLockLost {
		t.Fatalf("outcome %s, want %s: the result was never delivered", got[0].outcome, runtime.OutcomeLockLost)
	}
}

// flakyCompletions fails the first failures deliveries of a result as a
// transport would (not a provider refusal), then delivers.
type flakyCompletions struct {
	provider.Provider
	failures *int
	mu       *sync.Mutex
}

func (f flakyCompletions) CompleteWork(ctx context.Context, l provider.WorkLock, out []provider.Outgoing) error {
	f.mu.Lock()
	fail := *f.failures > 0
	if fail {
		*f.failures--
	}
	f.mu.Unlock()
	if fail {
		return errors.New("nats: timeout waiting for ack")
	}
	return f.Provider.CompleteWork(ctx, l, out)
}

// A result that cannot be delivered for a moment (a NATS server lost, a
// stream leader election) is delivered again while the lock holds: the
// activity does not run twice.
func TestFailedCompletionIsRetriedNotReRun(t *testing.T) {
	e := newObsEnv(t, runtime.Topology())
	failures, mu := 4, &sync.Mutex{}
	e.p = flakyCompletions{e.p, &failures, mu}
	var runs int
	mustT(t, runtime.RegisterActivity(e.reg, "count", func(context.Context, int) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		runs++
		return 7, nil
	}))
	mustT(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		var out int
		err := ctx.CallActivity("count", 0).Await(&out)
		return out, err
	}))
	e.start(t, worker.Options{})
	st := e.run(t, "o", "flaky-1", 0)
	mu.Lock()
	defer mu.Unlock()
	if st.Status != runtime.StatusCompleted || string(st.Output) != "7" || runs != 1 || failures != 0 {
		t.Fatalf("status %s output %s, the activity ran %d times, %d failures left; want Completed 7, once, 0",
			st.Status, st.Output, runs, failures)
	}
}
