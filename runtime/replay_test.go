package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func mustT(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// recordHistory runs name to quiescence in the sim (raising the given
// events afterwards) and returns the decoded history of partition 0.
func recordHistory(t *testing.T, reg *Registry, name string, events ...string) []Event {
	t.Helper()
	s := newSim(t, reg)
	defer s.close()
	s.start(name, "i", 0)
	s.runToIdle(100)
	for _, ev := range events {
		s.raise("i", ev, nil)
		s.runToIdle(100)
	}
	evs, err := decodeHistory(s.hist["i"][0])
	mustT(t, err)
	return evs
}

func TestReplayDetectsChangedCall(t *testing.T) {
	v1 := NewRegistry()
	mustT(t, RegisterActivity(v1, "a", func(context.Context, int) (int, error) { return 1, nil }))
	mustT(t, RegisterOrchestration(v1, "o", func(ctx *OrchestrationContext, _ int) (int, error) {
		if err := ctx.CallActivity("a", 0).Await(nil); err != nil {
			return 0, err
		}
		return 0, ctx.CreateTimer(time.Minute).Await(nil)
	}))
	hist := recordHistory(t, v1, "o")
	mustT(t, Replay(v1, hist, WithReplayInstance("i", 0)))

	v2 := NewRegistry()
	mustT(t, RegisterOrchestration(v2, "o", func(ctx *OrchestrationContext, _ int) (int, error) {
		if err := ctx.CallActivity("b", 0).Await(nil); err != nil {
			return 0, err
		}
		return 0, nil
	}))
	err := Replay(v2, hist, WithReplayInstance("i", 0))
	var nd *NondeterminismError
	if !errors.As(err, &nd) || !errors.Is(err, ErrNondeterminism) {
		t.Fatalf("want a NondeterminismError, got %v", err)
	}
	if nd.Seq != 0 || nd.Recorded != `CallActivity("a")` || nd.Call != `CallActivity("b")` || nd.EventIndex < 0 {
		t.Fatalf("error %+v", nd)
	}
}

func TestReplayDetectsMissingAndExtraCalls(t *testing.T) {
	v1 := NewRegistry()
	mustT(t, RegisterOrchestration(v1, "o", func(ctx *OrchestrationContext, _ int) (int, error) {
		if err := ctx.CreateTimer(time.Second).Await(nil); err != nil {
			return 0, err
		}
		return 0, ctx.CreateTimer(time.Second).Await(nil)
	}))
	hist := recordHistory(t, v1, "o")

	fewer := NewRegistry()
	mustT(t, RegisterOrchestration(fewer, "o", func(ctx *OrchestrationContext, _ int) (int, error) {
		return 0, ctx.CreateTimer(time.Second).Await(nil)
	}))
	err := Replay(fewer, hist, WithReplayInstance("i", 0))
	if !errors.Is(err, ErrNondeterminism) || !strings.Contains(err.Error(), "did not make the recorded call") {
		t.Fatalf("missing call: %v", err)
	}

	more := NewRegistry()
	mustT(t, RegisterOrchestration(more, "o", func(ctx *OrchestrationContext, _ int) (int, error) {
		for range 3 {
			ctx.CreateTimer(time.Second) // three timers in the first turn
		}
		return 0, ctx.CreateTimer(time.Second).Await(nil)
	}))
	err = Replay(more, hist, WithReplayInstance("i", 0))
	if !errors.Is(err, ErrNondeterminism) {
		t.Fatalf("extra call: %v", err)
	}
}

func TestPanicFailsInstanceWithStack(t *testing.T) {
	reg := NewRegistry()
	mustT(t, RegisterOrchestration(reg, "o", func(ctx *OrchestrationContext, _ int) (int, error) {
		panic("boom")
	}))
	s := newSim(t, reg)
	defer s.close()
	s.start("o", "i", 0)
	s.runToIdle(10)
	if s.meta["i"][MetaStatus] != string(StatusFailed) || !strings.Contains(s.meta["i"][MetaError], "boom") {
		t.Fatalf("metadata %v", s.meta["i"])
	}
	evs, _ := decodeHistory(s.hist["i"][0])
	if last := evs[len(evs)-1]; last.Failure == nil || !strings.Contains(last.Failure.Stack, "replay_test.go") {
		t.Fatalf("no stack recorded: %+v", last)
	}
}

// TestDuplicateAndStaleCompletionsAreDropped delivers an activity result a
// second time under another message ID, and a result addressed to an older
// partition: neither may reach history.
func TestDuplicateAndStaleCompletionsAreDropped(t *testing.T) {
	reg := NewRegistry()
	mustT(t, RegisterActivity(reg, "a", func(_ context.Context, n int) (int, error) { return n, nil }))
	mustT(t, RegisterOrchestration(reg, "o", func(ctx *OrchestrationContext, n int) (int, error) {
		if err := ctx.CallActivity("a", n).Await(nil); err != nil {
			return 0, err
		}
		if n == 0 {
			ctx.ContinueAsNew(1)
			return 0, nil
		}
		return n, ctx.WaitForEvent("never").Await(nil)
	}))
	s := newSim(t, reg)
	defer s.close()
	s.compare = true
	s.start("o", "i", 0)
	// Turn 1 schedules the activity; capture its result before delivering.
	s.step()
	result := s.inbox["i"][0]
	s.runToIdle(20)
	dup := result
	dup.ID = "duplicate-with-another-id"
	s.enqueue(dup) // partition 0 result, now stale as the instance is at partition 1
	s.runToIdle(20)
	if s.part["i"] != 1 {
		t.Fatalf("partition %d", s.part["i"])
	}
	evs, _ := decodeHistory(s.hist["i"][1])
	if n := countKinds(evs, KindActivityCompleted); n != 1 {
		t.Fatalf("%d completions in partition 1, want 1", n)
	}

	// A duplicate within the same partition.
	evs1 := len(s.hist["i"][1])
	last, _ := decodeHistory(s.hist["i"][1])
	var d uint64
	for _, ev := range last {
		if ev.Kind == KindActivityCompleted {
			d = ev.Decision
		}
	}
	again := envelope{kind: msgActivityResult, partition: 1, ev: Event{Decision: d, Payload: []byte("5")}}
	s.enqueue(providerMessage("i", "again", encodeEnvelope(&again)))
	s.runToIdle(20)
	if got := len(s.hist["i"][1]); got != evs1 {
		t.Fatalf("a duplicate completion appended %d events", got-evs1)
	}
}

func countKinds(evs []Event, k EventKind) int {
	n := 0
	for _, ev := range evs {
		if ev.Kind == k {
			n++
		}
	}
	return n
}
