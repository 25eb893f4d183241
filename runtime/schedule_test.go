package runtime

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// schedSim is a sim with one orchestration, "count", that counts its runs
// (first executions of its code) and waits for the event "go".
func schedSim(t *testing.T) (*sim, *atomic.Int64) {
	t.Helper()
	var runs atomic.Int64
	reg := NewRegistry()
	if err := RegisterOrchestration(reg, "count", func(ctx *OrchestrationContext, in string) (string, error) {
		if !ctx.IsReplaying() {
			runs.Add(1)
		}
		return in, ctx.WaitForEvent("go").Await(nil)
	}); err != nil {
		t.Fatal(err)
	}
	s := newSim(t, reg)
	t.Cleanup(s.close)
	// (No compare: a replayed turn would run the code once more.)
	return s, &runs
}

// schedule queues a client start of "count" as id, at the sim's time plus
// delay (a reuse start in partition when reuse is set).
func (s *sim) schedule(id string, partition uint64, reuse bool, delay time.Duration) time.Time {
	at := s.now.Add(delay)
	data, _ := encodeValue(s.e.codec, "in")
	s.enqueue(StartMessage(DefaultOrchestratorQueue, id, partition, reuse, "count", "", data, at).Message)
	return at
}

// take removes and returns the messages queued for id.
func (s *sim) take(id string) []provider.Message {
	msgs := s.inbox[id]
	delete(s.inbox, id)
	s.order = slices.DeleteFunc(s.order, func(e string) bool { return e == id })
	return msgs
}

// purge forgets id as DeleteEntity does (its queued messages too).
func (s *sim) purge(id string) {
	s.take(id)
	delete(s.meta, id)
	delete(s.hist, id)
	delete(s.part, id)
}

func terminateMsg(id, msgID, reason string) provider.Message {
	return provider.Message{ID: msgID, Entity: id, Data: encodeEnvelope(&envelope{kind: msgTerminate, ev: Event{Reason: reason}})}
}

func (s *sim) status(id string) Status { return Status(s.meta[id][MetaStatus]) }

// TestScheduledStartIsRecordedThenRunsFromItsFire: a start with a start
// time runs no code; it records the instance as Scheduled with the time and
// sends itself the start delayed until then, which runs it.
func TestScheduledStartIsRecordedThenRunsFromItsFire(t *testing.T) {
	s, runs := schedSim(t)
	at := s.schedule("a", 0, false, time.Hour)
	s.step()
	if got := s.status("a"); got != StatusScheduled {
		t.Fatalf("status %s, want Scheduled", got)
	}
	md := s.meta["a"]
	if md[MetaScheduledAt] != at.Format(time.RFC3339Nano) || md[MetaName] != "count" || md[MetaScheduledMessage] == "" {
		t.Fatalf("metadata %v", md)
	}
	if runs.Load() != 0 || len(s.hist["a"][0]) != 0 {
		t.Fatalf("a scheduled start ran: %d runs, %d events", runs.Load(), len(s.hist["a"][0]))
	}
	fire := s.inbox["a"]
	if len(fire) != 1 || !fire[0].NotBefore.Equal(at) || fire[0].ID != md[MetaScheduledMessage] {
		t.Fatalf("queued %+v, want one message delayed until %s", fire, at)
	}
	s.step()
	if got := s.status("a"); got != StatusRunning || runs.Load() != 1 {
		t.Fatalf("after the fire: %s, %d runs; want Running, 1", got, runs.Load())
	}
	if _, ok := s.meta["a"][MetaScheduledAt]; ok {
		t.Fatalf("a running instance keeps %s: %v", MetaScheduledAt, s.meta["a"])
	}
}

// TestStartTimeInThePastRunsAtOnce: a start whose time has come runs in the
// turn that takes it.
func TestStartTimeInThePastRunsAtOnce(t *testing.T) {
	s, runs := schedSim(t)
	s.schedule("a", 0, false, -time.Hour)
	s.step()
	if got := s.status("a"); got != StatusRunning || runs.Load() != 1 {
		t.Fatalf("%s, %d runs; want Running, 1", got, runs.Load())
	}
}

// TestTerminateBeforeTheFireNeverRuns: a terminate taken while Scheduled
// ends the instance without running it and cancels the fire; a fire that
// arrives all the same (a cancel that came too late) does nothing.
func TestTerminateBeforeTheFireNeverRuns(t *testing.T) {
	s, runs := schedSim(t)
	s.schedule("a", 0, false, time.Hour)
	s.step()
	fire := s.take("a")
	s.enqueue(terminateMsg("a", "T1", "not needed"))
	s.step()
	if got := s.status("a"); got != StatusTerminated {
		t.Fatalf("status %s, want Terminated", got)
	}
	if e := s.meta["a"][MetaError]; e != "Terminated: terminated before its scheduled start: not needed" {
		t.Fatalf("error %q", e)
	}
	if _, ok := s.meta["a"][MetaScheduledMessage]; ok {
		t.Fatalf("a terminated instance keeps its schedule: %v", s.meta["a"])
	}
	s.enqueue(fire[0])
	s.runToIdle(5)
	if got := s.status("a"); got != StatusTerminated || runs.Load() != 0 || len(s.hist["a"][0]) != 0 {
		t.Fatalf("after a late fire: %s, %d runs, %d events; want Terminated, 0, 0", got, runs.Load(), len(s.hist["a"][0]))
	}

	// replace_finished starts the id afresh, in the next partition.
	s.schedule("a", 1, true, 0)
	s.step()
	if got := s.status("a"); got != StatusRunning || runs.Load() != 1 || s.part["a"] != 1 {
		t.Fatalf("reuse: %s, %d runs, partition %d; want Running, 1, 1", got, runs.Load(), s.part["a"])
	}
	if _, ok := s.meta["a"][MetaError]; ok {
		t.Fatalf("the new execution keeps the old error: %v", s.meta["a"])
	}
}

// TestTerminateInTheSchedulingBatch: a terminate behind the scheduling start
// in one batch ends the instance before anything is sent.
func TestTerminateInTheSchedulingBatch(t *testing.T) {
	s, runs := schedSim(t)
	s.schedule("a", 0, false, time.Hour)
	s.enqueue(terminateMsg("a", "T1", "changed my mind"))
	s.step()
	if got := s.status("a"); got != StatusTerminated || runs.Load() != 0 || len(s.inbox["a"]) != 0 {
		t.Fatalf("%s, %d runs, %d queued; want Terminated, 0, 0", got, runs.Load(), len(s.inbox["a"]))
	}
}

// TestTerminateAfterTheFireInOneBatch: a fire taken before a terminate in
// one batch runs the instance, which the terminate then ends.
func TestTerminateAfterTheFireInOneBatch(t *testing.T) {
	s, runs := schedSim(t)
	s.schedule("a", 0, false, time.Hour)
	s.step()
	s.enqueue(terminateMsg("a", "T1", "late"))
	s.step()
	if got := s.status("a"); got != StatusTerminated || runs.Load() != 1 {
		t.Fatalf("%s, %d runs; want Terminated, 1", got, runs.Load())
	}
	if countEventKinds(t, s.hist["a"][0], KindExecutionStarted, KindExecutionTerminated) != 2 {
		t.Fatalf("history lacks the start and the terminate")
	}
}

// TestAFireOnlyStartsTheScheduleThatSentIt: after a purge, a fire of the
// purged schedule starts neither a fresh id nor a later schedule of it.
func TestAFireOnlyStartsTheScheduleThatSentIt(t *testing.T) {
	s, runs := schedSim(t)
	s.schedule("a", 0, false, time.Hour)
	s.step()
	old := s.take("a")
	s.purge("a")
	s.enqueue(old[0])
	s.runToIdle(5)
	if len(s.meta["a"]) != 0 || runs.Load() != 0 {
		t.Fatalf("a purged schedule's fire: metadata %v, %d runs", s.meta["a"], runs.Load())
	}

	s.schedule("a", 0, false, time.Hour)
	s.step()
	fresh := s.take("a")
	s.enqueue(old[0])
	s.step()
	if got := s.status("a"); got != StatusScheduled || runs.Load() != 0 {
		t.Fatalf("the old fire over a new schedule: %s, %d runs; want Scheduled, 0", got, runs.Load())
	}
	s.enqueue(fresh[0])
	s.step()
	if got := s.status("a"); got != StatusRunning || runs.Load() != 1 {
		t.Fatalf("the new fire: %s, %d runs; want Running, 1", got, runs.Load())
	}
}

// TestMessagesWhileScheduled: events, suspend and resume sent to a Scheduled
// instance are dropped; a second start is refused (a child start is
// answered with InstanceExists).
func TestMessagesWhileScheduled(t *testing.T) {
	s, runs := schedSim(t)
	s.schedule("a", 0, false, time.Hour)
	s.step()
	fire := s.take("a")
	s.raise("a", "go", nil)
	s.enqueue(provider.Message{ID: "P1", Entity: "a", Data: encodeEnvelope(&envelope{kind: msgSuspend})})
	s.enqueue(provider.Message{ID: "C1", Entity: "a", Data: encodeEnvelope(&envelope{kind: msgStart,
		ev: Event{Name: "count", Parent: &ParentRef{InstanceID: "p", Partition: 0, Decision: 3}}})})
	s.step()
	if got := s.status("a"); got != StatusScheduled || runs.Load() != 0 {
		t.Fatalf("%s, %d runs; want Scheduled, 0", got, runs.Load())
	}
	rejected := s.take("p")
	if len(rejected) != 1 {
		t.Fatalf("the parent got %d messages, want the rejection of its child start", len(rejected))
	}
	env, err := decodeEnvelope(rejected[0].Data)
	if err != nil || env.kind != msgChildDone || env.ev.Failure == nil || env.ev.Failure.Type != "InstanceExists" {
		t.Fatalf("the parent got %+v, %v; want InstanceExists", env, err)
	}
	s.enqueue(fire[0])
	s.step()
	if got := s.status("a"); got != StatusRunning {
		t.Fatalf("%s after the fire, want Running (the event before it was dropped)", got)
	}
}

func countEventKinds(t *testing.T, raw []provider.Event, kinds ...EventKind) int {
	t.Helper()
	evs, err := decodeHistory(raw)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if slices.Contains(kinds, ev.Kind) {
			n++
		}
	}
	return n
}

// TestPoisonWhileScheduledFailsWithoutRunning: a poison message to a
// Scheduled instance fails it, keeping its name, and cancels the fire.
func TestPoisonWhileScheduledFailsWithoutRunning(t *testing.T) {
	s, runs := schedSim(t)
	s.schedule("a", 0, false, time.Hour)
	s.step()
	fire := s.take("a")
	data, _ := encodeValue(s.e.codec, "x")
	b := s.batchFor("a")
	b.Messages = []provider.Message{{ID: "E1", Entity: "a", Attempt: 11,
		Data: encodeEnvelope(&envelope{kind: msgEventRaised, ev: Event{Name: "go", Payload: data}})}}
	res := s.e.turn(nil, b, s.now)
	if res.status != StatusFailed || res.commit.SetMetadata[MetaName] != "" && res.commit.SetMetadata[MetaName] != "count" {
		t.Fatalf("poison turn: %s, metadata %v", res.status, res.commit.SetMetadata)
	}
	if len(res.commit.Cancel) != 1 || res.commit.Cancel[0].ID != fire[0].ID {
		t.Fatalf("poison turn cancels %v, want the fire %s", res.commit.Cancel, fire[0].ID)
	}
	s.apply("a", res.commit)
	if s.meta["a"][MetaName] != "count" || s.status("a") != StatusFailed || runs.Load() != 0 {
		t.Fatalf("after poison: %v, %d runs", s.meta["a"], runs.Load())
	}
}
