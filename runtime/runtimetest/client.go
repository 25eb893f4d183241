package runtimetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/reprise/reprise/runtime"
)

var clientTests = []suiteTest{
	{"StartRejectsExistingID", testStartRejectsExisting},
	{"ReuseFinishedRestartsInNewPartition", testStartReuse},
	{"ListPagesByStatusAndName", testList},
	{"PurgeDeletesFinishedOnly", testPurge},
	{"StatusOfUnknownIsNotFound", testStatusNotFound},
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
	e.start(runtime.WorkerOptions{})
	e.startInstance("hold", "x", 0)
	e.waitStatus("x", runtime.StatusRunning)
	if err := e.client.Start(e.ctx(), "hold", "x", 0); !errors.Is(err, runtime.ErrInstanceExists) {
		t.Fatalf("second start of a running id: %v, want ErrInstanceExists", err)
	}
	if err := e.client.Start(e.ctx(), "hold", "x", 0, runtime.ReuseFinished()); !errors.Is(err, runtime.ErrInstanceExists) {
		t.Fatalf("reuse start of a running id: %v, want ErrInstanceExists", err)
	}
}

func testStartReuse(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerEcho(t, e)
	e.start(runtime.WorkerOptions{})
	e.expectCompleted(e.run("echo", "r", "first"), nil)
	if err := e.client.Start(e.ctx(), "echo", "r", "again"); !errors.Is(err, runtime.ErrInstanceExists) {
		t.Fatalf("start of a finished id without reuse: %v", err)
	}
	must(t, e.client.Start(e.ctx(), "echo", "r", "second", runtime.ReuseFinished()))
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
	e.start(runtime.WorkerOptions{})
	for i := range 5 {
		e.expectCompleted(e.run("echo", fmt.Sprintf("done-%d", i), "x"), nil)
	}
	e.startInstance("hold", "held", 0)
	e.waitStatus("held", runtime.StatusRunning)
	var all []string
	cursor := ""
	for {
		page, err := e.client.List(e.ctx(), runtime.ListQuery{Status: runtime.StatusCompleted, Cursor: cursor, Limit: 2})
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
	page, err := e.client.List(e.ctx(), runtime.ListQuery{Name: "hold"})
	must(t, err)
	if fmt.Sprint(page.IDs) != "[held]" {
		t.Fatalf("by name: %v", page.IDs)
	}
	if _, err := e.client.List(e.ctx(), runtime.ListQuery{}); err == nil {
		t.Fatal("an empty query must be rejected")
	}
}

func testPurge(t *testing.T, s *suite) {
	e := s.newEnv(t)
	registerEcho(t, e)
	e.start(runtime.WorkerOptions{})
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
