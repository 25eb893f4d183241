package worker

import (
	"context"
	"sync"
	"time"
)

// minRenewWait bounds how often a lock is renewed when its remaining time is
// short.
const minRenewWait = 10 * time.Millisecond

// keepLocked renews a lock at half its remaining time until the returned
// stop function is called; lost is called once if renewal fails (not when
// it fails because stop or ctx ended it).
//
// It costs no goroutine while waiting: a time.AfterFunc timer runs each
// renewal and re-arms itself with the new expiry. stop cancels a renewal in
// flight and waits for it, so neither renew nor lost runs after stop
// returns.
func keepLocked(ctx context.Context, until time.Time, renew func(context.Context) (time.Time, error), lost func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	r := &renewer{ctx: ctx, renew: renew, lost: lost}
	r.mu.Lock()
	r.timer = time.AfterFunc(renewWait(until), r.fire)
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.stopped = true
		r.timer.Stop()
		r.mu.Unlock()
		cancel()
		r.inflight.Wait()
	}
}

// renewer is the state of one keepLocked.
type renewer struct {
	ctx   context.Context
	renew func(context.Context) (time.Time, error)
	lost  func(error)

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	// inflight counts fire calls past the stopped check; it is only added
	// to under mu while not stopped, so stop's Wait sees every such call.
	inflight sync.WaitGroup
}

// fire runs on the timer's goroutine: one renewal, then re-arm.
func (r *renewer) fire() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.inflight.Add(1)
	r.mu.Unlock()
	defer r.inflight.Done()

	next, err := r.renew(r.ctx)
	if err != nil {
		if r.ctx.Err() == nil {
			r.lost(err)
		}
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.timer.Reset(renewWait(next))
	}
}

// renewWait is half the time left until the lock expires.
func renewWait(until time.Time) time.Duration {
	return max(time.Until(until)/2, minRenewWait)
}
