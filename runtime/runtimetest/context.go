package runtimetest

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/worker"
)

var contextTests = []suiteTest{
	{"CustomStatusIsVisible", testCustomStatus},
	{"UUIDsAreStableAcrossReplay", testUUIDStable},
	{"LoggerIsSilentDuringReplay", testLoggerSilentOnReplay},
	{"StartTakesLatestVersionAndInstancesKeepTheirs", testVersioning},
}

func testCustomStatus(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		if err := ctx.SetCustomStatus(map[string]int{"step": 1}); err != nil {
			return 0, err
		}
		return 0, ctx.WaitForEvent("done").Await(nil)
	}))
	e.start(worker.Options{})
	e.startInstance("o", "cs", 0)
	st := e.waitStatus("cs", runtime.StatusRunning)
	var cs map[string]int
	must(t, st.DecodeCustomStatus(&cs))
	if cs["step"] != 1 {
		t.Fatalf("custom status %s", st.CustomStatus)
	}
	if st.Name != "o" || st.CreatedAt.IsZero() || st.UpdatedAt.IsZero() {
		t.Fatalf("status %+v", st)
	}
	must(t, e.client.RaiseEvent(e.ctx(), "cs", "done", nil))
	e.expectCompleted(e.wait("cs"), nil)
}

// uuidOrchestration records a UUID before and after a wait; the cache is off
// so the second turn replays the first.
func testUUIDStable(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) ([]string, error) {
		a := ctx.NewUUID()
		if err := ctx.WaitForEvent("go").Await(nil); err != nil {
			return nil, err
		}
		var echoed string
		if err := ctx.CallActivity("echo", a).Await(&echoed); err != nil {
			return nil, err
		}
		return []string{a, echoed, ctx.NewUUID()}, nil
	}))
	must(t, runtime.RegisterActivity(e.reg, "echo", func(_ context.Context, s string) (string, error) { return s, nil }))
	e.start(worker.Options{CacheSize: -1})
	e.startInstance("o", "u1", 0)
	e.waitStatus("u1", runtime.StatusRunning)
	must(t, e.client.RaiseEvent(e.ctx(), "u1", "go", nil))
	var out []string
	e.expectCompleted(e.wait("u1"), &out)
	if out[0] != out[1] {
		t.Fatalf("UUID changed across replay: %s then %s", out[0], out[1])
	}
	if out[0] == out[2] || len(out[0]) != 36 {
		t.Fatalf("UUIDs %v", out)
	}
}

// countingHandler counts records by message.
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Message]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func testLoggerSilentOnReplay(t *testing.T, s *suite) {
	e := s.newEnv(t)
	h := &countingHandler{counts: map[string]int{}}
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (bool, error) {
		ctx.Logger().Info("step one")
		for range 3 {
			if err := ctx.WaitForEvent("tick").Await(nil); err != nil {
				return false, err
			}
		}
		ctx.Logger().Info("step two")
		// The cache is off, so this turn replayed "step one" first; here
		// the code runs live.
		return ctx.IsReplaying(), nil
	}))
	e.start(worker.Options{CacheSize: -1, Logger: slog.New(h)})
	e.startInstance("o", "lg", 0)
	for range 3 {
		e.waitStatus("lg", runtime.StatusRunning)
		must(t, e.client.RaiseEvent(e.ctx(), "lg", "tick", nil))
	}
	replaying := true
	e.expectCompleted(e.wait("lg"), &replaying)
	if replaying {
		t.Fatal("IsReplaying was true in live code")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts["step one"] != 1 || h.counts["step two"] != 1 {
		t.Fatalf("log counts %v, want each line once", h.counts)
	}
}

func testVersioning(t *testing.T, s *suite) {
	e := s.newEnv(t)
	v1 := func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		if err := ctx.WaitForEvent("go").Await(nil); err != nil {
			return "", err
		}
		return "v1", nil
	}
	v2 := func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		// Different calls: replaying a v1 history with this would diverge.
		if err := ctx.CreateTimer(1).Await(nil); err != nil {
			return "", err
		}
		if err := ctx.WaitForEvent("go").Await(nil); err != nil {
			return "", err
		}
		return "v2", nil
	}
	must(t, runtime.RegisterOrchestrationVersion(e.reg, "o", "1", v1))
	first := e.start(worker.Options{CacheSize: -1})
	e.startInstance("o", "old", 0)
	e.waitStatus("old", runtime.StatusRunning)
	stopCtx, stop := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer stop()
	must(t, first.Stop(stopCtx))

	// Deploy v2 next to v1.
	reg2 := runtime.NewRegistry()
	must(t, runtime.RegisterOrchestrationVersion(reg2, "o", "1", v1))
	must(t, runtime.RegisterOrchestrationVersion(reg2, "o", "2", v2))
	e.startWith(reg2, worker.Options{})
	e.startInstance("o", "new", 0)
	for _, id := range []string{"old", "new"} {
		must(t, e.client.RaiseEvent(e.ctx(), id, "go", nil))
	}
	var out string
	st := e.wait("old")
	e.expectCompleted(st, &out)
	if out != "v1" || st.Version != "1" {
		t.Fatalf("old instance: %q at version %q, want v1 at 1", out, st.Version)
	}
	st = e.wait("new")
	e.expectCompleted(st, &out)
	if out != "v2" || st.Version != "2" {
		t.Fatalf("new instance: %q at version %q, want v2 at 2", out, st.Version)
	}
}
