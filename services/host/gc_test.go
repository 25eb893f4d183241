package host

import (
	"runtime/debug"
	"testing"
)

// TestSetDefaultGCPercentLeavesAGOGCFromTheEnvironment sets the default
// target when GOGC is unset, and leaves the runtime's when it is set.
func TestSetDefaultGCPercentLeavesAGOGCFromTheEnvironment(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	if !SetDefaultGCPercent(func(string) string { return "" }) {
		t.Fatal("GOGC unset: the default target was not set")
	}
	if got := debug.SetGCPercent(100); got != DefaultGCPercent {
		t.Fatalf("GOGC unset: target %d, want %d", got, DefaultGCPercent)
	}
	env := func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	}
	if SetDefaultGCPercent(env) {
		t.Fatal("GOGC=150 in the environment: the default target replaced it")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set: target changed to %d", got)
	}
}
