package pebble

import (
	"fmt"
	"testing"
)

// TestKnownEntitiesHoldsEveryAddAndFiltersMostOthers adds four times the
// first filter's capacity (so that it grows twice), checks that every added
// entity may be held, and that the filter answers "not held" for nearly
// every entity never added (it would be no use otherwise).
func TestKnownEntitiesHoldsEveryAddAndFiltersMostOthers(t *testing.T) {
	k := newKnownEntities(knownMaxEntities)
	const added, others = 4 * knownMinCapacity, 20_000
	for i := range added {
		k.add(fmt.Sprintf("in-%d", i))
	}
	if got := len(*k.filters.Load()); got < 3 {
		t.Errorf("%d filters after %d adds, want at least 3 (grown twice)", got, added)
	}
	for i := range added {
		if e := fmt.Sprintf("in-%d", i); !k.mayHold(e) {
			t.Fatalf("added %s, filter says not held", e)
		}
	}
	falsePositives := 0
	for i := range others {
		if k.mayHold(fmt.Sprintf("out-%d", i)) {
			falsePositives++
		}
	}
	// About 1 % per filter, three or four filters.
	if falsePositives > others/20 {
		t.Errorf("%d of %d entities never added may be held (over 5 %%)", falsePositives, others)
	}
	t.Logf("false positives: %d of %d", falsePositives, others)
}

// TestKnownEntitiesSaturatesInsteadOfGrowingWithoutBound gives the filter
// room for 4 × its first capacity: the add that would need more saturates
// it, and from then on it answers "may be held" for every entity (every
// read looks the database up) and grows no more.
func TestKnownEntitiesSaturatesInsteadOfGrowingWithoutBound(t *testing.T) {
	k := newKnownEntities(4 * knownMinCapacity)
	i := 0
	for ; !k.saturated.Load() && i < 8*knownMinCapacity; i++ {
		k.add(fmt.Sprintf("in-%d", i))
	}
	if !k.saturated.Load() {
		t.Fatalf("not saturated after %d adds with room for %d", i, 4*knownMinCapacity)
	}
	if i <= knownMinCapacity || i > 4*knownMinCapacity {
		t.Errorf("saturated at add %d, want between %d and %d", i, knownMinCapacity, 4*knownMinCapacity)
	}
	for _, e := range []string{"in-0", fmt.Sprintf("in-%d", i-1), "never-added"} {
		if !k.mayHold(e) {
			t.Errorf("saturated filter says %s is not held", e)
		}
	}
	k.add("after-saturation")
	if n, capacity := len(*k.filters.Load()), 3*knownMinCapacity; n != 2 {
		t.Errorf("saturated filter has %d filters, want 2 (capacity %d, no more)", n, capacity)
	}
}
