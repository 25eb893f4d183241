package providertest

import (
	"sync"
	"testing"

	"github.com/reprise/reprise/provider"
)

// sendNewTests cover the optional [provider.DedupSender]; each skips on a
// provider that does not implement it.
func sendNewTests() []conformanceTest {
	return []conformanceTest{
		{"SendNewEnqueuesANewID", testSendNewEnqueuesANewID},
		{"SendNewOfAPendingIDIsNotEnqueued", testSendNewOfAPendingIDIsNotEnqueued},
		{"SendNewOfAPendingWorkIDIsNotEnqueued", testSendNewOfAPendingWorkIDIsNotEnqueued},
		{"SendNewOfAJustConsumedIDIsNotEnqueued", testSendNewOfAJustConsumedIDIsNotEnqueued},
		{"ConcurrentSendNewOfOneIDEnqueuesOnce", testConcurrentSendNewOfOneIDEnqueuesOnce},
	}
}

// dedupSender returns the provider's DedupSender or skips the test.
func (e *env) dedupSender() provider.DedupSender {
	e.t.Helper()
	d, ok := provider.As[provider.DedupSender](e.p)
	if !ok {
		e.t.Skip("provider does not implement provider.DedupSender")
	}
	return d
}

// sendNew calls SendNew and requires it to report want.
func (e *env) sendNew(d provider.DedupSender, o provider.Outgoing, want bool) {
	e.t.Helper()
	got, err := d.SendNew(e.ctx, o)
	if err != nil {
		e.t.Fatalf("SendNew(%q to %q): %v", o.Message.ID, o.Queue, err)
	}
	if got != want {
		e.t.Fatalf("SendNew(%q to %q) enqueued = %v, want %v", o.Message.ID, o.Queue, got, want)
	}
}

func testSendNewEnqueuesANewID(t *testing.T, s *suite) {
	e := s.open(t)
	d := e.dedupSender()
	m := e.msg(queueA, "fresh")
	e.sendNew(d, m, true)
	e.requireDepth(queueA, 1)
	b := e.fetchEntity(queueA, "fresh")
	requireMessages(t, b.Messages, []provider.Outgoing{m}, 1)
}

func testSendNewOfAPendingIDIsNotEnqueued(t *testing.T, s *suite) {
	e := s.open(t)
	d := e.dedupSender()
	m := e.msg(queueA, "twice")
	e.sendNew(d, m, true)
	e.sendNew(d, resend(t, m), false)
	// Also after a plain Send of the same ID.
	other := e.msg(queueA, "twice")
	e.send(other)
	e.sendNew(d, resend(t, other), false)
	e.requireDepth(queueA, 2)
	b := e.fetchEntity(queueA, "twice")
	requireMessages(t, b.Messages, []provider.Outgoing{m, other}, 1)
}

func testSendNewOfAPendingWorkIDIsNotEnqueued(t *testing.T, s *suite) {
	e := s.open(t)
	d := e.dedupSender()
	m := e.msg(workA, "twice")
	e.sendNew(d, m, true)
	e.sendNew(d, resend(t, m), false)
	e.requireDepth(workA, 1)
	requireMessage(t, e.fetchWork(workA).Message, m.Message, 1)
	e.expectNoWork(workA)
}

func testSendNewOfAJustConsumedIDIsNotEnqueued(t *testing.T, s *suite) {
	e := s.open(t)
	d := e.dedupSender()
	m := e.msg(queueA, "consumed")
	e.sendNew(d, m, true)
	e.commit(e.fetchEntity(queueA, "consumed"), provider.Commit{Events: events(t, 1)})
	e.sendNew(d, resend(t, m), false)
	e.requireDepth(queueA, 0)
	e.expectNoEntity(queueA)
}

func testConcurrentSendNewOfOneIDEnqueuesOnce(t *testing.T, s *suite) {
	e := s.open(t)
	d := e.dedupSender()
	m := e.msg(queueA, "race")
	const senders = 8
	results := make([]bool, senders)
	errs := make([]error, senders)
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			results[i], errs[i] = d.SendNew(e.ctx, resend(t, m))
		})
	}
	wg.Wait()
	enqueued := 0
	for i := range senders {
		if errs[i] != nil {
			t.Fatalf("SendNew #%d: %v", i, errs[i])
		}
		if results[i] {
			enqueued++
		}
	}
	if enqueued != 1 {
		t.Fatalf("%d of %d concurrent SendNew calls of one ID reported enqueued, want exactly 1", enqueued, senders)
	}
	e.requireDepth(queueA, 1)
}
