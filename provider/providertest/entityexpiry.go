package providertest

import (
	"errors"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// Entity and partition expiry ([provider.Commit.ExpireAt],
// [provider.Commit.ExpirePartitions]). A provider sweeps due expiries on its
// own schedule, so these tests wait (up to the wait limit) for an expiry to
// happen, and prove that something did not expire by a witness: an entity
// that expired at the same time or later, observed gone first.

func entityExpiryTests() []conformanceTest {
	return []conformanceTest{
		{"ExpiredEntityIsDeleted", testExpiredEntityIsDeleted},
		{"EntityIsNotDeletedBeforeItsExpiry", testEntityIsNotDeletedBeforeItsExpiry},
		{"LaterCommitReplacesTheExpiry", testLaterCommitReplacesTheExpiry},
		{"ExpiryKeepsQueuedMessages", testExpiryKeepsQueuedMessages},
		{"LockedEntityExpiresWholeOrNotAtAll", testLockedEntityExpiresWholeOrNotAtAll},
		{"PartitionExpiryKeepsTheCurrentPartition", testPartitionExpiryKeepsTheCurrentPartition},
		{"PartitionExpiriesAccumulate", testPartitionExpiriesAccumulate},
		{"PartitionExpiryKeepsTheEntityExpiry", testPartitionExpiryKeepsTheEntityExpiry},
		{"PartitionExpiryReachingTheCommitIsRejected", testPartitionExpiryReachingTheCommitIsRejected},
	}
}

// eventually polls cond until it holds, failing the test after the wait
// limit. Expiry has no event to wait on: a provider sweeps when it will.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(e.cfg.waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not within %v", what, e.cfg.waitLimit)
		}
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("%s: %v", what, e.ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// exists reports whether entity has committed and not been deleted.
func (e *env) exists(entity string) bool {
	e.t.Helper()
	_, err := e.p.CurrentPartition(e.ctx, entity)
	if err != nil && !errors.Is(err, provider.ErrNotFound) {
		e.t.Fatalf("CurrentPartition(%q): %v", entity, err)
	}
	return err == nil
}

// awaitExpired waits until entity is gone.
func (e *env) awaitExpired(entity string) {
	e.t.Helper()
	e.eventually("entity "+entity+" expires", func() bool { return !e.exists(entity) })
}

// witness commits an entity that expires after d and waits for it to go:
// every expiry due before it was swept too.
func (e *env) witness(name string, d time.Duration) {
	e.t.Helper()
	e.commitTo(queueB, name, provider.Commit{Events: events(e.t, 1), ExpireAt: time.Now().Add(d)})
	e.awaitExpired(name)
}

func testExpiredEntityIsDeleted(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "mortal", provider.Commit{Events: events(t, 1, 2), SetMetadata: provider.Metadata{keyColor: "red", "k": "v"}})
	at := time.Now().Add(s.cfg.delay)
	e.commitTo(queueA, "mortal", provider.Commit{Partition: 1, Events: events(t, 1), SetMetadata: provider.Metadata{keyGroup: "g"}, ExpireAt: at})
	e.commitTo(queueA, "survivor", provider.Commit{SetMetadata: provider.Metadata{keyColor: "red"}})
	e.awaitExpired("mortal")
	if now := time.Now(); now.Before(at) {
		t.Fatalf("entity expired %v before its time", at.Sub(now))
	}
	e.requireNotFound("mortal")
	e.requireNoHistory("mortal", 0)
	e.requireNoHistory("mortal", 1)
	e.requireListed(keyColor, "red", "survivor")
	e.requireListed(keyGroup, "g")
	e.requireMetadata("survivor", provider.Metadata{keyColor: "red"})
}

func testEntityIsNotDeletedBeforeItsExpiry(t *testing.T, s *suite) {
	e := s.open(t)
	evs := events(t, 1)
	e.commitTo(queueA, "later", provider.Commit{Events: evs, SetMetadata: provider.Metadata{keyColor: "red"}, ExpireAt: time.Now().Add(time.Hour)})
	e.witness("sooner", s.cfg.delay)
	e.requireHistory("later", 0, evs)
	e.requireMetadata("later", provider.Metadata{keyColor: "red"})
	e.requireListed(keyColor, "red", "later")
}

func testLaterCommitReplacesTheExpiry(t *testing.T, s *suite) {
	e := s.open(t)
	first, second := events(t, 1), events(t, 2)
	at := time.Now().Add(s.cfg.delay)
	e.commitTo(queueA, "reprieved", provider.Commit{Events: first, ExpireAt: at})
	e.commitTo(queueA, "reprieved", provider.Commit{Events: second})
	e.commitTo(queueA, "moved", provider.Commit{Events: first, ExpireAt: at})
	e.commitTo(queueA, "moved", provider.Commit{Events: second, ExpireAt: time.Now().Add(time.Hour)})
	e.witness("witness", s.cfg.delay)
	e.requireHistory("reprieved", 0, append(first, second...))
	e.requireHistory("moved", 0, append(first, second...))
}

func testExpiryKeepsQueuedMessages(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "reborn", provider.Commit{Events: events(t, 1), SetMetadata: provider.Metadata{"k": "v"}, ExpireAt: time.Now().Add(s.cfg.delay)})
	later := e.delayedMsg(queueA, "reborn", 2*s.cfg.delay)
	e.send(later)
	e.awaitExpired("reborn")
	b := e.fetchEntity(queueA, "reborn")
	if b.Partition != 0 || len(b.History) != 0 || len(b.Metadata) != 0 {
		t.Fatalf("batch after expiry: partition %d, %d events, metadata %q; want a new entity", b.Partition, len(b.History), b.Metadata)
	}
	requireMessages(t, b.Messages, []provider.Outgoing{later}, 1)
	evs := events(t, 1)
	e.commit(b, provider.Commit{Events: evs})
	e.requireHistory("reborn", 0, evs)
	e.requireMetadata("reborn", provider.Metadata{})
}

// testLockedEntityExpiresWholeOrNotAtAll holds a lock across the entity's
// expiry and commits under it: either the commit is fenced off and the
// entity is new when fetched again, or the commit lands on the whole entity
// and, setting no expiry, keeps it.
func testLockedEntityExpiresWholeOrNotAtAll(t *testing.T, s *suite) {
	e := s.open(t)
	old := events(t, 1)
	at := time.Now().Add(s.cfg.delay)
	e.commitTo(queueA, "racing", provider.Commit{Events: old, SetMetadata: provider.Metadata{"old": "1"}, ExpireAt: at})
	trigger := e.msg(queueA, "racing")
	e.send(trigger)
	b := e.fetchEntity(queueA, "racing")
	e.witness("witness", s.cfg.delay)
	add := events(t, 2)
	err := e.p.Commit(e.ctx, b.Lock, provider.Commit{Events: add, SetMetadata: provider.Metadata{"new": "1"}})
	switch {
	case err == nil:
		e.witness("witness-2", s.cfg.delay)
		e.requireHistory("racing", 0, append(old, add...))
		e.requireMetadata("racing", provider.Metadata{"old": "1", "new": "1"})
	case isLockLost(err):
		e.awaitExpired("racing")
		again := e.fetchEntity(queueA, "racing")
		if len(again.History) != 0 || len(again.Metadata) != 0 {
			t.Fatalf("refetch after a fenced commit: %d events, metadata %q; want a new entity", len(again.History), again.Metadata)
		}
		if len(again.Messages) != 1 || again.Messages[0].ID != trigger.Message.ID {
			t.Fatalf("refetch after a fenced commit has messages %s, want [%s]", messageIDs(again.Messages), trigger.Message.ID)
		}
	default:
		t.Fatalf("commit under a lock held across the expiry: %v", err)
	}
}

func testPartitionExpiryKeepsTheCurrentPartition(t *testing.T, s *suite) {
	e := s.open(t)
	for part := range uint64(2) {
		e.commitTo(queueA, "eternal", provider.Commit{Partition: part, Events: events(t, 1, 2)})
	}
	current := events(t, 1, 2)
	at := time.Now().Add(s.cfg.delay)
	e.commitTo(queueA, "eternal", provider.Commit{Partition: 2, Events: current, SetMetadata: provider.Metadata{keyColor: "red"},
		ExpirePartitions: provider.PartitionExpiry{Below: 2, At: at}})
	e.eventually("partitions 0 and 1 expire", func() bool {
		return len(e.history("eternal", 0)) == 0 && len(e.history("eternal", 1)) == 0
	})
	if now := time.Now(); now.Before(at) {
		t.Fatalf("partitions expired %v before their time", at.Sub(now))
	}
	e.witness("witness", s.cfg.delay)
	if got := e.partition("eternal"); got != 2 {
		t.Fatalf("current partition after a partition expiry = %d, want 2", got)
	}
	e.requireHistory("eternal", 2, current)
	e.requireMetadata("eternal", provider.Metadata{keyColor: "red"})
	e.requireListed(keyColor, "red", "eternal")
	more := events(t, 3)
	e.commitTo(queueA, "eternal", provider.Commit{Partition: 2, Events: more})
	e.requireHistory("eternal", 2, append(current, more...))
}

func testPartitionExpiriesAccumulate(t *testing.T, s *suite) {
	e := s.open(t)
	first := events(t, 1)
	e.commitTo(queueA, "stepper", provider.Commit{Events: first})
	e.commitTo(queueA, "stepper", provider.Commit{Partition: 1, Events: events(t, 1),
		ExpirePartitions: provider.PartitionExpiry{Below: 1, At: time.Now().Add(s.cfg.delay)}})
	kept := events(t, 1)
	e.commitTo(queueA, "stepper", provider.Commit{Partition: 2, Events: kept,
		ExpirePartitions: provider.PartitionExpiry{Below: 2, At: time.Now().Add(time.Hour)}})
	e.eventually("partition 0 expires", func() bool { return len(e.history("stepper", 0)) == 0 })
	e.witness("witness", s.cfg.delay)
	if len(e.history("stepper", 1)) == 0 {
		t.Fatal("partition 1 expired before its time")
	}
	e.requireHistory("stepper", 2, kept)
}

func testPartitionExpiryReachingTheCommitIsRejected(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "guarded", provider.Commit{Events: events(t, 1)})
	e.send(e.msg(queueA, "guarded"))
	b := e.fetchEntity(queueA, "guarded")
	before := e.snapshot("guarded", 0, 1)
	err := e.p.Commit(e.ctx, b.Lock, provider.Commit{Partition: 1, Events: events(t, 1),
		ExpirePartitions: provider.PartitionExpiry{Below: 2, At: time.Now()}})
	requireErrorIs(t, "commit expiring partitions up to its own", err, provider.ErrInvalidArgument)
	e.requireUnchanged("guarded", before)
	e.commit(b, provider.Commit{Partition: 1})
}

// testPartitionExpiryKeepsTheEntityExpiry: an entity that expires after a
// partition expiry came due (an instance that continued as new, then
// finished) still expires.
func testPartitionExpiryKeepsTheEntityExpiry(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "finite", provider.Commit{Events: events(t, 1)})
	e.commitTo(queueA, "finite", provider.Commit{Partition: 1, Events: events(t, 1),
		ExpirePartitions: provider.PartitionExpiry{Below: 1, At: time.Now().Add(s.cfg.delay / 2)}})
	e.commitTo(queueA, "finite", provider.Commit{Partition: 1, Events: events(t, 2), ExpireAt: time.Now().Add(s.cfg.delay)})
	e.awaitExpired("finite")
}
