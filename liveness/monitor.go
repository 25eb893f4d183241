package liveness

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrStalled is wrapped by [Monitor.Check] when a loop has been busy with
// one unit of work for longer than the limit.
var ErrStalled = errors.New("liveness: loop stalled")

// Monitor watches the loops registered with it. Create it with
// [NewMonitor]; it is safe for concurrent use.
type Monitor struct {
	now func() time.Time

	mu    sync.Mutex
	loops []*Loop
}

// NewMonitor returns a Monitor with no loops. now is the clock (nil:
// time.Now).
func NewMonitor(now func() time.Time) *Monitor {
	if now == nil {
		now = time.Now
	}
	return &Monitor{now: now}
}

// Loop returns the loop of that name, registering it on first use. Several
// goroutines running the same loop share it: each brackets its own work.
// On a nil Monitor it returns nil (a loop that reports nowhere).
func (m *Monitor) Loop(name string) *Loop {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.loops {
		if l.name == name {
			return l
		}
	}
	l := &Loop{name: name, now: m.now, busy: map[uint64]time.Time{}}
	m.loops = append(m.loops, l)
	return l
}

// Stall is one loop found stuck by [Monitor.Stalls].
type Stall struct {
	// Loop is the loop's name.
	Loop string
	// Since is when its oldest unfinished unit of work began.
	Since time.Time
	// Busy is how many units of work of the loop are unfinished (one per
	// goroutine running it).
	Busy int
}

// Stalls lists the loops whose oldest unfinished unit of work began more
// than limit before now, in the order they were registered.
func (m *Monitor) Stalls(limit time.Duration) []Stall {
	if m == nil {
		return nil
	}
	now := m.now()
	m.mu.Lock()
	loops := slices.Clone(m.loops)
	m.mu.Unlock()
	var out []Stall
	for _, l := range loops {
		oldest, n := l.oldest()
		if n > 0 && now.Sub(oldest) > limit {
			out = append(out, Stall{Loop: l.name, Since: oldest, Busy: n})
		}
	}
	return out
}

// Check returns nil when no loop has been busy with one unit of work for
// longer than limit, and otherwise an error wrapping [ErrStalled] that names
// each stuck loop and for how long it has been busy.
func (m *Monitor) Check(limit time.Duration) error {
	stalls := m.Stalls(limit)
	if len(stalls) == 0 {
		return nil
	}
	now := m.now()
	parts := make([]string, len(stalls))
	for i, s := range stalls {
		parts[i] = fmt.Sprintf("%s busy for %s (limit %s)", s.Loop, now.Sub(s.Since).Round(time.Millisecond), limit)
	}
	return fmt.Errorf("%w: %s", ErrStalled, strings.Join(parts, "; "))
}

// Names lists the registered loops' names, in registration order.
func (m *Monitor) Names() []string {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(m.loops))
	for i, l := range m.loops {
		out[i] = l.name
	}
	return out
}

// Loop is one named loop of a [Monitor]. A nil *Loop does nothing.
type Loop struct {
	name string
	now  func() time.Time

	mu   sync.Mutex
	next uint64
	busy map[uint64]time.Time
}

// Name is the loop's name.
func (l *Loop) Name() string {
	if l == nil {
		return ""
	}
	return l.name
}

// Busy marks the start of a unit of work that must end in bounded time and
// returns the function that marks its end (call it once; further calls do
// nothing).
func (l *Loop) Busy() (done func()) {
	if l == nil {
		return func() {}
	}
	l.mu.Lock()
	l.next++
	id := l.next
	l.busy[id] = l.now()
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.busy, id)
		l.mu.Unlock()
	}
}

// oldest is the start of the oldest unfinished work and how many there are.
func (l *Loop) oldest() (time.Time, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var oldest time.Time
	for _, t := range l.busy {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return oldest, len(l.busy)
}
