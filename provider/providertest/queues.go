package providertest

import (
	"strings"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

func queueTests() []conformanceTest {
	return []conformanceTest{
		{"QueueDepthCountsVisibleDelayedAndLocked", testQueueDepthCountsEverything},
		{"QueueDepthOfAnUnusedQueueIsZero", testQueueDepthOfAnUnusedQueueIsZero},
		{"InvalidQueueNamesAreRejected", testInvalidQueueNamesAreRejected},
		{"FetchWorkOnAnEntityQueueIsRejected", testFetchWorkOnAnEntityQueueIsRejected},
		{"FetchEntityOnAWorkQueueIsRejected", testFetchEntityOnAWorkQueueIsRejected},
		{"InvalidEntitiesAreRejected", testInvalidEntitiesAreRejected},
		{"LongestQueueNameIsAccepted", testLongestQueueNameIsAccepted},
		{"SendIsAllOrNothing", testSendIsAllOrNothing},
		{"EmptySendIsANoOp", testEmptySendIsANoOp},
	}
}

func testQueueDepthCountsEverything(t *testing.T, s *suite) {
	e := s.open(t)
	locked := e.msg(queueA, "locker")
	e.send(locked)
	b := e.fetchEntity(queueA, "locker")
	e.send(e.msg(queueA, "visible"), e.delayedMsg(queueA, "delayed", time.Hour), e.msg(queueA, "locker"))
	e.requireDepth(queueA, 4)
	e.send(e.msg(workA, "w"), e.msg(workA, "w"), e.delayedMsg(workA, "w", time.Hour))
	w := e.fetchWork(workA)
	e.requireDepth(workA, 3)
	e.commit(b, provider.Commit{})
	e.requireDepth(queueA, 3)
	if err := e.p.CompleteWork(e.ctx, w.Lock, nil); err != nil {
		t.Fatalf("CompleteWork: %v", err)
	}
	e.requireDepth(workA, 2)
	e.requireDepth(queueB, 0)
}

func testQueueDepthOfAnUnusedQueueIsZero(t *testing.T, s *suite) {
	e := s.open(t)
	e.requireDepth("never-used", 0)
	e.requireDepth(queueB, 0)
}

func testInvalidQueueNamesAreRejected(t *testing.T, s *suite) {
	e := s.open(t)
	bad := []string{"", "has space", "dot.ted", "wild*", "wild>", "slash/ed", "ünï", "nul\x00", strings.Repeat("q", provider.MaxQueueNameLen+1)}
	for _, q := range bad {
		err := e.p.Send(e.ctx, provider.Outgoing{Queue: q, Message: provider.Message{ID: "x", Entity: "y"}})
		requireErrorIs(t, "Send to queue "+quote(q), err, provider.ErrInvalidQueue)
		_, err = e.p.FetchEntity(e.ctx, q)
		requireErrorIs(t, "FetchEntity of queue "+quote(q), err, provider.ErrInvalidQueue)
		_, err = e.p.FetchWork(e.ctx, q)
		requireErrorIs(t, "FetchWork of queue "+quote(q), err, provider.ErrInvalidQueue)
		_, err = e.p.QueueDepth(e.ctx, q)
		requireErrorIs(t, "QueueDepth of queue "+quote(q), err, provider.ErrInvalidQueue)
	}
}

func quote(s string) string { return "\"" + strings.ToValidUTF8(s, "?") + "\"" }

func testFetchWorkOnAnEntityQueueIsRejected(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(queueA, "x"))
	_, err := e.p.FetchWork(e.ctx, queueA)
	requireErrorIs(t, "FetchWork of an entity-locked queue", err, provider.ErrInvalidQueue)
	e.requireDepth(queueA, 1)
}

func testFetchEntityOnAWorkQueueIsRejected(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(workA, "x"))
	_, err := e.p.FetchEntity(e.ctx, workA)
	requireErrorIs(t, "FetchEntity of a work queue", err, provider.ErrInvalidQueue)
	e.requireDepth(workA, 1)
}

func testInvalidEntitiesAreRejected(t *testing.T, s *suite) {
	e := s.open(t)
	cases := []struct{ label, entity string }{
		{"an empty entity", ""},
		{"an entity longer than MaxEntityLen", strings.Repeat("e", provider.MaxEntityLen+1)},
	}
	for _, c := range cases {
		what := func(op string) string { return op + " of " + c.label }
		err := e.p.Send(e.ctx, provider.Outgoing{Queue: queueA, Message: provider.Message{ID: "x", Entity: c.entity}})
		requireErrorIs(t, what("Send"), err, provider.ErrInvalidArgument)
		_, err = e.p.History(e.ctx, c.entity, 0)
		requireErrorIs(t, what("History"), err, provider.ErrInvalidArgument)
		_, err = e.p.CurrentPartition(e.ctx, c.entity)
		requireErrorIs(t, what("CurrentPartition"), err, provider.ErrInvalidArgument)
		_, err = e.p.Metadata(e.ctx, c.entity)
		requireErrorIs(t, what("Metadata"), err, provider.ErrInvalidArgument)
		requireErrorIs(t, what("DeleteEntity"), e.p.DeleteEntity(e.ctx, c.entity), provider.ErrInvalidArgument)
	}
	e.requireDepth(queueA, 0)
}

func testLongestQueueNameIsAccepted(t *testing.T, s *suite) {
	e := s.open(t)
	q := strings.Repeat("Q", provider.MaxQueueNameLen-2) + "_-"
	m := e.msg(q, "owner")
	e.send(m)
	e.requireDepth(q, 1)
	requireMessage(t, e.fetchWork(q).Message, m.Message, 1)
}

func testSendIsAllOrNothing(t *testing.T, s *suite) {
	e := s.open(t)
	good := []provider.Outgoing{e.msg(queueA, "x"), e.msg(workA, "x")}
	bad := provider.Outgoing{Queue: workB, Message: provider.Message{ID: "", Entity: "x"}}
	err := e.p.Send(e.ctx, good[0], good[1], bad)
	requireErrorIs(t, "Send with one invalid message", err, provider.ErrInvalidArgument)
	e.requireDepth(queueA, 0)
	e.requireDepth(workA, 0)
	e.requireDepth(workB, 0)
}

func testEmptySendIsANoOp(t *testing.T, s *suite) {
	e := s.open(t)
	e.send()
	e.requireDepth(queueA, 0)
	e.expectNoEntity(queueA)
}
