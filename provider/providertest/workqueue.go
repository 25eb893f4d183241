package providertest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/reprise/reprise/provider"
)

func workQueueTests() []conformanceTest {
	return []conformanceTest{
		{"FetchWorkLocksTheMessage", testFetchWorkLocksTheMessage},
		{"CompleteAcksAndSendsRepliesAtomically", testCompleteAcksAndSendsReplies},
		{"CompleteAfterLockTakenFailsAndSendsNothing", testCompleteAfterLockTakenFails},
		{"CompetingConsumersGetDistinctMessages", testCompetingConsumersGetDistinctMessages},
		{"AbandonedWorkIsRedeliveredWithTheNextAttempt", testAbandonedWorkIsRedelivered},
		{"WorkItemCarriesTheEnvelope", testWorkItemCarriesTheEnvelope},
		{"ExceededDeliveriesAreDeadLetteredToTheDefaultQueue", testDeadLetteredToTheDefaultQueue},
		{"ExceededDeliveriesAreDeadLetteredToTheDeclaredQueue", testDeadLetteredToTheDeclaredQueue},
		{"ExpiredLocksCountTowardsMaxDeliveries", testExpiredLocksCountTowardsMaxDeliveries},
		{"UnboundedDeliveriesNeverDeadLetter", testUnboundedDeliveriesNeverDeadLetter},
		{"CompleteWithAnInvalidReplyChangesNothing", testCompleteWithAnInvalidReplyChangesNothing},
		{"ForgedWorkTokenIsRejectedWithErrLockLost", testForgedWorkTokenIsRejected},
		{"WorkQueuesAreIndependent", testWorkQueuesAreIndependent},
	}
}

func testFetchWorkLocksTheMessage(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(workA, "owner"))
	w := e.fetchWork(workA)
	e.expectNoWork(workA)
	e.requireDepth(workA, 1)
	if err := e.p.CompleteWork(e.ctx, w.Lock, nil); err != nil {
		t.Fatalf("CompleteWork: %v", err)
	}
}

func testCompleteAcksAndSendsReplies(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(workA, "owner"))
	w := e.fetchWork(workA)
	replies := []provider.Outgoing{e.msg(queueA, "owner"), e.msg(workB, "owner")}
	if err := e.p.CompleteWork(e.ctx, w.Lock, replies); err != nil {
		t.Fatalf("CompleteWork: %v", err)
	}
	e.requireDepth(workA, 0)
	e.expectNoWork(workA)
	b := e.fetchEntity(queueA, "owner")
	requireMessages(t, b.Messages, replies[:1], 1)
	requireMessage(t, e.fetchWork(workB).Message, replies[1].Message, 1)
	requireErrorIs(t, "CompleteWork twice", e.p.CompleteWork(e.ctx, w.Lock, nil), provider.ErrLockLost)
}

func testCompleteAfterLockTakenFails(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(workA, "owner"))
	stale := e.fetchWork(workA)
	if err := e.p.AbandonWork(e.ctx, stale.Lock, 0); err != nil {
		t.Fatalf("AbandonWork: %v", err)
	}
	current := e.fetchWork(workA)
	err := e.p.CompleteWork(e.ctx, stale.Lock, []provider.Outgoing{e.msg(queueA, "owner")})
	requireErrorIs(t, "CompleteWork under a lock taken by a later fetch", err, provider.ErrLockLost)
	e.requireDepth(queueA, 0)
	e.requireDepth(workA, 1)
	if err := e.p.CompleteWork(e.ctx, current.Lock, nil); err != nil {
		t.Fatalf("CompleteWork under the current lock: %v", err)
	}
}

func testCompetingConsumersGetDistinctMessages(t *testing.T, s *suite) {
	e := s.open(t)
	const consumers, each = 4, 5
	sent := map[string]bool{}
	for i := range consumers * each {
		m := e.msg(workA, fmt.Sprintf("owner-%d", i))
		e.send(m)
		sent[m.Message.ID] = true
	}
	var mu sync.Mutex
	got := map[string]int{}
	var held []*provider.WorkItem
	var wg sync.WaitGroup
	errs := make(chan error, consumers)
	for range consumers {
		wg.Go(func() {
			ctx, cancel := e.waitCtx()
			defer cancel()
			for range each { // hold every lock, so no message can come back
				w, err := e.p.FetchWork(ctx, workA)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got[w.Message.ID]++
				held = append(held, w)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("consumer: %v", err)
	}
	for id, n := range got {
		if n != 1 || !sent[id] {
			t.Fatalf("message %q delivered %d times (sent: %v)", id, n, sent[id])
		}
	}
	if len(got) != len(sent) {
		t.Fatalf("%d distinct messages delivered, want %d", len(got), len(sent))
	}
	for _, w := range held {
		if err := e.p.CompleteWork(e.ctx, w.Lock, nil); err != nil {
			t.Fatalf("CompleteWork: %v", err)
		}
	}
	e.requireDepth(workA, 0)
}

func testAbandonedWorkIsRedelivered(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(workA, "owner")
	e.send(m)
	w := e.fetchWork(workA)
	if err := e.p.AbandonWork(e.ctx, w.Lock, 0); err != nil {
		t.Fatalf("AbandonWork: %v", err)
	}
	again := e.fetchWork(workA)
	requireMessage(t, again.Message, m.Message, 2)
	if again.Lock.Token == w.Lock.Token {
		t.Fatalf("redelivery reused token %q", w.Lock.Token)
	}
}

func testWorkItemCarriesTheEnvelope(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(workA, "owner/with.odd*chars")
	e.send(m)
	w := e.fetchWork(workA)
	requireMessage(t, w.Message, m.Message, 1)
	if w.Lock.Queue != workA || w.Lock.ID != m.Message.ID || w.Lock.Token == "" {
		t.Fatalf("work lock = %+v, want queue %q, ID %q and a token", w.Lock, workA, m.Message.ID)
	}
	if w.Message.DeadLettered || w.Message.DeadLetterQueue != "" {
		t.Fatalf("a fresh work message is marked dead-lettered: %+v", w.Message)
	}
}

// requireDeadLettered fetches the dead-letter entity batch for m.
func (e *env) requireDeadLettered(dlq, from string, m provider.Outgoing) {
	e.t.Helper()
	b := e.fetchEntity(dlq, m.Message.Entity)
	if len(b.Messages) != 1 {
		e.t.Fatalf("dead-letter batch has %s, want only %q", messageIDs(b.Messages), m.Message.ID)
	}
	got := b.Messages[0]
	requireMessage(e.t, got, m.Message, 1)
	if !got.DeadLettered || got.DeadLetterQueue != from {
		e.t.Fatalf("dead-lettered message has DeadLettered %v, DeadLetterQueue %q; want true, %q",
			got.DeadLettered, got.DeadLetterQueue, from)
	}
	// The original goes after its copy is stored (and, for a provider
	// that syncs, durable); when its lock expired, that happens in the
	// background.
	e.eventually("the dead-lettered original leaves "+from, func() bool { return e.depth(from) == 0 })
	e.expectNoWork(from)
}

func (e *env) abandonWorkTimes(queue string, n int) {
	e.t.Helper()
	for i := range n {
		w := e.fetchWork(queue)
		if w.Message.Attempt != i+1 {
			e.t.Fatalf("delivery %d has Attempt %d", i+1, w.Message.Attempt)
		}
		if err := e.p.AbandonWork(e.ctx, w.Lock, 0); err != nil {
			e.t.Fatalf("AbandonWork: %v", err)
		}
	}
}

func testDeadLetteredToTheDefaultQueue(t *testing.T, s *suite) {
	e := s.open(t, func(topo *provider.Topology) { topo.MaxDeliveries = 2 })
	m := e.msg(workA, "poisoned")
	e.send(m)
	e.abandonWorkTimes(workA, 2)
	e.requireDeadLettered(queueA, workA, m) // the first entity queue
}

func testDeadLetteredToTheDeclaredQueue(t *testing.T, s *suite) {
	e := s.open(t, func(topo *provider.Topology) {
		topo.MaxDeliveries = 3
		topo.DeadLetterQueue = queueB
	})
	m := e.msg(workB, "poisoned")
	e.send(m)
	e.abandonWorkTimes(workB, 3)
	e.requireDeadLettered(queueB, workB, m)
	e.requireDepth(queueA, 0)
}

func testExpiredLocksCountTowardsMaxDeliveries(t *testing.T, s *suite) {
	e := s.open(t, s.shortLocks, func(topo *provider.Topology) { topo.MaxDeliveries = 1 })
	m := e.msg(workA, "stuck")
	e.send(m)
	w := e.fetchWork(workA)
	// Blocks until the lock expires and the message is dead-lettered.
	e.requireDeadLettered(queueA, workA, m)
	requireErrorIs(t, "CompleteWork of a dead-lettered message", e.p.CompleteWork(e.ctx, w.Lock, nil), provider.ErrLockLost)
}

func testUnboundedDeliveriesNeverDeadLetter(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(workA, "patient")
	e.send(m)
	e.abandonWorkTimes(workA, 6)
	requireMessage(t, e.fetchWork(workA).Message, m.Message, 7)
	e.requireDepth(queueA, 0)
}

func testCompleteWithAnInvalidReplyChangesNothing(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(workA, "owner"))
	w := e.fetchWork(workA)
	replies := []provider.Outgoing{e.msg(queueA, "owner"), {Queue: "bad queue", Message: provider.Message{ID: "x", Entity: "y"}}}
	requireErrorIs(t, "CompleteWork with an invalid reply", e.p.CompleteWork(e.ctx, w.Lock, replies), provider.ErrInvalidQueue)
	e.requireDepth(queueA, 0)
	e.requireDepth(workA, 1)
	if err := e.p.AbandonWork(e.ctx, w.Lock, 0); err != nil && !isLockLost(err) {
		t.Fatalf("AbandonWork after a rejected completion: %v", err)
	}
	if again := e.fetchWork(workA); again.Message.Attempt != 2 {
		t.Fatalf("refetch after a rejected completion has Attempt %d, want 2", again.Message.Attempt)
	}
}

func testForgedWorkTokenIsRejected(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(workA, "owner"))
	w := e.fetchWork(workA)
	forged := w.Lock
	forged.Token += "-forged"
	requireErrorIs(t, "CompleteWork with a forged token", e.p.CompleteWork(e.ctx, forged, []provider.Outgoing{e.msg(queueA, "owner")}), provider.ErrLockLost)
	_, err := e.p.RenewWorkLock(e.ctx, forged)
	requireErrorIs(t, "RenewWorkLock with a forged token", err, provider.ErrLockLost)
	requireErrorIs(t, "AbandonWork with a forged token", e.p.AbandonWork(e.ctx, forged, 0), provider.ErrLockLost)
	e.requireDepth(queueA, 0)
	if err := e.p.CompleteWork(e.ctx, w.Lock, nil); err != nil {
		t.Fatalf("CompleteWork under the real lock: %v", err)
	}
}

func testWorkQueuesAreIndependent(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(workB, "owner")
	e.send(m)
	e.expectNoWork(workA)
	requireMessage(t, e.fetchWork(workB).Message, m.Message, 1)
}
