package memory

import (
	"sort"
	"sync"
	"time"
)

// Clock is the time source of a [Provider]: it decides when delayed messages
// become visible and when locks expire. The default is the wall clock; tests
// that need to jump ahead use a [ManualClock].
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once d has elapsed, in its own goroutine or in the
	// goroutine that advances the clock. The returned stop function cancels
	// the call and reports whether it did so before f ran.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// wallClock is the default [Clock]: real time.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// ManualClock is a [Clock] that moves only when [ManualClock.Advance] is
// called, so a test can make a delayed message visible or a lock expire
// without waiting. It is safe for concurrent use.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*manualWaiter
}

type manualWaiter struct {
	at      time.Time
	f       func()
	stopped bool
}

// NewManualClock returns a clock that reads start until advanced.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arranges for f to run when the clock has been advanced by at
// least d. A non-positive d runs f at once, in the caller's goroutine.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) func() bool {
	if d <= 0 {
		f()
		return func() bool { return false }
	}
	c.mu.Lock()
	w := &manualWaiter{at: c.now.Add(d), f: f}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if w.stopped {
			return false
		}
		w.stopped = true
		for i, x := range c.waiters {
			if x == w {
				c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
				return true
			}
		}
		return false // already fired
	}
}

// Advance moves the clock forward by d (a negative d is ignored) and runs, in
// the caller's goroutine and in due order, every function whose time has
// come.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	var due, rest []*manualWaiter
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			rest = append(rest, w)
		} else {
			w.stopped = true
			due = append(due, w)
		}
	}
	c.waiters = rest
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, w := range due {
		w.f()
	}
}
