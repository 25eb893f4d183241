package pebble_test

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/reprise/reprise/provider"
	pstore "github.com/reprise/reprise/provider/pebble"
)

// neighbours are entities whose encodings lie next to, or share a raw
// prefix with, "a": deleting "a" must leave every one of them intact.
var neighbours = []string{"ab", "a\x00", "a\xff", "\xff", "a\x00\x00", "b", "`\xff", "a/"}

func populate(t *testing.T, s *pstore.Store, entity string) {
	t.Helper()
	mustApply(t, s, []pstore.Update{
		{Entity: entity, Events: events(1, 2), SetMetadata: provider.Metadata{"phase": "same", "note": entity}, Consumed: []string{"m1"}},
		{Entity: entity, Partition: 1, Events: events(1), SetMetadata: provider.Metadata{"owner": entity}, LogSeq: 5},
	}, nil)
}

func checkIntact(t *testing.T, s *pstore.Store, entity string) {
	t.Helper()
	wantSeqs(t, s, entity, 0, 1, 2)
	wantSeqs(t, s, entity, 1, 1)
	if st := entityState(t, s, entity); st != (pstore.EntityState{Exists: true, Partition: 1, LogSeq: 5}) {
		t.Errorf("state of %q = %+v", entity, st)
	}
	md, err := s.Metadata(entity)
	if err != nil {
		t.Fatalf("metadata of %q: %v", entity, err)
	}
	if want := (provider.Metadata{"phase": "same", "note": entity, "owner": entity}); !maps.Equal(md, want) {
		t.Errorf("metadata of %q = %v", entity, md)
	}
	if !consumed(t, s, entity, "m1") {
		t.Errorf("consumed id of %q lost", entity)
	}
	if !slices.Contains(list(t, s, "phase", "same"), entity) || !slices.Equal(list(t, s, "owner", entity), []string{entity}) {
		t.Errorf("index entries of %q lost", entity)
	}
}

func checkGone(t *testing.T, s *pstore.Store, entity string) {
	t.Helper()
	wantSeqs(t, s, entity, 0)
	wantSeqs(t, s, entity, 1)
	if st := entityState(t, s, entity); st != (pstore.EntityState{}) {
		t.Errorf("state of deleted %q = %+v", entity, st)
	}
	if _, err := s.Metadata(entity); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("metadata of deleted %q: err = %v", entity, err)
	}
	if consumed(t, s, entity, "m1") {
		t.Errorf("consumed id of deleted %q survived", entity)
	}
	if slices.Contains(list(t, s, "phase", "same"), entity) || len(list(t, s, "owner", entity)) != 0 {
		t.Errorf("index entries of deleted %q survived", entity)
	}
}

func TestDeleteRemovesEverythingOfOnlyThatEntity(t *testing.T) {
	s := newStore(t)
	populate(t, s, "a")
	for _, n := range neighbours {
		populate(t, s, n)
	}
	mustApply(t, s, []pstore.Update{{Entity: "a", Delete: true}}, nil)
	checkGone(t, s, "a")
	for _, n := range neighbours {
		checkIntact(t, s, n)
	}

	// Delete each binary neighbour in turn; the rest stay intact.
	for i, n := range neighbours {
		mustApply(t, s, []pstore.Update{{Entity: n, Delete: true}}, nil)
		checkGone(t, s, n)
		for _, rest := range neighbours[i+1:] {
			checkIntact(t, s, rest)
		}
	}
}

func TestDeleteOfUnknownEntityIsNoOp(t *testing.T) {
	s := newStore(t)
	populate(t, s, "ab")
	mustApply(t, s, []pstore.Update{{Entity: "a", Delete: true}}, nil)
	checkGone(t, s, "a")
	checkIntact(t, s, "ab")
}

func TestDeleteThenWriteInOneUpdateStartsFresh(t *testing.T) {
	s := newStore(t)
	populate(t, s, "a")
	mustApply(t, s, []pstore.Update{{
		Entity: "a", Delete: true, Events: events(2), SetMetadata: provider.Metadata{"owner": "new"},
	}}, nil)
	wantSeqs(t, s, "a", 0, 2)
	wantSeqs(t, s, "a", 1)
	if st := entityState(t, s, "a"); st != (pstore.EntityState{Exists: true}) {
		t.Errorf("state = %+v", st)
	}
	if md, _ := s.Metadata("a"); !maps.Equal(md, provider.Metadata{"owner": "new"}) {
		t.Errorf("metadata = %v", md)
	}
	if consumed(t, s, "a", "m1") || len(list(t, s, "phase", "same")) != 0 || len(list(t, s, "owner", "a")) != 0 {
		t.Error("data from before the delete survived")
	}
	if got := list(t, s, "owner", "new"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("owner=new lists %v", got)
	}
	// Seq 1 was purged: it can be appended again.
	mustApply(t, s, []pstore.Update{{Entity: "a", Events: events(1)}}, nil)
	wantSeqs(t, s, "a", 0, 1, 2)
}

func TestDeleteWithinOneCallSeesEarlierUpdates(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, []pstore.Update{
		{Entity: "a", Events: events(1), SetMetadata: provider.Metadata{"phase": "p"}},
		{Entity: "a", SetMetadata: provider.Metadata{"phase": "q"}},
		{Entity: "a", Delete: true},
		{Entity: "ab", SetMetadata: provider.Metadata{"phase": "q"}},
	}, nil)
	checkGone(t, s, "a")
	if got := list(t, s, "phase", "q"); !slices.Equal(got, []string{"ab"}) {
		t.Errorf("phase=q lists %v", got)
	}
	if got := list(t, s, "phase", "p"); len(got) != 0 {
		t.Errorf("phase=p lists %v", got)
	}
}

func TestBareDeleteKeepsItsLogSeq(t *testing.T) {
	s := newStore(t)
	populate(t, s, "a")
	mustApply(t, s, []pstore.Update{{Entity: "a", Delete: true, LogSeq: 9}}, nil)
	if st := entityState(t, s, "a"); st != (pstore.EntityState{LogSeq: 9}) {
		t.Fatalf("state = %+v, want only LogSeq 9", st)
	}
	if _, err := s.Metadata("a"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("metadata err = %v", err)
	}
	// A later delete purges the remaining record too.
	mustApply(t, s, []pstore.Update{{Entity: "a", Delete: true}}, nil)
	if st := entityState(t, s, "a"); st != (pstore.EntityState{}) {
		t.Errorf("state = %+v", st)
	}
}
