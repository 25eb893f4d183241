package worker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestKeepLockedRenewsUntilStoppedAndStopCancelsARenewalInFlight lets a
// lock be renewed three times, then blocks the fourth renewal until its
// context ends: stop must cancel it, wait for it, and not report it lost.
func TestKeepLockedRenewsUntilStoppedAndStopCancelsARenewalInFlight(t *testing.T) {
	calls := make(chan int, 8)
	var n, running, lostCalls atomic.Int32
	blocked := make(chan struct{})
	stop := keepLocked(t.Context(), time.Now(), func(ctx context.Context) (time.Time, error) {
		running.Add(1)
		defer running.Add(-1)
		i := int(n.Add(1))
		calls <- i
		if i == 4 {
			close(blocked)
			<-ctx.Done()
			return time.Time{}, ctx.Err()
		}
		return time.Now().Add(20 * time.Millisecond), nil
	}, func(error) { lostCalls.Add(1) })
	for want := 1; want <= 4; want++ {
		if got := <-calls; got != want {
			t.Fatalf("renewal %d reported as %d", want, got)
		}
	}
	<-blocked
	stop()
	if r := running.Load(); r != 0 {
		t.Fatalf("%d renewal(s) still running after stop returned", r)
	}
	if l := lostCalls.Load(); l != 0 {
		t.Fatalf("lost called %d time(s) for a renewal that stop cancelled", l)
	}
	stop() // idempotent enough to call twice
}

// TestKeepLockedReportsAFailedRenewalOnce fails the second renewal: lost is
// told that error once, and no renewal follows it.
func TestKeepLockedReportsAFailedRenewalOnce(t *testing.T) {
	errGone := errors.New("lock gone")
	var n atomic.Int32
	lost := make(chan error, 2)
	stop := keepLocked(t.Context(), time.Now(), func(context.Context) (time.Time, error) {
		if n.Add(1) == 2 {
			return time.Time{}, errGone
		}
		return time.Now(), nil
	}, func(err error) { lost <- err })
	if err := <-lost; !errors.Is(err, errGone) {
		t.Fatalf("lost(%v), want %v", err, errGone)
	}
	stop()
	if got := n.Load(); got != 2 {
		t.Fatalf("%d renewals, want 2 (none after the failure)", got)
	}
	if len(lost) != 0 {
		t.Fatalf("lost called again: %v", <-lost)
	}
}
