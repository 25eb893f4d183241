package pebble_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/reprise/reprise/provider"
	pstore "github.com/reprise/reprise/provider/pebble"
)

func TestMetadataSetDeleteAndIndexMove(t *testing.T) {
	s := newStore(t)
	metadata := func() provider.Metadata {
		t.Helper()
		md, err := s.Metadata("e")
		if err != nil {
			t.Fatal(err)
		}
		return md
	}
	mustApply(t, s, []pstore.Update{{Entity: "e", SetMetadata: provider.Metadata{"phase": "a", "note": "n1"}}}, nil)
	if got := list(t, s, "phase", "a"); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("phase=a lists %v", got)
	}

	mustApply(t, s, []pstore.Update{{Entity: "e", SetMetadata: provider.Metadata{"phase": "b"}}}, nil)
	if got := list(t, s, "phase", "a"); len(got) != 0 {
		t.Errorf("phase=a still lists %v after the value moved", got)
	}
	if got := list(t, s, "phase", "b"); !slices.Equal(got, []string{"e"}) {
		t.Errorf("phase=b lists %v", got)
	}
	if md := metadata(); !maps.Equal(md, provider.Metadata{"phase": "b", "note": "n1"}) {
		t.Errorf("metadata = %v", md)
	}

	// Setting the same value again keeps exactly one index entry.
	mustApply(t, s, []pstore.Update{{Entity: "e", SetMetadata: provider.Metadata{"phase": "b"}}}, nil)
	if got := list(t, s, "phase", "b"); !slices.Equal(got, []string{"e"}) {
		t.Errorf("phase=b lists %v", got)
	}

	// Delete wins over set.
	mustApply(t, s, []pstore.Update{{
		Entity:         "e",
		SetMetadata:    provider.Metadata{"phase": "c", "note": "n2"},
		DeleteMetadata: []string{"phase"},
	}}, nil)
	for _, v := range []string{"a", "b", "c"} {
		if got := list(t, s, "phase", v); len(got) != 0 {
			t.Errorf("phase=%s lists %v after delete", v, got)
		}
	}
	if md := metadata(); !maps.Equal(md, provider.Metadata{"note": "n2"}) {
		t.Errorf("metadata = %v", md)
	}
	// Deleting an absent key is a no-op.
	mustApply(t, s, []pstore.Update{{Entity: "e", DeleteMetadata: []string{"phase", "missing"}}}, nil)
	if md := metadata(); !maps.Equal(md, provider.Metadata{"note": "n2"}) {
		t.Errorf("metadata = %v", md)
	}
}

func TestListRejectsUnindexedKeyAndNegativeLimit(t *testing.T) {
	s := newStore(t)
	if _, err := s.List(provider.ListQuery{Key: "note", Value: "x"}); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("unindexed key: err = %v", err)
	}
	if _, err := s.List(provider.ListQuery{Key: "phase", Limit: -1}); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("negative limit: err = %v", err)
	}
}

func TestListPagesInAscendingOrderWithArbitraryBytes(t *testing.T) {
	s := newStore(t)
	// Values that are prefixes of each other and contain the bytes a naive
	// separator would use; entities likewise.
	value := "v/\x00"
	var want []string
	var updates []pstore.Update
	for i := range 25 {
		entity := fmt.Sprintf("ent\x00/%02d\xff", i)
		want = append(want, entity)
		updates = append(updates, pstore.Update{Entity: entity, SetMetadata: provider.Metadata{"phase": value}})
	}
	decoys := map[string]string{"v": "decoy-1", "v/": "decoy-2", "v/\x00\x00": "decoy-3", "v/\x00x": "decoy-4"}
	for v, entity := range decoys {
		updates = append(updates, pstore.Update{Entity: entity, SetMetadata: provider.Metadata{"phase": v}})
	}
	// An entity with the same value under the other indexed key.
	updates = append(updates, pstore.Update{Entity: "other-key", SetMetadata: provider.Metadata{"owner": value}})
	mustApply(t, s, updates, nil)
	slices.Sort(want)

	var got []string
	var sizes []int
	q := provider.ListQuery{Key: "phase", Value: value, Limit: 10}
	for {
		page, err := s.List(q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Entities...)
		sizes = append(sizes, len(page.Entities))
		if page.NextCursor == "" {
			break
		}
		if page.NextCursor != page.Entities[len(page.Entities)-1] {
			t.Fatalf("cursor %q is not the page's last entity", page.NextCursor)
		}
		q.Cursor = page.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %q\nwant %q", got, want)
	}
	if !slices.Equal(sizes, []int{10, 10, 5}) {
		t.Errorf("page sizes %v, want [10 10 5]", sizes)
	}
	for v, entity := range decoys {
		if got := list(t, s, "phase", v); !slices.Equal(got, []string{entity}) {
			t.Errorf("phase=%q lists %q, want [%q]", v, got, entity)
		}
	}
	if got := list(t, s, "owner", value); !slices.Equal(got, []string{"other-key"}) {
		t.Errorf("owner=%q lists %q", value, got)
	}
}

func TestListLimitBoundaries(t *testing.T) {
	s := newStore(t)
	var updates []pstore.Update
	for i := range provider.DefaultListLimit + 1 {
		updates = append(updates, pstore.Update{Entity: fmt.Sprintf("e%04d", i), SetMetadata: provider.Metadata{"owner": "me"}})
	}
	mustApply(t, s, updates, nil)

	page, err := s.List(provider.ListQuery{Key: "owner", Value: "me"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entities) != provider.DefaultListLimit || page.NextCursor == "" {
		t.Fatalf("default page: %d entities, cursor %q", len(page.Entities), page.NextCursor)
	}
	page, err = s.List(provider.ListQuery{Key: "owner", Value: "me", Cursor: page.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(page.Entities, []string{fmt.Sprintf("e%04d", provider.DefaultListLimit)}) || page.NextCursor != "" {
		t.Fatalf("last page = %+v", page)
	}
	// A page that ends exactly at the last entity has no cursor.
	page, err = s.List(provider.ListQuery{Key: "owner", Value: "me", Limit: provider.DefaultListLimit + 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entities) != provider.DefaultListLimit+1 || page.NextCursor != "" {
		t.Fatalf("exact page: %d entities, cursor %q", len(page.Entities), page.NextCursor)
	}
	// A cursor past every entity gives an empty page.
	page, err = s.List(provider.ListQuery{Key: "owner", Value: "me", Cursor: "z"})
	if err != nil || len(page.Entities) != 0 || page.NextCursor != "" {
		t.Fatalf("past-the-end page = %+v, %v", page, err)
	}
}

func TestChangedIndexedKeysRebuildIndexOnOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := pstore.Open(pstore.Options{Dir: dir, IndexedKeys: []string{"phase"}})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, []pstore.Update{
		{Entity: "a", SetMetadata: provider.Metadata{"phase": "x", "owner": "me"}},
		{Entity: "b", SetMetadata: provider.Metadata{"owner": "me"}},
		{Entity: "c", SetMetadata: provider.Metadata{"owner": "you"}},
	}, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = pstore.Open(pstore.Options{Dir: dir, IndexedKeys: []string{"owner"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := list(t, s, "owner", "me"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("owner=me lists %v after reindex", got)
	}
	if _, err := s.List(provider.ListQuery{Key: "phase", Value: "x"}); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("phase no longer indexed: err = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Indexing phase again rebuilds it from metadata; the dropped entries
	// did not linger.
	s, err = pstore.Open(pstore.Options{Dir: dir, IndexedKeys: []string{"owner", "phase"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := list(t, s, "phase", "x"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("phase=x lists %v", got)
	}
	if got := list(t, s, "owner", "you"); !slices.Equal(got, []string{"c"}) {
		t.Errorf("owner=you lists %v", got)
	}
}
