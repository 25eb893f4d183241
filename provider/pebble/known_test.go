package pebble_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/reprise/reprise/provider"
	pstore "github.com/reprise/reprise/provider/pebble"
)

// TestMetadataFindsEveryStoredEntityAfterReopenAndRestore stores entities,
// then reads each one's metadata: in the store that wrote them, after a
// reopen (the known-entities filter rebuilt from the database) and in a
// fresh store that restored them from a snapshot. An entity the filter
// missed would read as not found. (The filter's growth past its first size
// is TestKnownEntitiesHoldsEveryAddAndFiltersMostOthers.)
func TestMetadataFindsEveryStoredEntityAfterReopenAndRestore(t *testing.T) {
	const n = 5_000
	dir := t.TempDir()
	s := openStore(t, dir)
	id := func(i int) string { return fmt.Sprintf("e-%06d", i) }
	batch := make([]pstore.Update, 0, 1000)
	for i := range n {
		batch = append(batch, pstore.Update{Entity: id(i), Events: events(1), SetMetadata: provider.Metadata{"n": id(i)}, LogSeq: uint64(i + 1)})
		if len(batch) == cap(batch) {
			mustApply(t, s, batch, nil)
			batch = batch[:0]
		}
	}
	check := func(what string, s *pstore.Store) {
		t.Helper()
		missing := 0
		for i := range n {
			md, err := s.Metadata(id(i))
			if err != nil || md["n"] != id(i) {
				if missing++; missing <= 3 {
					t.Errorf("%s: metadata of %s = %v, %v", what, id(i), md, err)
				}
			}
		}
		if missing > 0 {
			t.Fatalf("%s: %d of %d stored entities not found", what, missing, n)
		}
		if _, err := s.Metadata("never-stored"); !errors.Is(err, provider.ErrNotFound) {
			t.Fatalf("%s: metadata of an entity never stored: %v, want not found", what, err)
		}
	}
	check("after the applies", s)

	var snap bytes.Buffer
	all := func(string) bool { return true }
	if _, err := s.WriteSnapshot(&snap, all, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	check("after a reopen", s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	restored := newStore(t)
	if _, err := restored.RestoreSnapshot(&snap, all, map[string]uint64{"w": 1}); err != nil {
		t.Fatal(err)
	}
	check("restored from a snapshot", restored)
}
