package runtimetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
)

var scheduleTests = []suiteTest{
	{"ScheduledStartIsVisibleAndListed", testScheduledVisible},
	{"ScheduledStartRunsAtItsTime", testScheduledRuns},
	{"TerminateBeforeTheStartTimeNeverRuns", testTerminateScheduled},
	{"PurgeBeforeTheStartTimeNeverRuns", testPurgeScheduled},
}

// runCounter registers "counted", an orchestration that counts the first
// executions of its code per instance and returns its input.
type runCounter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (e *env) countRuns() *runCounter {
	rc := &runCounter{runs: map[string]int{}}
	must(e.t, runtime.RegisterOrchestration(e.reg, "counted", func(ctx *runtime.OrchestrationContext, in string) (string, error) {
		if !ctx.IsReplaying() {
			rc.mu.Lock()
			rc.runs[ctx.InstanceID()]++
			rc.mu.Unlock()
		}
		return in, nil
	}))
	return rc
}

func (rc *runCounter) of(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.runs[id]
}

// listed returns the ids of one list query, every page.
func (e *env) listed(q control.ListQuery) []string {
	e.t.Helper()
	var ids []string
	for {
		page, err := e.client.List(e.ctx(), q)
		if err != nil {
			e.t.Fatalf("List(%+v): %v", q, err)
		}
		ids = append(ids, page.IDs...)
		if page.NextCursor == "" {
			return ids
		}
		q.Cursor = page.NextCursor
	}
}

// passTime waits until a witness instance scheduled at at has run: delayed
// messages due at that time have been delivered.
func (e *env) passTime(id string, at time.Time) {
	e.t.Helper()
	e.startInstance("counted", id, "witness", control.WithStartAt(at))
	e.expectCompleted(e.wait(id), nil)
}

func testScheduledVisible(t *testing.T, s *suite) {
	e := s.newEnv(t)
	rc := e.countRuns()
	e.start(worker.Options{})
	at := time.Now().Add(time.Hour).Round(0)
	e.startInstance("counted", "sv", "x", control.WithStartAt(at))
	st := e.waitStatus("sv", runtime.StatusScheduled)
	if !st.ScheduledAt.Equal(at) || st.Name != "counted" || st.CreatedAt.IsZero() {
		t.Fatalf("status %+v, want Scheduled at %s", st, at)
	}
	if got := e.listed(control.ListQuery{Status: runtime.StatusScheduled}); !slices.Equal(got, []string{"sv"}) {
		t.Fatalf("list by status Scheduled: %v, want [sv]", got)
	}
	if got := e.listed(control.ListQuery{Name: "counted"}); !slices.Equal(got, []string{"sv"}) {
		t.Fatalf("list by name: %v, want [sv]", got)
	}
	if evs := e.history("sv"); len(evs) != 0 {
		t.Fatalf("a scheduled instance has %d events", len(evs))
	}
	// The id is taken, whatever the reuse policy: Scheduled is not finished.
	for _, p := range []control.ReusePolicy{control.ReuseReject, control.ReuseReplaceFinished} {
		_, err := e.client.Start(e.ctx(), "counted", "y", control.WithID("sv"), control.WithReusePolicy(p))
		if !errors.Is(err, runtime.ErrInstanceExists) {
			t.Fatalf("start of a Scheduled id with reuse %q: %v, want ErrInstanceExists", p, err)
		}
	}
	if st := e.waitStatus("sv", runtime.StatusScheduled); !st.ScheduledAt.Equal(at) || rc.of("sv") != 0 {
		t.Fatalf("after refused starts: %+v, %d runs", st, rc.of("sv"))
	}
}

func testScheduledRuns(t *testing.T, s *suite) {
	e := s.newEnv(t)
	rc := e.countRuns()
	e.start(worker.Options{})
	at := time.Now().Add(time.Second).Round(0)
	e.startInstance("counted", "sr", "later", control.WithStartAt(at))
	var out string
	st := e.wait("sr")
	e.expectCompleted(st, &out)
	if out != "later" || rc.of("sr") != 1 || st.CreatedAt.Before(at) || !st.ScheduledAt.IsZero() {
		t.Fatalf("output %q, %d runs, created %s (start time %s), scheduled_at %s", out, rc.of("sr"), st.CreatedAt, at, st.ScheduledAt)
	}
}

func testTerminateScheduled(t *testing.T, s *suite) {
	e := s.newEnv(t)
	rc := e.countRuns()
	e.start(worker.Options{})
	at := time.Now().Add(2 * time.Second).Round(0)
	e.startInstance("counted", "ts", "x", control.WithStartAt(at))
	e.waitStatus("ts", runtime.StatusScheduled)
	must(t, e.client.Terminate(e.ctx(), "ts", "not needed"))
	e.expectStatus(e.wait("ts"), runtime.StatusTerminated, "not needed")
	e.passTime("ts-witness", at.Add(100*time.Millisecond))
	st, err := e.client.Status(e.ctx(), "ts")
	if err != nil || st.Status != runtime.StatusTerminated || rc.of("ts") != 0 {
		t.Fatalf("past the start time: %+v, %v, %d runs; want Terminated, never run", st, err, rc.of("ts"))
	}
	if evs := e.history("ts"); len(evs) != 0 {
		t.Fatalf("a terminated scheduled instance has %d events", len(evs))
	}
	// Terminated is finished: reject refuses the id, replace_finished
	// starts it afresh.
	if _, err := e.client.Start(e.ctx(), "counted", "y", control.WithID("ts")); !errors.Is(err, runtime.ErrInstanceExists) {
		t.Fatalf("start with reuse reject: %v, want ErrInstanceExists", err)
	}
	e.startInstance("counted", "ts", "again", control.WithReusePolicy(control.ReuseReplaceFinished))
	var out string
	e.waitFor("ts", func() bool {
		st, err := e.client.Status(e.ctx(), "ts")
		return err == nil && st.Partition == 1 && st.Status.IsTerminal()
	})
	e.expectCompleted(e.wait("ts"), &out)
	if out != "again" || rc.of("ts") != 1 {
		t.Fatalf("the replacing start: output %q, %d runs", out, rc.of("ts"))
	}
}

func testPurgeScheduled(t *testing.T, s *suite) {
	e := s.newEnv(t)
	rc := e.countRuns()
	e.start(worker.Options{})
	at := time.Now().Add(2 * time.Second).Round(0)
	e.startInstance("counted", "ps", "x", control.WithStartAt(at))
	e.waitStatus("ps", runtime.StatusScheduled)
	must(t, e.client.Purge(e.ctx(), "ps"))
	if _, err := e.client.Status(e.ctx(), "ps"); !errors.Is(err, runtime.ErrInstanceNotFound) {
		t.Fatalf("status after purge: %v, want ErrInstanceNotFound", err)
	}
	e.passTime("ps-witness", at.Add(100*time.Millisecond))
	if _, err := e.client.Status(e.ctx(), "ps"); !errors.Is(err, runtime.ErrInstanceNotFound) || rc.of("ps") != 0 {
		t.Fatalf("past the start time: %v, %d runs; want not found, never run", err, rc.of("ps"))
	}
	if got := e.listed(control.ListQuery{Status: runtime.StatusScheduled}); len(got) != 0 {
		t.Fatalf("list by status Scheduled after purge: %v", got)
	}
}
