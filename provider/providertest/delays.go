package providertest

import (
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

func delayTests() []conformanceTest {
	return []conformanceTest{
		{"DelayedMessageIsNotFetchedBeforeNotBefore", testDelayedMessageIsNotFetchedEarly},
		{"DelayedWorkMessageIsNotFetchedBeforeNotBefore", testDelayedWorkMessageIsNotFetchedEarly},
		{"PastNotBeforeIsVisibleAtOnce", testPastNotBeforeIsVisibleAtOnce},
		{"DelayedMessageDoesNotHoldBackVisibleOnes", testDelayedMessageDoesNotHoldBackVisibleOnes},
		{"AbandonWithDelayHidesMessagesUntilTheDelay", testAbandonWithDelayHidesMessages},
		{"AbandonWorkWithDelayHidesTheMessageUntilTheDelay", testAbandonWorkWithDelayHidesTheMessage},
		{"AttemptStartsAtOneAndCountsEveryAbandon", testAttemptCountsEveryAbandon},
		{"WorkAttemptStartsAtOneAndCountsEveryAbandon", testWorkAttemptCountsEveryAbandon},
	}
}

func testDelayedMessageIsNotFetchedEarly(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueA, "later")
	m.Message.NotBefore = time.Now().Add(s.cfg.delay)
	e.send(m)
	b := e.fetchNotBefore(queueA, m.Message.NotBefore)
	requireMessages(t, b.Messages, []provider.Outgoing{m}, 1)
}

func testDelayedWorkMessageIsNotFetchedEarly(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(workA, "later")
	m.Message.NotBefore = time.Now().Add(s.cfg.delay)
	e.send(m)
	w := e.fetchWorkNotBefore(workA, m.Message.NotBefore)
	requireMessage(t, w.Message, m.Message, 1)
}

func testPastNotBeforeIsVisibleAtOnce(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueA, "overdue")
	m.Message.NotBefore = time.Now().Add(-time.Hour)
	w := e.msg(workA, "overdue")
	w.Message.NotBefore = time.Now().Add(-time.Hour)
	e.send(m, w)
	b := e.fetchEntity(queueA, "overdue")
	requireMessages(t, b.Messages, []provider.Outgoing{m}, 1)
	requireMessage(t, e.fetchWork(workA).Message, w.Message, 1)
}

func testDelayedMessageDoesNotHoldBackVisibleOnes(t *testing.T, s *suite) {
	e := s.open(t)
	delayed := e.msg(queueA, "mixed")
	delayed.Message.NotBefore = time.Now().Add(time.Hour)
	visible := e.msg(queueA, "mixed")
	e.send(delayed, visible)
	b := e.fetchEntity(queueA, "mixed")
	requireMessages(t, b.Messages, []provider.Outgoing{visible}, 1)
	e.commit(b, provider.Commit{})
	e.requireDepth(queueA, 1) // the delayed message is still stored
	e.expectNoEntity(queueA)
}

func testAbandonWithDelayHidesMessages(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueA, "backoff")
	e.send(m)
	b := e.fetchEntity(queueA, "backoff")
	visibleFrom := time.Now().Add(s.cfg.delay)
	if err := e.p.AbandonEntity(e.ctx, b.Lock, s.cfg.delay); err != nil {
		t.Fatalf("AbandonEntity: %v", err)
	}
	again := e.fetchNotBefore(queueA, visibleFrom)
	requireMessages(t, again.Messages, []provider.Outgoing{m}, 2)
}

func testAbandonWorkWithDelayHidesTheMessage(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(workA, "backoff")
	e.send(m)
	w := e.fetchWork(workA)
	visibleFrom := time.Now().Add(s.cfg.delay)
	if err := e.p.AbandonWork(e.ctx, w.Lock, s.cfg.delay); err != nil {
		t.Fatalf("AbandonWork: %v", err)
	}
	again := e.fetchWorkNotBefore(workA, visibleFrom)
	requireMessage(t, again.Message, m.Message, 2)
}

func testAttemptCountsEveryAbandon(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueA, "retried")
	e.send(m)
	for attempt := 1; attempt <= 4; attempt++ {
		b := e.fetchEntity(queueA, "retried")
		requireMessages(t, b.Messages, []provider.Outgoing{m}, attempt)
		if err := e.p.AbandonEntity(e.ctx, b.Lock, 0); err != nil {
			t.Fatalf("AbandonEntity: %v", err)
		}
	}
}

func testWorkAttemptCountsEveryAbandon(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(workA, "retried")
	e.send(m)
	for attempt := 1; attempt <= 4; attempt++ {
		w := e.fetchWork(workA)
		requireMessage(t, w.Message, m.Message, attempt)
		if err := e.p.AbandonWork(e.ctx, w.Lock, 0); err != nil {
			t.Fatalf("AbandonWork: %v", err)
		}
	}
}
