package providertest

import (
	"testing"

	"github.com/reprise/reprise/provider"
)

func atomicityTests() []conformanceTest {
	return []conformanceTest{
		{"DuplicateSeqCommitChangesNothing", testDuplicateSeqCommitChangesNothing},
		{"DuplicateSeqWithinCommitChangesNothing", testDuplicateSeqWithinCommitChangesNothing},
		{"StalePartitionCommitChangesNothing", testStalePartitionCommitChangesNothing},
		{"InvalidQueueInSendChangesNothing", testInvalidQueueInSendChangesNothing},
		{"EmptyMessageIDInSendChangesNothing", testEmptyMessageIDInSendChangesNothing},
		{"EmptyEntityInSendChangesNothing", testEmptyEntityInSendChangesNothing},
		{"LostLockCommitChangesNothing", testLostLockCommitChangesNothing},
		{"RejectedCommitKeepsTheLock", testRejectedCommitKeepsTheLock},
		{"CommitAppliesEveryPart", testCommitAppliesEveryPart},
		{"CommitAcksExactlyTheFetchedMessages", testCommitAcksExactlyTheFetchedMessages},
	}
}

// failedCommitFixture is an entity with committed history (partition 0, seqs
// 1 and 2) and metadata, plus a fetched batch whose lock is held.
type failedCommitFixture struct {
	entity string
	before snapshot
	batch  *provider.EntityBatch
}

func (e *env) failedCommitFixture() failedCommitFixture {
	e.t.Helper()
	const entity = "atomic-entity"
	e.commitTo(queueA, entity, provider.Commit{
		Events:      events(e.t, 1, 2),
		SetMetadata: provider.Metadata{keyColor: "red", "note": "kept"},
	})
	e.send(e.msg(queueA, entity), e.msg(queueA, entity))
	b := e.fetchEntity(queueA, entity)
	return failedCommitFixture{entity: entity, before: e.snapshot(entity, 0, 1), batch: b}
}

// fullCommit touches every part of a commit, so that a failure can be seen
// to leave each of them untouched.
func (e *env) fullCommit(entity string) provider.Commit {
	return provider.Commit{
		Partition:      1,
		Events:         events(e.t, 1, 2, 3),
		SetMetadata:    provider.Metadata{keyColor: "blue", "added": "x"},
		DeleteMetadata: []string{"note"},
		Send: []provider.Outgoing{
			e.msg(workA, entity),
			e.msg(queueB, "atomic-peer"),
		},
	}
}

// requireCommitRejected commits c under the fixture's lock, expects target,
// and checks that nothing of c became visible and nothing was acked.
func (e *env) requireCommitRejected(f failedCommitFixture, c provider.Commit, target error) {
	e.t.Helper()
	err := e.p.Commit(e.ctx, f.batch.Lock, c)
	requireErrorIs(e.t, "rejected Commit", err, target)
	e.requireUnchanged(f.entity, f.before)
	e.requireDepth(workA, 0)
	e.requireDepth(queueB, 0)
	e.requireNotAcked(f.batch)
}

func testDuplicateSeqCommitChangesNothing(t *testing.T, s *suite) {
	e := s.open(t)
	f := e.failedCommitFixture()
	c := e.fullCommit(f.entity)
	c.Partition = 0
	c.Events = events(t, 3, 2) // 2 is already stored
	e.requireCommitRejected(f, c, provider.ErrDuplicateEvent)
}

func testDuplicateSeqWithinCommitChangesNothing(t *testing.T, s *suite) {
	e := s.open(t)
	f := e.failedCommitFixture()
	c := e.fullCommit(f.entity)
	c.Events = events(t, 5, 6, 5)
	e.requireCommitRejected(f, c, provider.ErrDuplicateEvent)
}

func testStalePartitionCommitChangesNothing(t *testing.T, s *suite) {
	e := s.open(t)
	const entity = "stale-entity"
	e.commitTo(queueA, entity, provider.Commit{Partition: 3, Events: events(t, 1)})
	e.send(e.msg(queueA, entity))
	b := e.fetchEntity(queueA, entity)
	f := failedCommitFixture{entity: entity, before: e.snapshot(entity, 2, 3), batch: b}
	c := e.fullCommit(entity)
	c.Partition = 2
	e.requireCommitRejected(f, c, provider.ErrStalePartition)
}

func testInvalidQueueInSendChangesNothing(t *testing.T, s *suite) {
	e := s.open(t)
	f := e.failedCommitFixture()
	c := e.fullCommit(f.entity)
	c.Send = append(c.Send, provider.Outgoing{Queue: "no such queue!", Message: provider.Message{ID: "x", Entity: "y"}})
	e.requireCommitRejected(f, c, provider.ErrInvalidQueue)
}

func testEmptyMessageIDInSendChangesNothing(t *testing.T, s *suite) {
	e := s.open(t)
	f := e.failedCommitFixture()
	c := e.fullCommit(f.entity)
	c.Send = append(c.Send, provider.Outgoing{Queue: workB, Message: provider.Message{Entity: "y"}})
	e.requireCommitRejected(f, c, provider.ErrInvalidArgument)
	e.requireDepth(workB, 0)
}

func testEmptyEntityInSendChangesNothing(t *testing.T, s *suite) {
	e := s.open(t)
	f := e.failedCommitFixture()
	c := e.fullCommit(f.entity)
	c.Send = append(c.Send, provider.Outgoing{Queue: workB, Message: provider.Message{ID: "x"}})
	e.requireCommitRejected(f, c, provider.ErrInvalidArgument)
	e.requireDepth(workB, 0)
}

func testLostLockCommitChangesNothing(t *testing.T, s *suite) {
	e := s.open(t)
	f := e.failedCommitFixture()
	if err := e.p.AbandonEntity(e.ctx, f.batch.Lock, 0); err != nil {
		t.Fatalf("AbandonEntity: %v", err)
	}
	current := e.fetchEntity(queueA, f.entity) // takes the lock anew
	err := e.p.Commit(e.ctx, f.batch.Lock, e.fullCommit(f.entity))
	requireErrorIs(t, "Commit under a lock taken by a later fetch", err, provider.ErrLockLost)
	e.requireUnchanged(f.entity, f.before)
	e.requireDepth(workA, 0)
	e.requireDepth(queueB, 0)
	e.requireNotAcked(current)
}

func testRejectedCommitKeepsTheLock(t *testing.T, s *suite) {
	e := s.open(t)
	f := e.failedCommitFixture()
	bad := provider.Commit{Events: events(t, 2)}
	requireErrorIs(t, "Commit of a stored seq", e.p.Commit(e.ctx, f.batch.Lock, bad), provider.ErrDuplicateEvent)
	good := provider.Commit{Events: events(t, 3)}
	if err := e.p.Commit(e.ctx, f.batch.Lock, good); err != nil {
		t.Fatalf("Commit under the same lock after a rejected commit: %v (a rejected commit must keep the lock)", err)
	}
	e.requireHistory(f.entity, 0, append(f.before.history[0], good.Events...))
	e.requireDepth(queueA, 0)
}

func testCommitAppliesEveryPart(t *testing.T, s *suite) {
	e := s.open(t)
	f := e.failedCommitFixture()
	c := e.fullCommit(f.entity)
	e.commit(f.batch, c)

	if got := e.partition(f.entity); got != 1 {
		t.Fatalf("CurrentPartition = %d, want 1", got)
	}
	e.requireHistory(f.entity, 0, f.before.history[0])
	e.requireHistory(f.entity, 1, c.Events)
	e.requireMetadata(f.entity, provider.Metadata{keyColor: "blue", "added": "x"})
	e.requireDepth(queueA, 0)
	w := e.fetchWork(workA)
	requireMessage(t, w.Message, c.Send[0].Message, 1)
	b := e.fetchEntity(queueB, "atomic-peer")
	requireMessages(t, b.Messages, c.Send[1:], 1)
}

func testCommitAcksExactlyTheFetchedMessages(t *testing.T, s *suite) {
	e := s.open(t)
	sent := []provider.Outgoing{e.msg(queueA, "acked"), e.msg(queueA, "acked"), e.msg(queueA, "acked")}
	e.send(sent...)
	b := e.fetchEntity(queueA, "acked")
	requireMessages(t, b.Messages, sent, 1)
	e.requireDepth(queueA, 3)
	e.commit(b, provider.Commit{})
	e.requireDepth(queueA, 0)
	e.expectNoEntity(queueA)
}
