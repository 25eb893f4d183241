package jetstream

import (
	"testing"
	"time"
)

// TestForeignGraceStaysWellInsideTheDuplicateWindow: another writer's
// record is dispatched here only after foreignGrace, and that copy is
// harmless only within the duplicate window of the writer's own; the grace
// is 3 s under the default window and shrinks with a shorter one.
func TestForeignGraceStaysWellInsideTheDuplicateWindow(t *testing.T) {
	for _, w := range []time.Duration{100 * time.Millisecond, time.Second, 4 * time.Second, 12 * time.Second, DefaultDuplicateWindow} {
		g := foreignGrace(w)
		if g <= 0 || g > maxForeignGrace || g > w/4 {
			t.Errorf("duplicate window %v: foreign grace %v, want positive, at most %v and at most a quarter of the window", w, g, maxForeignGrace)
		}
	}
	if g := foreignGrace(DefaultDuplicateWindow); g != maxForeignGrace {
		t.Errorf("default window: grace %v, want %v", g, maxForeignGrace)
	}
}
