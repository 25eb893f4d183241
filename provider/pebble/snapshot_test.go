package pebble_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/reprise/reprise/provider"
	pstore "github.com/reprise/reprise/provider/pebble"
)

// inA selects the entities named "a…": the snapshot's set.
func inA(entity string) bool { return strings.HasPrefix(entity, "a") }

// TestSnapshotRestoresChosenEntitiesOnly writes a snapshot of the "a"
// entities of one store and restores it into another store that holds stale
// and extra "a" entities and entities of another set: afterwards the "a"
// entities are exactly the snapshot's (history, metadata, index, consumed
// ids, state), the others untouched, and the watermark set.
func TestSnapshotRestoresChosenEntitiesOnly(t *testing.T) {
	src := newStore(t)
	mustApply(t, src, []pstore.Update{
		{Entity: "a1", Events: events(1, 2), SetMetadata: provider.Metadata{"phase": "run", "x": "1"}, Consumed: []string{"m1"}, LogSeq: 5},
		{Entity: "a2", Partition: 2, Events: events(1), SetMetadata: provider.Metadata{"phase": "done"}, LogSeq: 9},
		{Entity: "a3", Events: events(1), LogSeq: 3},
		{Entity: "b1", Events: events(1), SetMetadata: provider.Metadata{"phase": "run"}, LogSeq: 4},
	}, nil)
	mustApply(t, src, []pstore.Update{{Entity: "a3", Delete: true, LogSeq: 11}}, nil)

	var buf bytes.Buffer
	visited := map[string]uint64{}
	stats, err := src.WriteSnapshot(&buf, inA, func(e string, st pstore.EntityState) { visited[e] = st.LogSeq })
	if err != nil {
		t.Fatal(err)
	}
	if stats.Entities != 3 || int64(buf.Len()) != stats.Bytes {
		t.Errorf("stats = %+v with %d bytes written, want 3 entities", stats, buf.Len())
	}
	if want := map[string]uint64{"a1": 5, "a2": 9, "a3": 11}; !mapsEqual(visited, want) {
		t.Errorf("visited %v, want %v", visited, want)
	}

	dst := newStore(t)
	mustApply(t, dst, []pstore.Update{
		{Entity: "a1", Events: events(1, 2, 3), SetMetadata: provider.Metadata{"phase": "stale"}, Consumed: []string{"old"}, LogSeq: 2},
		{Entity: "a9", Events: events(1), SetMetadata: provider.Metadata{"phase": "run"}, LogSeq: 1},
		{Entity: "b2", Events: events(1), SetMetadata: provider.Metadata{"phase": "run"}, LogSeq: 7},
	}, map[string]uint64{"w-a": 2, "w-b": 7})
	data := bytes.Clone(buf.Bytes())
	if _, err := dst.RestoreSnapshot(bytes.NewReader(data), inA, map[string]uint64{"w-a": 10}); err != nil {
		t.Fatal(err)
	}

	if h, _ := dst.History("a1", 0); !slices.Equal(seqsOf(h), []uint64{1, 2}) {
		t.Errorf("a1 history %v, want [1 2]", seqsOf(h))
	}
	if md, _ := dst.Metadata("a1"); md["phase"] != "run" || md["x"] != "1" {
		t.Errorf("a1 metadata %v", md)
	}
	if ok, _ := dst.Consumed("a1", "m1"); !ok {
		t.Error("a1 consumed m1 lost")
	}
	if ok, _ := dst.Consumed("a1", "old"); ok {
		t.Error("a1 stale consumed id kept")
	}
	if st, _ := dst.Entity("a2"); st.Partition != 2 || st.LogSeq != 9 || !st.Exists {
		t.Errorf("a2 state %+v", st)
	}
	if st, _ := dst.Entity("a3"); st.Exists || st.LogSeq != 11 {
		t.Errorf("deleted a3 state %+v, want not existing at log seq 11", st)
	}
	if st, _ := dst.Entity("a9"); st.Exists || st.LogSeq != 0 {
		t.Errorf("a9 (not in the snapshot) survived: %+v", st)
	}
	if st, _ := dst.Entity("b2"); !st.Exists || st.LogSeq != 7 {
		t.Errorf("b2 (outside the set) changed: %+v", st)
	}
	for value, want := range map[string][]string{"run": {"a1", "b2"}, "done": {"a2"}, "stale": nil} {
		page, err := dst.List(provider.ListQuery{Key: "phase", Value: value})
		if err != nil || !slices.Equal(page.Entities, want) {
			t.Errorf("list phase=%s = %v, %v; want %v", value, page.Entities, err, want)
		}
	}
	if w, _ := dst.Watermark("w-a"); w != 10 {
		t.Errorf("w-a = %d, want 10", w)
	}
	if w, _ := dst.Watermark("w-b"); w != 7 {
		t.Errorf("w-b = %d, want 7 (untouched)", w)
	}
}

// TestTruncatedSnapshotLeavesWatermarkAtZero cuts a snapshot short: the
// restore fails with ErrCorruptSnapshot and the watermark is 0, never the
// value a complete restore would have set.
func TestTruncatedSnapshotLeavesWatermarkAtZero(t *testing.T) {
	src := newStore(t)
	for _, e := range []string{"a1", "a2", "a3"} {
		mustApply(t, src, []pstore.Update{{Entity: e, Events: events(1, 2, 3), LogSeq: 1}}, nil)
	}
	var buf bytes.Buffer
	if _, err := src.WriteSnapshot(&buf, inA, nil); err != nil {
		t.Fatal(err)
	}
	dst := newStore(t)
	mustApply(t, dst, nil, map[string]uint64{"w-a": 3})
	for _, cut := range []int{0, 3, buf.Len() / 2, buf.Len() - 1} {
		_, err := dst.RestoreSnapshot(bytes.NewReader(buf.Bytes()[:cut]), inA, map[string]uint64{"w-a": 10})
		if !errors.Is(err, pstore.ErrCorruptSnapshot) {
			t.Errorf("restore of %d of %d bytes = %v, want ErrCorruptSnapshot", cut, buf.Len(), err)
		}
		if w, _ := dst.Watermark("w-a"); cut > 4 && w != 0 {
			t.Errorf("watermark after a restore cut at %d = %d, want 0", cut, w)
		}
	}
	// A snapshot of other entities is refused.
	if _, err := dst.RestoreSnapshot(bytes.NewReader(buf.Bytes()), func(string) bool { return false }, nil); !errors.Is(err, pstore.ErrCorruptSnapshot) {
		t.Errorf("restore with a predicate rejecting its entities = %v, want ErrCorruptSnapshot", err)
	}
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
