package providertest

import (
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

func cancelTests() []conformanceTest {
	return []conformanceTest{
		{"CancelRemovesAPendingDelayedMessage", testCancelRemovesAPendingDelayedMessage},
		{"CancelRemovesAPendingDelayedWorkMessage", testCancelRemovesAPendingDelayedWorkMessage},
		{"CancelOfAnUnknownMessageIsIgnored", testCancelOfAnUnknownMessageIsIgnored},
		{"CancelLeavesOtherMessagesAlone", testCancelLeavesOtherMessagesAlone},
		{"CancelRemovesAQueuedWorkMessage", testCancelRemovesAQueuedWorkMessage},
	}
}

func (e *env) delayedMsg(queue, entity string, d time.Duration) provider.Outgoing {
	m := e.msg(queue, entity)
	m.Message.NotBefore = time.Now().Add(d)
	return m
}

func ref(m provider.Outgoing) provider.MessageRef {
	return provider.MessageRef{Queue: m.Queue, ID: m.Message.ID}
}

func testCancelRemovesAPendingDelayedMessage(t *testing.T, s *suite) {
	e := s.open(t)
	delayed := e.delayedMsg(queueB, "sleeper", time.Hour)
	e.commitTo(queueA, "canceller", provider.Commit{Send: []provider.Outgoing{delayed}})
	e.requireDepth(queueB, 1)
	e.commitTo(queueA, "canceller", provider.Commit{Cancel: []provider.MessageRef{ref(delayed)}})
	e.requireDepth(queueB, 0)
}

func testCancelRemovesAPendingDelayedWorkMessage(t *testing.T, s *suite) {
	e := s.open(t)
	delayed := e.delayedMsg(workA, "canceller", time.Hour)
	e.send(delayed)
	e.requireDepth(workA, 1)
	e.commitTo(queueA, "canceller", provider.Commit{Cancel: []provider.MessageRef{ref(delayed)}})
	e.requireDepth(workA, 0)
}

func testCancelOfAnUnknownMessageIsIgnored(t *testing.T, s *suite) {
	e := s.open(t)
	evs := events(t, 1)
	e.commitTo(queueA, "canceller", provider.Commit{
		Events: evs,
		Cancel: []provider.MessageRef{{Queue: workA, ID: "never-sent"}, {Queue: queueB, ID: "never-sent"}, {Queue: "unused-queue", ID: "x"}},
	})
	e.requireHistory("canceller", 0, evs)
}

func testCancelLeavesOtherMessagesAlone(t *testing.T, s *suite) {
	e := s.open(t)
	doomed := e.delayedMsg(queueB, "sleeper", time.Hour)
	keptDelayed := e.delayedMsg(queueB, "sleeper", time.Hour)
	keptVisible := e.msg(queueB, "sleeper")
	e.send(doomed, keptDelayed, keptVisible)
	e.commitTo(queueA, "canceller", provider.Commit{Cancel: []provider.MessageRef{ref(doomed)}})
	e.requireDepth(queueB, 2)
	b := e.fetchEntity(queueB, "sleeper")
	requireMessages(t, b.Messages, []provider.Outgoing{keptVisible}, 1)
}

// testCancelRemovesAQueuedWorkMessage cancels a work message that was sent
// without a delay and never fetched: it is removed, its neighbours stay.
func testCancelRemovesAQueuedWorkMessage(t *testing.T, s *suite) {
	e := s.open(t)
	doomed := e.msg(workA, "canceller")
	kept := e.msg(workA, "canceller")
	e.commitTo(queueA, "canceller", provider.Commit{Send: []provider.Outgoing{doomed, kept}})
	e.requireDepth(workA, 2)
	e.commitTo(queueA, "canceller", provider.Commit{Cancel: []provider.MessageRef{ref(doomed)}})
	e.requireDepth(workA, 1)
	requireMessage(t, e.fetchWork(workA).Message, kept.Message, 1)
	e.expectNoWork(workA)
}
