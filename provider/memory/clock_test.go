package memory_test

import (
	"slices"
	"testing"
	"time"

	"github.com/reprise/reprise/provider/memory"
)

func TestManualClockRunsDueFunctionsInTimeOrder(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := memory.NewManualClock(start)
	var ran []int
	c.AfterFunc(2*time.Second, func() { ran = append(ran, 2) })
	c.AfterFunc(time.Second, func() { ran = append(ran, 1) })
	stopLate := c.AfterFunc(5*time.Second, func() { ran = append(ran, 5) })

	c.Advance(3 * time.Second)
	if !slices.Equal(ran, []int{1, 2}) {
		t.Fatalf("after 3s ran %v, want [1 2]", ran)
	}
	if got := c.Now(); !got.Equal(start.Add(3 * time.Second)) {
		t.Fatalf("Now = %v, want start+3s", got)
	}
	if !stopLate() {
		t.Fatal("stopping a pending function reported false")
	}
	c.Advance(time.Hour)
	if !slices.Equal(ran, []int{1, 2}) {
		t.Fatalf("a stopped function ran: %v", ran)
	}
}

func TestManualClockStopAfterRunReportsFalse(t *testing.T) {
	c := memory.NewManualClock(time.Unix(0, 0))
	runs := 0
	stop := c.AfterFunc(time.Millisecond, func() { runs++ })
	c.Advance(time.Millisecond)
	if stop() {
		t.Fatal("stop after the function ran reported true")
	}
	c.Advance(time.Hour)
	if runs != 1 {
		t.Fatalf("function ran %d times, want 1", runs)
	}
}

func TestManualClockRunsNonPositiveDelaysAtOnce(t *testing.T) {
	c := memory.NewManualClock(time.Unix(0, 0))
	ran := false
	c.AfterFunc(0, func() { ran = true })
	if !ran {
		t.Fatal("AfterFunc(0) did not run at once")
	}
}
