package runtimetest

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"testing"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
)

var clientTests = []suiteTest{
	{"StartRejectsExistingID", testStartRejectsExisting},
	{"ReuseFinishedRestartsInNewPartition", testStartReuse},
	{"ListPagesByStatusAndName", testList},
	{"PurgeDeletesFinishedOnly", testPurge},
	{"StatusOfUnknownIsNotFound", testStatusNotFound},
	{"ConcurrentStartsOfOneIDOneWins", testConcurrentStarts},
	{"StatusReportsTheCurrentPartition", testStatusPartition},
	{"OnStatusChangeSeesEveryStatusChange", testOnStatusChange},
}

// testConcurrentStarts starts one id from several goroutines before any
// turn ran: exactly one Start is accepted and the instance runs once.
func testConcurrentStarts(t *testing.T, s *suite) {
	e := s.newEnv(t)
	if _, ok := provider.As[provider.DedupSender](e.p); !ok {
		t.Skip("provider does not implement provider.DedupSender")
	}
	registerEcho(t, e)
	const starters = 8
	errs := make([]error, starters)
	var wg sync.WaitGroup
	for i := range starters {
		wg.Go(func() { _, errs[i] = e.client.Start(e.ctx(), "echo", fmt.Sprint(i), control.WithID("once")) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("Start #%d and #%d of one id both succeeded", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, runtime.ErrInstanceExists):
			t.Fatalf("Start #%d: %v, want nil or ErrInstanceExists", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no Start of the id succeeded")
	}
	// A later start before the first turn is rejected as well.
	if _, err := e.client.Start(e.ctx(), "echo", "late", control.WithID("once")); !errors.Is(err, runtime.ErrInstanceExists) {
		t.Fatalf("start of a queued id: %v, want ErrInstanceExists", err)
	}
	e.start(worker.Options{})
	var out string
	e.expectCompleted(e.wait("once"), &out)
	if out != fmt.Sprint(won) {
		t.Fatalf("output %q, want the winning start's input %q", out, fmt.Sprint(won))
	}
	if n := countKind(e.history("once"), runtime.KindExecutionStarted); n != 1 {
		t.Fatalf("%d ExecutionStarted events, want 1", n)
	}
	// Just after the start was consumed it is still rejected.
	if _, err := e.client.Start(e.ctx(), "echo", "again", control.WithID("once")); !errors.Is(err, runtime.ErrInstanceExists) {
		t.Fatalf("start of a finished id: %v, want ErrInstanceExists", err)
	}
}

// testStatusPartition checks that Status reports the partition that its
// status belongs to, across continue-as-new and reuse.
func testStatusPartition(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerEcho(t, e)
	must(t, runtime.RegisterOrchestration(e.reg, "loop", func(ctx *runtime.OrchestrationContext, n int) (int, error) {
		if n < 2 {
			ctx.ContinueAsNew(n + 1)
			return 0, nil
		}
		return n, nil
	}))
	e.start(worker.Options{})
	st := e.run("loop", "cont", 0)
	e.expectCompleted(st, nil)
	if st.Partition != 2 {
		t.Fatalf("partition after two continue-as-new: %d, want 2", st.Partition)
	}
	md, err := e.p.Metadata(e.ctx(), "cont")
	must(t, err)
	if md[runtime.MetaPartition] != "2" {
		t.Fatalf("metadata %s = %q, want 2", runtime.MetaPartition, md[runtime.MetaPartition])
	}
	e.expectCompleted(e.run("echo", "again", "first"), nil)
	e.startInstance("echo", "again", "second", control.WithReusePolicy(control.ReuseReplaceFinished))
	e.waitFor("again", func() bool {
		st, err := e.client.Status(e.ctx(), "again")
		return err == nil && st.Partition == 1
	})
	st, err = e.client.Status(e.ctx(), "again")
	must(t, err)
	var out string
	e.expectCompleted(st, &out)
	if out != "second" {
		t.Fatalf("status at partition 1 has output %q, want second", out)
	}
}

// testOnStatusChange follows one instance through Running, Suspended,
// Running, Completed and a restart, and requires exactly those changes,
// each carrying the metadata its commit left.
func testOnStatusChange(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerEcho(t, e)
	changes := make(chan runtime.StatusChange, 64)
	e.start(worker.Options{OnStatusChange: func(c runtime.StatusChange) { changes <- c }})
	n := 0
	next := func(w runtime.StatusChange) runtime.StatusChange {
		t.Helper()
		n++
		select {
		case got := <-changes:
			if got.ID != w.ID || got.Name != w.Name || got.Status != w.Status || got.Partition != w.Partition {
				t.Fatalf("change #%d = %+v, want %+v", n, got, w)
			}
			md := got.Metadata
			if md[runtime.MetaStatus] != string(w.Status) || md[runtime.MetaName] != w.Name ||
				md[runtime.MetaPartition] != strconv.FormatUint(w.Partition, 10) {
				t.Fatalf("change #%d carries metadata %v, want status %s, name %s, partition %d", n, md, w.Status, w.Name, w.Partition)
			}
			return got
		case <-e.ctx().Done():
			t.Fatalf("change #%d (%+v) never reported", n, w)
			return runtime.StatusChange{}
		}
	}
	// stored requires the metadata of the last change to be the stored
	// one, every key of it (the instance is idle).
	stored := func(c runtime.StatusChange) {
		t.Helper()
		md, err := e.p.Metadata(e.ctx(), c.ID)
		must(t, err)
		if !maps.Equal(c.Metadata, md) {
			t.Fatalf("change %s carries metadata\n%v\nthe store has\n%v", c.Status, c.Metadata, md)
		}
	}
	e.startInstance("hold", "watched", 0)
	e.waitStatus("watched", runtime.StatusRunning)
	must(t, e.client.RaiseEvent(e.ctx(), "watched", "unrelated", nil))
	must(t, e.client.Suspend(e.ctx(), "watched", "pause"))
	e.waitStatus("watched", runtime.StatusSuspended)
	next(runtime.StatusChange{ID: "watched", Name: "hold", Status: runtime.StatusRunning})
	// Not the commit that created the instance: its metadata is the
	// earlier commits' with this one's changes.
	stored(next(runtime.StatusChange{ID: "watched", Name: "hold", Status: runtime.StatusSuspended}))
	must(t, e.client.Resume(e.ctx(), "watched", "go on"))
	e.waitStatus("watched", runtime.StatusRunning)
	next(runtime.StatusChange{ID: "watched", Name: "hold", Status: runtime.StatusRunning})
	must(t, e.client.RaiseEvent(e.ctx(), "watched", "release", nil))
	e.expectCompleted(e.wait("watched"), nil)
	stored(next(runtime.StatusChange{ID: "watched", Name: "hold", Status: runtime.StatusCompleted}))
	e.startInstance("hold", "watched", 0, control.WithReusePolicy(control.ReuseReplaceFinished))
	e.waitFor("watched", func() bool {
		st, err := e.client.Status(e.ctx(), "watched")
		return err == nil && st.Partition == 1 && st.Status == runtime.StatusRunning
	})
	stored(next(runtime.StatusChange{ID: "watched", Name: "hold", Status: runtime.StatusRunning, Partition: 1}))
}

func registerEcho(t *testing.T, e *env) {
	must(t, runtime.RegisterOrchestration(e.reg, "echo", func(_ *runtime.OrchestrationContext, in string) (string, error) {
		return in, nil
	}))
	must(t, runtime.RegisterOrchestration(e.reg, "hold", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		return 0, ctx.WaitForEvent("release").Await(nil)
	}))
}

func testStartRejectsExisting(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerEcho(t, e)
	e.start(worker.Options{})
	e.startInstance("hold", "x", 0)
	e.waitStatus("x", runtime.StatusRunning)
	if _, err := e.client.Start(e.ctx(), "hold", 0, control.WithID("x")); !errors.Is(err, runtime.ErrInstanceExists) {
		t.Fatalf("second start of a running id: %v, want ErrInstanceExists", err)
	}
	if _, err := e.client.Start(e.ctx(), "hold", 0, control.WithID("x"), control.WithReusePolicy(control.ReuseReplaceFinished)); !errors.Is(err, runtime.ErrInstanceExists) {
		t.Fatalf("reuse start of a running id: %v, want ErrInstanceExists", err)
	}
}

func testStartReuse(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerEcho(t, e)
	e.start(worker.Options{})
	e.expectCompleted(e.run("echo", "r", "first"), nil)
	if _, err := e.client.Start(e.ctx(), "echo", "again", control.WithID("r")); !errors.Is(err, runtime.ErrInstanceExists) {
		t.Fatalf("start of a finished id without reuse: %v", err)
	}
	e.startInstance("echo", "r", "second", control.WithReusePolicy(control.ReuseReplaceFinished))
	e.waitFor("r", func() bool {
		part, err := e.p.CurrentPartition(e.ctx(), "r")
		st, err2 := e.client.Status(e.ctx(), "r")
		return err == nil && err2 == nil && part == 1 && st.Status == runtime.StatusCompleted
	})
	var out string
	e.expectCompleted(e.wait("r"), &out)
	if out != "second" {
		t.Fatalf("output %q, want second", out)
	}
}

func testList(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerEcho(t, e)
	e.start(worker.Options{})
	for i := range 5 {
		e.expectCompleted(e.run("echo", fmt.Sprintf("done-%d", i), "x"), nil)
	}
	e.startInstance("hold", "held", 0)
	e.waitStatus("held", runtime.StatusRunning)
	var all []string
	cursor := ""
	for {
		page, err := e.client.List(e.ctx(), control.ListQuery{Status: runtime.StatusCompleted, Cursor: cursor, Limit: 2})
		must(t, err)
		all = append(all, page.IDs...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if fmt.Sprint(all) != "[done-0 done-1 done-2 done-3 done-4]" {
		t.Fatalf("completed: %v", all)
	}
	page, err := e.client.List(e.ctx(), control.ListQuery{Name: "hold"})
	must(t, err)
	if fmt.Sprint(page.IDs) != "[held]" {
		t.Fatalf("by name: %v", page.IDs)
	}
	if _, err := e.client.List(e.ctx(), control.ListQuery{}); err == nil {
		t.Fatal("an empty query must be rejected")
	}
}

func testPurge(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerEcho(t, e)
	e.start(worker.Options{})
	e.startInstance("hold", "running", 0)
	e.waitStatus("running", runtime.StatusRunning)
	if err := e.client.Purge(e.ctx(), "running"); !errors.Is(err, runtime.ErrNotTerminal) {
		t.Fatalf("purge of a running instance: %v, want ErrNotTerminal", err)
	}
	e.expectCompleted(e.run("echo", "gone", "x"), nil)
	must(t, e.client.Purge(e.ctx(), "gone"))
	if _, err := e.client.Status(e.ctx(), "gone"); !errors.Is(err, runtime.ErrInstanceNotFound) {
		t.Fatalf("status after purge: %v", err)
	}
}

func testStatusNotFound(t *testing.T, s *suite) {
	e := s.newEnv(t)
	if _, err := e.client.Status(e.ctx(), "nobody"); !errors.Is(err, runtime.ErrInstanceNotFound) {
		t.Fatalf("got %v", err)
	}
	if _, err := e.client.History(e.ctx(), "nobody"); !errors.Is(err, runtime.ErrInstanceNotFound) {
		t.Fatalf("history: got %v", err)
	}
}
