package runtimetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
)

// RetentionOption adjusts [RunRetention].
type RetentionOption func(*retentionConfig)

type retentionConfig struct {
	retention  time.Duration
	iterations int
	waitLimit  time.Duration
}

// WithRetention sets the engine's retention in the retention tests
// (default 1 s). It must outlast the provider's duplicate window for
// message ids: a start of an expired id reuses its first start's message id.
func WithRetention(d time.Duration) RetentionOption {
	return func(c *retentionConfig) { c.retention = d }
}

// WithEternalIterations sets how many times the eternal monitor continues
// as new (default 300; the acceptance run uses 10,000).
func WithEternalIterations(n int) RetentionOption {
	return func(c *retentionConfig) { c.iterations = n }
}

// retentionSuite is the suite plus the retention settings.
type retentionSuite struct {
	*suite
	rc retentionConfig
}

// RunRetention runs the retention tests: finished instances and earlier
// executions expire after the retention, counted from when they finished,
// and nothing of an expired instance comes back. They run apart from [Run]
// because a provider may need settings for them (a duplicate window shorter
// than the retention).
func RunRetention(t *testing.T, factory Factory, opts ...RetentionOption) {
	s := &retentionSuite{
		suite: &suite{factory: factory, cfg: config{timeout: 5 * time.Minute, lockTimeout: time.Second}},
		rc:    retentionConfig{retention: time.Second, iterations: 300, waitLimit: time.Minute},
	}
	for _, o := range opts {
		o(&s.rc)
	}
	tests := []struct {
		name string
		run  func(*testing.T, *retentionSuite)
	}{
		{"FinishedInstanceExpiresAfterItsRetention", testFinishedInstanceExpires},
		{"RetentionCountsFromTheFinish", testRetentionCountsFromTheFinish},
		{"StartRetentionOverridesTheEngine", testStartRetentionOverrides},
		{"ScheduledStartKeepsItsRetention", testScheduledStartRetention},
		{"RaiseToAnExpiredInstanceResurrectsNothing", testRaiseToExpiredInstance},
		{"LateMessageToAFinishedInstanceKeepsItsExpiry", testLateMessageKeepsExpiry},
		{"StartOfAnExpiredIDIsANewInstance", testStartOfExpiredID},
		{"EternalMonitorKeepsOnlyRecentExecutions", testEternalMonitor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, s)
		})
	}
}

// newRetentionEnv builds an env with the echo orchestration (returns its
// input) and "gate" (waits for event "go", then returns its input), and
// starts a worker with the given retention.
func (s *retentionSuite) newRetentionEnv(t *testing.T, retention time.Duration) *env {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "echo", func(_ *runtime.OrchestrationContext, in string) (string, error) {
		return in, nil
	}))
	must(t, runtime.RegisterOrchestration(e.reg, "gate", func(ctx *runtime.OrchestrationContext, in string) (string, error) {
		return in, ctx.WaitForEvent("go").Await(nil)
	}))
	e.start(worker.Options{Retention: retention})
	return e
}

// eventually polls cond until it holds, failing after the wait limit:
// expiry is carried out by the provider's sweep, which has no event to wait
// on.
func (s *retentionSuite) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(s.rc.waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, s.rc.waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone reports whether nothing of id is stored: no status, no entity.
func (e *env) gone(id string) bool {
	e.t.Helper()
	_, err := e.client.Status(e.ctx(), id)
	if err != nil && !errors.Is(err, runtime.ErrInstanceNotFound) {
		e.t.Fatalf("Status(%s): %v", id, err)
	}
	if err == nil {
		return false
	}
	_, err = e.p.CurrentPartition(e.ctx(), id)
	if err != nil && !errors.Is(err, provider.ErrNotFound) {
		e.t.Fatalf("CurrentPartition(%s): %v", id, err)
	}
	return err != nil
}

func (s *retentionSuite) awaitGone(t *testing.T, e *env, id string) {
	t.Helper()
	s.eventually(t, "instance "+id+" expires", func() bool { return e.gone(id) })
}

// expiresAt reads the instance's expiry from its metadata.
func (e *env) expiresAt(id string) time.Time {
	e.t.Helper()
	md, err := e.p.Metadata(e.ctx(), id)
	must(e.t, err)
	at, err := time.Parse(time.RFC3339Nano, md[runtime.MetaExpiresAt])
	if err != nil {
		e.t.Fatalf("instance %s: %s %q: %v", id, runtime.MetaExpiresAt, md[runtime.MetaExpiresAt], err)
	}
	return at
}

func testFinishedInstanceExpires(t *testing.T, s *retentionSuite) {
	e := s.newRetentionEnv(t, s.rc.retention)
	var out string
	e.expectCompleted(e.run("echo", "brief", "hi"), &out)
	if out != "hi" {
		t.Fatalf("output %q", out)
	}
	st, err := e.client.Status(e.ctx(), "brief")
	must(t, err)
	if at := e.expiresAt("brief"); !at.Equal(st.UpdatedAt.Add(s.rc.retention)) {
		t.Fatalf("expires at %v, want the finish %v + retention %v", at, st.UpdatedAt, s.rc.retention)
	}
	s.awaitGone(t, e, "brief")
	if now := time.Now(); now.Before(st.UpdatedAt.Add(s.rc.retention)) {
		t.Fatalf("instance expired %v before its retention was over", st.UpdatedAt.Add(s.rc.retention).Sub(now))
	}
	if h, err := e.p.History(e.ctx(), "brief", 0); err != nil && !errors.Is(err, provider.ErrNotFound) || len(h) != 0 {
		t.Fatalf("history after expiry: %d events, %v", len(h), err)
	}
	page, err := e.client.List(e.ctx(), control.ListQuery{Status: runtime.StatusCompleted})
	must(t, err)
	for _, id := range page.IDs {
		if id == "brief" {
			t.Fatal("an expired instance is still listed")
		}
	}
}

// testRetentionCountsFromTheFinish: an instance that ran longer than the
// retention is not deleted when it finishes, at the very moment an
// instance started with it expires: its retention starts at its finish.
func testRetentionCountsFromTheFinish(t *testing.T, s *retentionSuite) {
	e := s.newRetentionEnv(t, s.rc.retention)
	e.startInstance("gate", "long", "done")
	e.waitStatus("long", runtime.StatusRunning)
	e.run("echo", "short", "x")
	s.awaitGone(t, e, "short")
	must(t, e.client.RaiseEvent(e.ctx(), "long", "go", nil))
	var out string
	e.expectCompleted(e.wait("long"), &out)
	if out != "done" {
		t.Fatalf("output %q", out)
	}
	st, err := e.client.Status(e.ctx(), "long")
	if err != nil {
		t.Fatalf("an instance that ran longer than the retention is gone as it finished: %v", err)
	}
	if age := st.UpdatedAt.Sub(st.CreatedAt); age < s.rc.retention {
		t.Fatalf("instance ran %v, not longer than the retention %v: the test proves nothing", age, s.rc.retention)
	}
	if at := e.expiresAt("long"); !at.Equal(st.UpdatedAt.Add(s.rc.retention)) {
		t.Fatalf("expires at %v, want the finish %v + retention", at, st.UpdatedAt)
	}
	s.awaitGone(t, e, "long")
}

func testStartRetentionOverrides(t *testing.T, s *retentionSuite) {
	e := s.newRetentionEnv(t, time.Hour)
	e.startInstance("echo", "kept", "a")
	e.startInstance("echo", "brief", "b", control.WithRetention(s.rc.retention))
	e.wait("kept")
	e.wait("brief")
	s.awaitGone(t, e, "brief")
	if e.gone("kept") {
		t.Fatal("an instance under the engine's 1h retention expired with one under its start's shorter retention")
	}
	if at := e.expiresAt("kept"); time.Until(at) < 50*time.Minute {
		t.Fatalf("expires at %v, want in about an hour", at)
	}
}

// testScheduledStartRetention: a start with a start time ahead keeps its
// own retention through the schedule.
func testScheduledStartRetention(t *testing.T, s *retentionSuite) {
	e := s.newRetentionEnv(t, time.Hour)
	e.startInstance("echo", "later", "x", control.WithStartAt(time.Now().Add(500*time.Millisecond)), control.WithRetention(s.rc.retention))
	e.expectCompleted(e.wait("later"), nil)
	if at := e.expiresAt("later"); time.Until(at) > s.rc.retention {
		t.Fatalf("expires at %v, want within the start's retention %v", at, s.rc.retention)
	}
	s.awaitGone(t, e, "later")
}

func testRaiseToExpiredInstance(t *testing.T, s *retentionSuite) {
	e := s.newRetentionEnv(t, s.rc.retention)
	e.run("echo", "late", "x")
	s.awaitGone(t, e, "late")
	must(t, e.client.RaiseEvent(e.ctx(), "late", "go", "payload"))
	queue := runtime.Topology().EntityQueues[0]
	s.eventually(t, "the raise is consumed", func() bool {
		n, err := e.p.QueueDepth(e.ctx(), queue)
		must(t, err)
		return n == 0
	})
	if _, err := e.client.Status(e.ctx(), "late"); !errors.Is(err, runtime.ErrInstanceNotFound) {
		t.Fatalf("status after a raise to an expired instance: %v, want not found", err)
	}
	s.awaitGone(t, e, "late")
}

// testLateMessageKeepsExpiry: a message to a finished instance is dropped
// by a turn whose commit sets the instance's expiry again, to the same time
// (every commit sets it anew): it neither cancels nor postpones it.
func testLateMessageKeepsExpiry(t *testing.T, s *retentionSuite) {
	e := s.newRetentionEnv(t, s.rc.retention)
	e.run("echo", "done", "x")
	at := e.expiresAt("done")
	must(t, e.client.RaiseEvent(e.ctx(), "done", "go", nil))
	queue := runtime.Topology().EntityQueues[0]
	s.eventually(t, "the raise is consumed", func() bool {
		n, err := e.p.QueueDepth(e.ctx(), queue)
		must(t, err)
		return n == 0
	})
	if e.gone("done") {
		t.Skip("the instance expired before the raise was handled: the machine is too slow for this retention")
	}
	if got := e.expiresAt("done"); !got.Equal(at) {
		t.Fatalf("a late message moved the expiry from %v to %v", at, got)
	}
	s.awaitGone(t, e, "done")
}

func testStartOfExpiredID(t *testing.T, s *retentionSuite) {
	e := s.newRetentionEnv(t, s.rc.retention)
	e.run("echo", "again", "first")
	s.awaitGone(t, e, "again")
	var out string
	e.expectCompleted(e.run("echo", "again", "second"), &out)
	if out != "second" {
		t.Fatalf("output %q, want the new start's", out)
	}
	evs, err := e.client.PartitionHistory(e.ctx(), "again", 0)
	must(t, err)
	if n := countKind(evs, runtime.KindExecutionStarted); n != 1 {
		t.Fatalf("history of the new instance has %d ExecutionStarted events, want 1", n)
	}
	var in string
	must(t, runtime.DecodeValue(runtime.JSONCodec{}, started(t, evs).Payload, &in))
	if in != "second" {
		t.Fatalf("the new instance started with input %q, want \"second\"", in)
	}
}

// testEternalMonitor continues as new every iteration, then waits for an
// event: throughout, its status and the history of its current execution
// agree; afterwards every earlier execution expires and the current one,
// with its metadata, is intact.
func testEternalMonitor(t *testing.T, s *retentionSuite) {
	e := s.newEnv(t)
	n := s.rc.iterations
	must(t, runtime.RegisterOrchestration(e.reg, "eternal", func(ctx *runtime.OrchestrationContext, i int) (int, error) {
		if i < n {
			ctx.ContinueAsNew(i + 1)
			return 0, nil
		}
		return i, ctx.WaitForEvent("stop").Await(nil)
	}))
	e.start(worker.Options{Retention: s.rc.retention})
	e.startInstance("eternal", "monitor", 0)
	samples, maxRetained := 0, 0
	began, reported := time.Now(), uint64(0)
	for {
		st, err := e.client.Status(e.ctx(), "monitor")
		if errors.Is(err, runtime.ErrInstanceNotFound) {
			time.Sleep(10 * time.Millisecond) // not started yet
			continue
		}
		must(t, err)
		if st.Status != runtime.StatusRunning && st.Status != runtime.StatusContinuedAsNew {
			t.Fatalf("status %s at partition %d (error %q), want Running or ContinuedAsNew", st.Status, st.Partition, st.Error)
		}
		e.checkExecution(st.Partition)
		if samples%20 == 0 {
			retained := e.retainedBelow("monitor", st.Partition)
			maxRetained = max(maxRetained, retained)
			if st.Partition >= reported+1000 {
				reported = st.Partition
				t.Logf("after %v: execution %d, %d earlier ones held", time.Since(began).Round(time.Millisecond), st.Partition, retained)
			}
		}
		samples++
		if st.Partition == uint64(n) && st.Status == runtime.StatusRunning {
			break
		}
		time.Sleep(10 * time.Millisecond) // a sample, not a wait: the monitor runs on
	}
	t.Logf("%d iterations, %d status samples while they ran; at most %d earlier executions held at once (retention %v)",
		n, samples, maxRetained, s.rc.retention)
	s.eventually(t, "every earlier execution expires", func() bool {
		for p := range uint64(n) {
			h, err := e.p.History(e.ctx(), "monitor", p)
			must(t, err)
			if len(h) != 0 {
				return false
			}
		}
		return true
	})
	st, err := e.client.Status(e.ctx(), "monitor")
	must(t, err)
	if st.Status != runtime.StatusRunning || st.Partition != uint64(n) || st.Name != "eternal" {
		t.Fatalf("after the earlier executions expired: %s %s at partition %d, want eternal Running at %d", st.Name, st.Status, st.Partition, n)
	}
	e.checkExecution(uint64(n))
	must(t, e.client.RaiseEvent(e.ctx(), "monitor", "stop", nil))
	var out int
	e.expectCompleted(e.wait("monitor"), &out)
	if out != n {
		t.Fatalf("output %d, want %d", out, n)
	}
}

// retainedBelow counts the earlier executions still stored below partition
// p: they expire oldest first, so the stored ones are the run just below p.
func (e *env) retainedBelow(id string, p uint64) int {
	e.t.Helper()
	n := 0
	for q := p; q > 0; q-- {
		h, err := e.p.History(e.ctx(), id, q-1)
		must(e.t, err)
		if len(h) == 0 {
			break
		}
		n++
	}
	return n
}

// checkExecution checks that partition p holds the execution the status
// named: it starts with ExecutionStarted of input p. An execution may have
// expired since the status was read only if the instance moved past it.
func (e *env) checkExecution(p uint64) {
	e.t.Helper()
	evs, err := e.client.PartitionHistory(e.ctx(), "monitor", p)
	must(e.t, err)
	if len(evs) == 0 {
		cur, err := e.client.Partition(e.ctx(), "monitor")
		must(e.t, err)
		if cur <= p {
			e.t.Fatalf("the current execution (partition %d) has no history", p)
		}
		return
	}
	var in int
	ev := started(e.t, evs)
	must(e.t, runtime.DecodeValue(runtime.JSONCodec{}, ev.Payload, &in))
	if uint64(in) != p {
		e.t.Fatalf("partition %d holds the execution of input %d: %s", p, in, fmt.Sprint(ev))
	}
}

// started returns the ExecutionStarted event of a partition's history.
func started(t *testing.T, evs []runtime.Event) runtime.Event {
	t.Helper()
	for _, ev := range evs {
		if ev.Kind == runtime.KindExecutionStarted {
			return ev
		}
	}
	t.Fatalf("a history of %d events without ExecutionStarted", len(evs))
	return runtime.Event{}
}
