package runtime

import (
	"testing"

	"github.com/reprise/reprise/provider"
)

// TestCascadeReachesOnlyTheChildThisParentStarted: a parent whose child start
// was rejected (the id was taken by an unrelated running instance) is
// terminated before it learns of the rejection. Its cascade must not
// terminate the unrelated instance; a child it did start is terminated.
func TestCascadeReachesOnlyTheChildThisParentStarted(t *testing.T) {
	reg := NewRegistry()
	if err := RegisterOrchestration(reg, "waiter", func(ctx *OrchestrationContext, _ any) (string, error) {
		return "", ctx.WaitForEvent("never").Await(nil)
	}); err != nil {
		t.Fatal(err)
	}
	if err := RegisterOrchestration(reg, "parent", func(ctx *OrchestrationContext, child string) (string, error) {
		return "", ctx.CallSubOrchestration("waiter", nil, WithInstanceID(child)).Await(nil)
	}); err != nil {
		t.Fatal(err)
	}
	s := newSim(t, reg)
	defer s.close()
	s.compare = true

	s.start("waiter", "taken", nil)
	s.runToIdle(10)
	s.start("parent", "p", "taken")
	s.step() // p starts its child "taken"
	s.step() // "taken" is running: the start is rejected, the rejection goes to p
	if len(s.inbox["p"]) != 1 {
		t.Fatalf("p's inbox holds %d messages, want the rejection", len(s.inbox["p"]))
	}
	// A terminate reaches p before the rejection does.
	term := provider.Message{ID: "T-p", Entity: "p", Attempt: 1,
		Data: encodeEnvelope(&envelope{kind: msgTerminate, ev: Event{Reason: "stop"}})}
	s.inbox["p"] = append([]provider.Message{term}, s.inbox["p"]...)
	s.runToIdle(20)
	if got := Status(s.meta["p"][MetaStatus]); got != StatusTerminated {
		t.Fatalf("p is %s, want Terminated", got)
	}
	if got := Status(s.meta["taken"][MetaStatus]); got != StatusRunning {
		t.Fatalf("the unrelated instance is %s after p's cascade, want Running", got)
	}

	// The same cascade reaches a child p2 did start.
	s.start("parent", "p2", "mine")
	s.runToIdle(10)
	if got := Status(s.meta["mine"][MetaStatus]); got != StatusRunning {
		t.Fatalf("p2's child is %s, want Running", got)
	}
	s.enqueue(provider.Message{ID: "T-p2", Entity: "p2",
		Data: encodeEnvelope(&envelope{kind: msgTerminate, ev: Event{Reason: "stop"}})})
	s.runToIdle(20)
	if got := Status(s.meta["mine"][MetaStatus]); got != StatusTerminated {
		t.Fatalf("p2's child is %s after p2's cascade, want Terminated", got)
	}
}
