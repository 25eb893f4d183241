package pebble

import (
	"fmt"
	"hash/maphash"
	"testing"
)

// TestKnownEntitiesHoldsEveryAddAndFiltersMostOthers adds four times the
// first filter's capacity (so that it grows twice), checks that every added
// entity may be held, and that the filter answers "not held" for nearly
// every entity never added (it would be no use otherwise).
func TestKnownEntitiesHoldsEveryAddAndFiltersMostOthers(t *testing.T) {
	k := &knownEntities{seed: maphash.MakeSeed()}
	k.filters.Store(&[]*entityBloom{newEntityBloom(0)})
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
