package providertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

func expiryTests() []conformanceTest {
	return []conformanceTest{
		{"ExpiredEntityLockIsTakenByTheNextFetch", testExpiredEntityLockIsTakenByTheNextFetch},
		{"CommitAfterExpiryFailsAndChangesNothing", testCommitAfterExpiryFailsAndChangesNothing},
		{"RenewAndAbandonAfterExpiryFail", testRenewAndAbandonAfterExpiryFail},
		{"RenewedEntityLockIsKept", testRenewedEntityLockIsKept},
		{"ExpiredWorkLockIsRedelivered", testExpiredWorkLockIsRedelivered},
		{"CompleteAfterWorkLockExpiryFailsAndSendsNothing", testCompleteAfterWorkLockExpiryFails},
		{"RenewedWorkLockIsKept", testRenewedWorkLockIsKept},
	}
}

// expiredEntity fetches entity's message under a short lock, then blocks in
// a second fetch until the lock expires and the entity comes back.
func (e *env) expiredEntity(entity string) (stale, current *provider.EntityBatch) {
	e.t.Helper()
	e.send(e.msg(queueA, entity))
	stale = e.fetchEntity(queueA, entity)
	current = e.fetchEntity(queueA, entity) // returns once the first lock expired
	return stale, current
}

func testExpiredEntityLockIsTakenByTheNextFetch(t *testing.T, s *suite) {
	e := s.open(t, s.shortLocks)
	stale, current := e.expiredEntity("expiring")
	if current.Lock.Token == stale.Lock.Token {
		t.Fatalf("the fetch after expiry reused token %q", stale.Lock.Token)
	}
	if len(current.Messages) != 1 || current.Messages[0].ID != stale.Messages[0].ID {
		t.Fatalf("after expiry got messages %s, want %s", messageIDs(current.Messages), messageIDs(stale.Messages))
	}
	if got := current.Messages[0].Attempt; got != 2 {
		t.Fatalf("Attempt after one expiry = %d, want 2", got)
	}
	e.commit(current, provider.Commit{})
}

func testCommitAfterExpiryFailsAndChangesNothing(t *testing.T, s *suite) {
	e := s.open(t, s.shortLocks)
	stale, current := e.expiredEntity("late")
	before := e.snapshot("late", 0)
	c := provider.Commit{
		Events:      events(t, 1),
		SetMetadata: provider.Metadata{keyColor: "red"},
		Send:        []provider.Outgoing{e.msg(workA, "late")},
	}
	requireErrorIs(t, "Commit under an expired lock", e.p.Commit(e.ctx, stale.Lock, c), provider.ErrLockLost)
	e.requireUnchanged("late", before)
	e.requireDepth(workA, 0)
	// The current holder's lock may itself expire while this test runs on a
	// slow machine; either way its messages must still be there.
	if err := e.p.Commit(e.ctx, current.Lock, provider.Commit{Events: events(t, 1)}); err != nil && !errors.Is(err, provider.ErrLockLost) {
		t.Fatalf("Commit under the current lock: %v", err)
	}
}

func testRenewAndAbandonAfterExpiryFail(t *testing.T, s *suite) {
	e := s.open(t, s.shortLocks)
	stale, _ := e.expiredEntity("gone")
	_, err := e.p.RenewEntityLock(e.ctx, stale.Lock)
	requireErrorIs(t, "RenewEntityLock of an expired lock", err, provider.ErrLockLost)
	requireErrorIs(t, "AbandonEntity of an expired lock", e.p.AbandonEntity(e.ctx, stale.Lock, 0), provider.ErrLockLost)
}

// keepRenewing renews every fifth of the lock timeout until stop is closed,
// and reports the first error and whether any renewal moved the deadline
// backwards.
func keepRenewing(cfg config, stop <-chan struct{}, initial time.Time, renew func() (time.Time, error)) <-chan error {
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(cfg.lockTimeout / 5)
		defer tick.Stop()
		last := initial
		for {
			select {
			case <-stop:
				done <- nil
				return
			case <-tick.C:
				until, err := renew()
				if err != nil {
					done <- err
					return
				}
				if until.Before(last) {
					done <- errors.New("a renewal moved the lock deadline backwards")
					return
				}
				last = until
			}
		}
	}()
	return done
}

func testRenewedEntityLockIsKept(t *testing.T, s *suite) {
	e := s.open(t, s.shortLocks)
	e.send(e.msg(queueA, "renewed"))
	b := e.fetchEntity(queueA, "renewed")
	stop := make(chan struct{})
	renewed := keepRenewing(s.cfg, stop, b.LockedUntil, func() (time.Time, error) {
		return e.p.RenewEntityLock(e.ctx, b.Lock)
	})
	// Without renewal the lock would expire before this fetch gives up.
	ctx, cancel := context.WithDeadline(e.ctx, b.LockedUntil.Add(s.cfg.lockTimeout/2))
	got, err := e.p.FetchEntity(ctx, queueA)
	cancel()
	close(stop)
	if rerr := <-renewed; rerr != nil {
		t.Fatalf("renewing: %v", rerr)
	}
	if err == nil {
		t.Fatalf("renewed lock was lost: entity %q fetched again (Attempt %d)", got.Lock.Entity, got.Messages[0].Attempt)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("FetchEntity during renewals: %v", err)
	}
	if time.Now().Before(b.LockedUntil) {
		t.Fatal("test bug: the original lock deadline has not passed")
	}
	e.commit(b, provider.Commit{Events: events(t, 1)})
	e.requireDepth(queueA, 0)
}

func testExpiredWorkLockIsRedelivered(t *testing.T, s *suite) {
	e := s.open(t, s.shortLocks)
	m := e.msg(workA, "owner")
	e.send(m)
	stale := e.fetchWork(workA)
	current := e.fetchWork(workA) // returns once the first lock expired
	requireMessage(t, current.Message, m.Message, 2)
	if current.Lock.Token == stale.Lock.Token {
		t.Fatalf("the fetch after expiry reused token %q", stale.Lock.Token)
	}
	_, err := e.p.RenewWorkLock(e.ctx, stale.Lock)
	requireErrorIs(t, "RenewWorkLock of an expired lock", err, provider.ErrLockLost)
	requireErrorIs(t, "AbandonWork of an expired lock", e.p.AbandonWork(e.ctx, stale.Lock, 0), provider.ErrLockLost)
}

func testCompleteAfterWorkLockExpiryFails(t *testing.T, s *suite) {
	e := s.open(t, s.shortLocks)
	e.send(e.msg(workA, "owner"))
	stale := e.fetchWork(workA)
	_ = e.fetchWork(workA) // returns once the first lock expired
	reply := e.msg(queueB, "owner")
	err := e.p.CompleteWork(e.ctx, stale.Lock, []provider.Outgoing{reply})
	requireErrorIs(t, "CompleteWork under an expired lock", err, provider.ErrLockLost)
	e.requireDepth(queueB, 0)
	e.requireDepth(workA, 1)
}

func testRenewedWorkLockIsKept(t *testing.T, s *suite) {
	e := s.open(t, s.shortLocks)
	e.send(e.msg(workA, "owner"))
	w := e.fetchWork(workA)
	stop := make(chan struct{})
	renewed := keepRenewing(s.cfg, stop, w.LockedUntil, func() (time.Time, error) {
		return e.p.RenewWorkLock(e.ctx, w.Lock)
	})
	ctx, cancel := context.WithDeadline(e.ctx, w.LockedUntil.Add(s.cfg.lockTimeout/2))
	got, err := e.p.FetchWork(ctx, workA)
	cancel()
	close(stop)
	if rerr := <-renewed; rerr != nil {
		t.Fatalf("renewing: %v", rerr)
	}
	if err == nil {
		t.Fatalf("renewed work lock was lost: message %q fetched again (Attempt %d)", got.Message.ID, got.Message.Attempt)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("FetchWork during renewals: %v", err)
	}
	reply := e.msg(queueB, "owner")
	if err := e.p.CompleteWork(e.ctx, w.Lock, []provider.Outgoing{reply}); err != nil {
		t.Fatalf("CompleteWork after renewals: %v", err)
	}
	e.requireDepth(workA, 0)
	e.requireDepth(queueB, 1)
}
