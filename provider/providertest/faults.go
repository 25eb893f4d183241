package providertest

import (
	"context"
	"errors"
	"testing"

	"github.com/reprise/reprise/provider"
)

func faultTests() []conformanceTest {
	return []conformanceTest{
		{"CommitStepsAreListed", testCommitStepsAreListed},
		{"FaultAtEveryStepIsAllOrNothing", testFaultAtEveryStepIsAllOrNothing},
		{"InjectedFaultIsOneShot", testInjectedFaultIsOneShot},
	}
}

// faultInjector opens a provider and returns its FaultInjector, skipping the
// test if it has none.
func (s *suite) faultInjector(t *testing.T, edits ...func(*provider.Topology)) (*env, provider.FaultInjector) {
	t.Helper()
	e := s.open(t, edits...)
	fi, ok := provider.As[provider.FaultInjector](e.p)
	if !ok {
		t.Skipf("%T does not implement provider.FaultInjector", e.p)
	}
	return e, fi
}

func testCommitStepsAreListed(t *testing.T, s *suite) {
	_, fi := s.faultInjector(t)
	steps := fi.CommitSteps()
	if len(steps) == 0 {
		t.Fatal("CommitSteps is empty")
	}
	seen := map[string]bool{}
	for _, step := range steps {
		if step == "" || seen[step] {
			t.Fatalf("CommitSteps %q has an empty or repeated step", steps)
		}
		seen[step] = true
	}
}

func testFaultAtEveryStepIsAllOrNothing(t *testing.T, s *suite) {
	_, fi := s.faultInjector(t)
	for _, step := range fi.CommitSteps() {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			e, fi := s.faultInjector(t, s.shortLocks)
			checkFaultAtStep(t, e, fi, step)
		})
	}
}

// checkFaultAtStep fails a full commit at step and requires that either none
// of it is visible and its messages come back, or — for a step past the
// provider's durability point — all of it is, and its messages do not.
func checkFaultAtStep(t *testing.T, e *env, fi provider.FaultInjector, step string) {
	const entity, peer = "faulty", "fault-peer"
	e.commitTo(queueA, entity, provider.Commit{
		Events:      events(t, 1, 2),
		SetMetadata: provider.Metadata{keyColor: "red", "note": "kept"},
	})
	trigger := e.msg(queueA, entity)
	e.send(trigger)
	b := e.fetchEntity(queueA, entity)
	before := e.snapshot(entity, 0, 1)
	c := provider.Commit{
		Partition:      1,
		Events:         events(t, 1, 2, 3),
		SetMetadata:    provider.Metadata{keyColor: "blue"},
		DeleteMetadata: []string{"note"},
		Send:           []provider.Outgoing{e.msg(workA, entity), e.msg(queueB, peer)},
	}

	fi.FailNextCommitAt(step)
	err := e.p.Commit(e.ctx, b.Lock, c)
	requireErrorIs(t, "Commit failed at step "+step, err, provider.ErrInjectedFault)
	if err := e.p.AbandonEntity(e.ctx, b.Lock, 0); err != nil && !isLockLost(err) {
		t.Fatalf("AbandonEntity after the fault: %v", err)
	}

	switch part := e.partition(entity); part {
	case 0: // nothing applied
		e.requireUnchanged(entity, before)
		e.requireDepth(workA, 0)
		e.requireDepth(queueB, 0)
		again := e.fetchEntity(queueA, entity) // after the abandon, or the lock's expiry
		requireMessages(t, again.Messages, []provider.Outgoing{trigger}, 2)
	case 1: // everything applied
		e.requireHistory(entity, 0, before.history[0])
		e.requireHistory(entity, 1, c.Events)
		e.requireMetadata(entity, provider.Metadata{keyColor: "blue"})
		requireMessage(t, e.fetchWork(workA).Message, c.Send[0].Message, 1)
		requireMessages(t, e.fetchEntity(queueB, peer).Messages, c.Send[1:], 1)
		// The consumed message must not come back, not even after the
		// lock would have expired.
		ctx, cancel := context.WithTimeout(e.ctx, 2*e.cfg.lockTimeout)
		defer cancel()
		if again, err := e.p.FetchEntity(ctx, queueA); err == nil {
			t.Fatalf("a commit applied despite its fault left its messages queued: got %s again", messageIDs(again.Messages))
		} else if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("FetchEntity: %v", err)
		}
	default:
		t.Fatalf("after a fault at %q the current partition is %d, neither the old (0) nor the new (1)", step, part)
	}
}

func testInjectedFaultIsOneShot(t *testing.T, s *suite) {
	e, fi := s.faultInjector(t)
	e.send(e.msg(queueA, "once"))
	b := e.fetchEntity(queueA, "once")
	fi.FailNextCommitAt(fi.CommitSteps()[0])
	requireErrorIs(t, "armed Commit", e.p.Commit(e.ctx, b.Lock, provider.Commit{Events: events(t, 1)}), provider.ErrInjectedFault)
	again := e.requireNotAcked(b)
	evs := events(t, 1)
	e.commit(again, provider.Commit{Events: evs})
	e.requireHistory("once", 0, evs)
}
