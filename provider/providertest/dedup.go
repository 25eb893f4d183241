package providertest

import (
	"testing"

	"github.com/reprise/reprise/provider"
)

func dedupTests() []conformanceTest {
	return []conformanceTest{
		{"PendingMessageIDIsNotEnqueuedTwice", testPendingMessageIDIsNotEnqueuedTwice},
		{"DuplicateIDWithinOneSendIsIgnored", testDuplicateIDWithinOneSendIsIgnored},
		{"SameIDInDifferentQueuesIsTwoMessages", testSameIDInDifferentQueues},
		{"PendingWorkMessageIDIsNotEnqueuedTwice", testPendingWorkMessageIDIsNotEnqueuedTwice},
		{"JustAckedMessageIDIsIgnored", testJustAckedMessageIDIsIgnored},
		{"JustCompletedWorkIDIsIgnored", testJustCompletedWorkIDIsIgnored},
		{"CommitSendOfAPendingIDIsIgnored", testCommitSendOfAPendingIDIsIgnored},
		{"LockedMessageIDIsNotEnqueuedAgain", testLockedMessageIDIsNotEnqueuedAgain},
	}
}

// resend returns m with the same ID but different data.
func resend(t *testing.T, m provider.Outgoing) provider.Outgoing {
	m.Message.Data = randomBytes(t, 24)
	return m
}

func testPendingMessageIDIsNotEnqueuedTwice(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueA, "dup")
	e.send(m)
	e.send(resend(t, m))
	e.requireDepth(queueA, 1)
	b := e.fetchEntity(queueA, "dup")
	requireMessages(t, b.Messages, []provider.Outgoing{m}, 1)
}

func testDuplicateIDWithinOneSendIsIgnored(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueA, "dup")
	other := e.msg(queueA, "dup")
	e.send(m, resend(t, m), other, resend(t, m))
	e.requireDepth(queueA, 2)
	b := e.fetchEntity(queueA, "dup")
	requireMessages(t, b.Messages, []provider.Outgoing{m, other}, 1)
}

func testSameIDInDifferentQueues(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueA, "shared")
	inB := m
	inB.Queue = queueB
	inWork := m
	inWork.Queue = workA
	e.send(m, inB, inWork)
	e.requireDepth(queueA, 1)
	e.requireDepth(queueB, 1)
	e.requireDepth(workA, 1)
}

func testPendingWorkMessageIDIsNotEnqueuedTwice(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(workA, "dup")
	e.send(m)
	e.send(resend(t, m))
	e.requireDepth(workA, 1)
	requireMessage(t, e.fetchWork(workA).Message, m.Message, 1)
	e.expectNoWork(workA)
}

func testJustAckedMessageIDIsIgnored(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueA, "acked")
	e.send(m)
	e.commit(e.fetchEntity(queueA, "acked"), provider.Commit{})
	e.send(resend(t, m))
	e.requireDepth(queueA, 0)
	e.expectNoEntity(queueA)
}

func testJustCompletedWorkIDIsIgnored(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(workA, "done")
	e.send(m)
	if err := e.p.CompleteWork(e.ctx, e.fetchWork(workA).Lock, nil); err != nil {
		t.Fatalf("CompleteWork: %v", err)
	}
	e.send(resend(t, m))
	e.requireDepth(workA, 0)
	e.expectNoWork(workA)
}

func testCommitSendOfAPendingIDIsIgnored(t *testing.T, s *suite) {
	e := s.open(t)
	pending := e.msg(workA, "x")
	e.send(pending)
	e.commitTo(queueA, "sender", provider.Commit{Send: []provider.Outgoing{resend(t, pending), e.msg(workA, "x")}})
	e.requireDepth(workA, 2)
	first := e.fetchWork(workA)
	second := e.fetchWork(workA)
	for _, w := range []*provider.WorkItem{first, second} {
		if w.Message.ID == pending.Message.ID {
			requireMessage(t, w.Message, pending.Message, 1)
		}
	}
}

func testLockedMessageIDIsNotEnqueuedAgain(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueA, "held")
	e.send(m)
	b := e.fetchEntity(queueA, "held")
	e.send(resend(t, m)) // same ID while delivered but not yet acked
	e.commit(b, provider.Commit{})
	e.requireDepth(queueA, 0)
	w := e.msg(workA, "held")
	e.send(w)
	item := e.fetchWork(workA)
	e.send(resend(t, w))
	if err := e.p.CompleteWork(e.ctx, item.Lock, nil); err != nil {
		t.Fatalf("CompleteWork: %v", err)
	}
	e.requireDepth(workA, 0)
}
