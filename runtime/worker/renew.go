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
	r := &renewer{parent: ctx, renew: renew, lost: lost}
	r.mu.Lock()
	r.timer = time.AfterFunc(renewWait(until), r.fire)
	r.mu.Unlock()
	return r.stop
}

// renewer is the state of one keepLocked.
//
// Most locks are released long before their first renewal is due, so the
// context a renewal runs under (cancelled by stop) is made by the first
// renewal, not up front: a turn that needs no renewal costs a timer only.
type renewer struct {
	parent context.Context
	renew  func(context.Context) (time.Time, error)
	lost   func(error)

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	// ctx and cancel are made by the first fire (under mu while not
	// stopped); stop cancels ctx.
	ctx    context.Context
	cancel context.CancelFunc
	// inflight counts fire calls past the stopped check; it is only added
	// to under mu while not stopped, so stop's Wait sees every such call.
	inflight sync.WaitGroup
}

// stop ends the renewals: it cancels a renewal in flight and waits for it.
func (r *renewer) stop() {
	r.mu.Lock()
	r.stopped = true
	r.timer.Stop()
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.inflight.Wait()
}

// fire runs on the timer's goroutine: one renewal, then re-arm.
func (r *renewer) fire() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	if r.ctx == nil {
		r.ctx, r.cancel = context.WithCancel(r.parent)
	}
	ctx := r.ctx
	r.inflight.Add(1)
	r.mu.Unlock()
	defer r.inflight.Done()

	next, err := r.renew(ctx)
	if err != nil {
		if ctx.Err() == nil {
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
