package liveness

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the monitor.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestIdleLoopsAreAlive: a loop that does nothing (waits for input) passes
// the check however long it waits.
func TestIdleLoopsAreAlive(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	m := NewMonitor(c.now)
	done := m.Loop("fetch").Busy()
	done()
	c.add(time.Hour)
	if err := m.Check(time.Minute); err != nil {
		t.Fatalf("idle loop: %v, want nil", err)
	}
}

// TestBusyLoopStallsPastTheLimit: work that began more than the limit ago
// and has not ended fails the check, naming the loop; it passes again once
// the work ends.
func TestBusyLoopStallsPastTheLimit(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	m := NewMonitor(c.now)
	turns := m.Loop("turns")
	other := m.Loop("marks")
	first := turns.Busy()
	c.add(30 * time.Second)
	second := turns.Busy() // a second goroutine of the same loop
	_ = other.Busy()       // busy, but recently
	c.add(40 * time.Second)
	if err := m.Check(time.Minute); err == nil {
		t.Fatal("work busy for 70s passed a 1m check")
	} else if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "turns busy for 1m10s") || strings.Contains(err.Error(), "marks") {
		t.Fatalf("check: %v, want ErrStalled naming turns (1m10s) only", err)
	}
	st := m.Stalls(time.Minute)
	if len(st) != 1 || st[0].Loop != "turns" || st[0].Busy != 2 {
		t.Fatalf("stalls %+v, want turns with 2 unfinished", st)
	}
	first()
	first() // twice is harmless
	if err := m.Check(time.Minute); err != nil {
		t.Fatalf("after the stuck work ended: %v (the other began 40s ago)", err)
	}
	c.add(30 * time.Second)
	if err := m.Check(time.Minute); err == nil {
		t.Fatal("the second unit of work, busy for 70s, passed")
	}
	second()
	if err := m.Check(time.Minute); err == nil || !strings.Contains(err.Error(), "marks") {
		t.Fatalf("marks busy for 70s: %v, want a stall", err)
	}
}

// TestNilMonitorAndLoop: code without a monitor brackets its work anyway.
func TestNilMonitorAndLoop(t *testing.T) {
	var m *Monitor
	l := m.Loop("x")
	l.Busy()()
	if err := m.Check(0); err != nil || l.Name() != "" || m.Names() != nil {
		t.Fatalf("nil monitor: %v", err)
	}
}

// TestLoopIsSharedByName: asking twice for a name returns the same loop.
func TestLoopIsSharedByName(t *testing.T) {
	m := NewMonitor(nil)
	a1, a2, b := m.Loop("a"), m.Loop("a"), m.Loop("b")
	if a1 != a2 || a1 == b {
		t.Fatal("loops are not one per name")
	}
	if got := strings.Join(m.Names(), ","); got != "a,b" {
		t.Fatalf("names %q", got)
	}
}
