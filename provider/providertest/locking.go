package providertest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

func lockingTests() []conformanceTest {
	return []conformanceTest{
		{"BatchHoldsAllVisibleMessagesInArrivalOrder", testBatchHoldsAllVisibleMessagesInArrivalOrder},
		{"LockedEntityIsNotFetchedAgain", testLockedEntityIsNotFetchedAgain},
		{"ConcurrentFetchersNeverHoldTheSameEntity", testConcurrentFetchersNeverHoldTheSameEntity},
		{"OtherEntitiesStayFetchableWhileOneIsLocked", testOtherEntitiesStayFetchableWhileOneIsLocked},
		{"MessagesArrivingDuringALockAreNotAckedByItsCommit", testMessagesArrivingDuringALockAreNotAcked},
		{"CommitReleasesTheLock", testCommitReleasesTheLock},
		{"ForgedTokenIsRejectedWithErrLockLost", testForgedTokenIsRejected},
		{"LockIsSpentByItsCommit", testLockIsSpentByItsCommit},
		{"NewEntityBatchIsEmpty", testNewEntityBatchIsEmpty},
		{"BatchCarriesCurrentPartitionHistoryAndMetadata", testBatchCarriesStoredState},
		{"EntityQueuesDoNotShareMessages", testEntityQueuesDoNotShareMessages},
		{"LockDeadlineLiesAhead", testLockDeadlineLiesAhead},
		{"AbandonReleasesTheLockAtOnce", testAbandonReleasesTheLockAtOnce},
	}
}

func testBatchHoldsAllVisibleMessagesInArrivalOrder(t *testing.T, s *suite) {
	e := s.open(t)
	var sent []provider.Outgoing
	for range 4 {
		m := e.msg(queueA, "ordered")
		e.send(m)
		sent = append(sent, m)
	}
	more := []provider.Outgoing{e.msg(queueA, "ordered"), e.msg(queueA, "ordered"), e.msg(queueA, "ordered")}
	e.send(more...)
	sent = append(sent, more...)
	b := e.fetchEntity(queueA, "ordered")
	requireMessages(t, b.Messages, sent, 1)
}

func testLockedEntityIsNotFetchedAgain(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(queueA, "locked"))
	b := e.fetchEntity(queueA, "locked")
	e.send(e.msg(queueA, "locked"))
	e.expectNoEntity(queueA)
	e.commit(b, provider.Commit{})
}

func testConcurrentFetchersNeverHoldTheSameEntity(t *testing.T, s *suite) {
	e := s.open(t)
	const n = 8
	for i := range n {
		entity := fmt.Sprintf("concurrent-%d", i)
		e.send(e.msg(queueA, entity), e.msg(queueA, entity))
	}
	batches := make([]*provider.EntityBatch, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := e.waitCtx()
			defer cancel()
			batches[i], errs[i] = e.p.FetchEntity(ctx, queueA)
		})
	}
	wg.Wait()
	var entities []string
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("fetcher %d: %v", i, errs[i])
		}
		if len(batches[i].Messages) != 2 {
			t.Errorf("fetcher %d got entity %q with %d messages, want 2", i, batches[i].Lock.Entity, len(batches[i].Messages))
		}
		entities = append(entities, batches[i].Lock.Entity)
	}
	slices.Sort(entities)
	if c := slices.Compact(slices.Clone(entities)); len(c) != n {
		t.Fatalf("%d fetchers held entities %q: some entity was held twice", n, entities)
	}
	e.expectNoEntity(queueA)
	for _, b := range batches {
		e.commit(b, provider.Commit{})
	}
	e.requireDepth(queueA, 0)
}

func testOtherEntitiesStayFetchableWhileOneIsLocked(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(queueA, "first"))
	first := e.fetchEntity(queueA, "first")
	e.send(e.msg(queueA, "first"), e.msg(queueA, "second"))
	second := e.fetchEntity(queueA, "second")
	e.commit(second, provider.Commit{})
	e.commit(first, provider.Commit{})
}

func testMessagesArrivingDuringALockAreNotAcked(t *testing.T, s *suite) {
	e := s.open(t)
	early := e.msg(queueA, "busy")
	e.send(early)
	b := e.fetchEntity(queueA, "busy")
	late := []provider.Outgoing{e.msg(queueA, "busy"), e.msg(queueA, "busy")}
	e.send(late...)
	e.commit(b, provider.Commit{Events: events(t, 1)})
	next := e.fetchEntity(queueA, "busy")
	requireMessages(t, next.Messages, late, 1)
	requireEvents(t, "history in the next batch", next.History, e.history("busy", 0))
}

func testCommitReleasesTheLock(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "released", provider.Commit{})
	m := e.msg(queueA, "released")
	e.send(m)
	b := e.fetchEntity(queueA, "released")
	requireMessages(t, b.Messages, []provider.Outgoing{m}, 1)
}

func testForgedTokenIsRejected(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(queueA, "forged"))
	b := e.fetchEntity(queueA, "forged")
	before := e.snapshot("forged", 0)
	forged := b.Lock
	forged.Token += "-forged"
	requireErrorIs(t, "Commit with a forged token", e.p.Commit(e.ctx, forged, provider.Commit{Events: events(t, 1)}), provider.ErrLockLost)
	_, err := e.p.RenewEntityLock(e.ctx, forged)
	requireErrorIs(t, "RenewEntityLock with a forged token", err, provider.ErrLockLost)
	requireErrorIs(t, "AbandonEntity with a forged token", e.p.AbandonEntity(e.ctx, forged, 0), provider.ErrLockLost)
	e.requireUnchanged("forged", before)
	e.commit(b, provider.Commit{}) // the real lock is untouched
}

func testLockIsSpentByItsCommit(t *testing.T, s *suite) {
	e := s.open(t)
	b := e.commitTo(queueA, "spent", provider.Commit{Events: events(t, 1)})
	requireErrorIs(t, "second Commit under one lock", e.p.Commit(e.ctx, b.Lock, provider.Commit{Events: events(t, 2)}), provider.ErrLockLost)
	_, err := e.p.RenewEntityLock(e.ctx, b.Lock)
	requireErrorIs(t, "RenewEntityLock after Commit", err, provider.ErrLockLost)
	requireErrorIs(t, "AbandonEntity after Commit", e.p.AbandonEntity(e.ctx, b.Lock, 0), provider.ErrLockLost)
	if h := e.history("spent", 0); len(h) != 1 {
		t.Fatalf("history has seqs %v, want [1]", seqs(h))
	}
}

func testNewEntityBatchIsEmpty(t *testing.T, s *suite) {
	e := s.open(t)
	e.requireNotFound("fresh")
	e.send(e.msg(queueA, "fresh"))
	b := e.fetchEntity(queueA, "fresh")
	if b.Partition != 0 || len(b.History) != 0 || len(b.Metadata) != 0 {
		t.Fatalf("new entity batch: partition %d, %d events, metadata %q; want 0, none, none", b.Partition, len(b.History), b.Metadata)
	}
	e.requireNotFound("fresh") // fetching is not committing
}

func testBatchCarriesStoredState(t *testing.T, s *suite) {
	e := s.open(t)
	first := events(t, 1, 2)
	e.commitTo(queueA, "stateful", provider.Commit{Events: first, SetMetadata: provider.Metadata{keyColor: "red"}})
	current := events(t, 1, 2, 3)
	e.commitTo(queueA, "stateful", provider.Commit{Partition: 4, Events: current, SetMetadata: provider.Metadata{"k": "v"}})
	e.send(e.msg(queueA, "stateful"))
	b := e.fetchEntity(queueA, "stateful")
	if b.Partition != 4 {
		t.Fatalf("batch partition = %d, want 4", b.Partition)
	}
	requireEvents(t, "batch history", b.History, current)
	requireMetadataEqual(t, "batch metadata", b.Metadata, provider.Metadata{keyColor: "red", "k": "v"})
}

func testEntityQueuesDoNotShareMessages(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueB, "elsewhere")
	e.send(m)
	e.expectNoEntity(queueA)
	b := e.fetchEntity(queueB, "elsewhere")
	requireMessages(t, b.Messages, []provider.Outgoing{m}, 1)
	if b.Lock.Queue != queueB {
		t.Fatalf("lock queue = %q, want %q", b.Lock.Queue, queueB)
	}
}

func testLockDeadlineLiesAhead(t *testing.T, s *suite) {
	e := s.open(t)
	start := time.Now()
	e.send(e.msg(queueA, "deadline"), e.msg(workA, "deadline"))
	b := e.fetchEntity(queueA, "deadline")
	if !b.LockedUntil.After(start) {
		t.Fatalf("entity LockedUntil %v is not after the fetch started (%v)", b.LockedUntil, start)
	}
	w := e.fetchWork(workA)
	if !w.LockedUntil.After(start) {
		t.Fatalf("work LockedUntil %v is not after the fetch started (%v)", w.LockedUntil, start)
	}
}

func testAbandonReleasesTheLockAtOnce(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueA, "abandoned")
	e.send(m)
	b := e.fetchEntity(queueA, "abandoned")
	if err := e.p.AbandonEntity(e.ctx, b.Lock, 0); err != nil {
		t.Fatalf("AbandonEntity: %v", err)
	}
	again := e.fetchEntity(queueA, "abandoned")
	requireMessages(t, again.Messages, []provider.Outgoing{m}, 2)
	if again.Lock.Token == b.Lock.Token {
		t.Fatalf("refetch reused lock token %q", b.Lock.Token)
	}
}
