package providertest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/reprise/reprise/provider"
)

func listingTests() []conformanceTest {
	return []conformanceTest{
		{"ListReturnsOnlyMatchingEntities", testListReturnsOnlyMatchingEntities},
		{"ListPagesInAscendingOrder", testListPagesInAscendingOrder},
		{"ListDefaultLimitIs100", testListDefaultLimitIs100},
		{"ChangedValueMovesTheEntityBetweenListings", testChangedValueMovesTheEntity},
		{"DeletedKeyRemovesTheEntityFromListings", testDeletedKeyRemovesTheEntity},
		{"UnindexedKeyIsRejected", testUnindexedKeyIsRejected},
		{"ListOfAnAbsentValueIsEmpty", testListOfAnAbsentValueIsEmpty},
		{"CursorContinuesAfterItsEntity", testCursorContinuesAfterItsEntity},
		{"ListOrdersEntitiesByBytes", testListOrdersEntitiesByBytes},
	}
}

// list pages through key=value with the given page size and returns every
// entity and the page sizes seen.
func (e *env) list(key, value string, limit int) (entities []string, pages []int) {
	e.t.Helper()
	cursor := ""
	for {
		page, err := e.p.ListEntities(e.ctx, provider.ListQuery{Key: key, Value: value, Cursor: cursor, Limit: limit})
		if err != nil {
			e.t.Fatalf("ListEntities(%s=%s, cursor %q): %v", key, value, cursor, err)
		}
		entities = append(entities, page.Entities...)
		pages = append(pages, len(page.Entities))
		if page.NextCursor == "" {
			return entities, pages
		}
		if len(pages) > 1000 {
			e.t.Fatalf("ListEntities(%s=%s) did not end after 1000 pages", key, value)
		}
		cursor = page.NextCursor
	}
}

func (e *env) requireListed(key, value string, want ...string) {
	e.t.Helper()
	got, _ := e.list(key, value, 0)
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		e.t.Fatalf("entities with %s=%s: %q, want %q", key, value, got, want)
	}
}

func testListReturnsOnlyMatchingEntities(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "red-1", provider.Commit{SetMetadata: provider.Metadata{keyColor: "red"}})
	e.commitTo(queueA, "blue-1", provider.Commit{SetMetadata: provider.Metadata{keyColor: "blue"}})
	e.commitTo(queueA, "red-2", provider.Commit{SetMetadata: provider.Metadata{keyColor: "red", keyGroup: "g"}})
	e.commitTo(queueA, "plain", provider.Commit{SetMetadata: provider.Metadata{"other": "red"}})
	e.requireListed(keyColor, "red", "red-1", "red-2")
	e.requireListed(keyColor, "blue", "blue-1")
	e.requireListed(keyGroup, "g", "red-2")
}

func testListPagesInAscendingOrder(t *testing.T, s *suite) {
	e := s.open(t)
	var want []string
	for _, i := range []int{5, 2, 6, 0, 3, 1, 4} {
		name := fmt.Sprintf("paged-%d", i)
		e.commitTo(queueA, name, provider.Commit{SetMetadata: provider.Metadata{keyGroup: "pages"}})
		want = append(want, name)
	}
	slices.Sort(want)
	got, pages := e.list(keyGroup, "pages", 3)
	if !slices.Equal(got, want) {
		t.Fatalf("paged listing = %q, want %q", got, want)
	}
	if !slices.Equal(pages, []int{3, 3, 1}) {
		t.Fatalf("page sizes = %v, want [3 3 1]", pages)
	}
	got, pages = e.list(keyGroup, "pages", 7)
	if !slices.Equal(got, want) || len(pages) != 1 {
		t.Fatalf("a page as large as the listing: %q in pages %v, want %q in one page", got, pages, want)
	}
}

func testListDefaultLimitIs100(t *testing.T, s *suite) {
	e := s.open(t)
	const n = provider.DefaultListLimit + 5
	for i := range n {
		e.commitTo(queueA, fmt.Sprintf("many-%03d", i), provider.Commit{SetMetadata: provider.Metadata{keyGroup: "many"}})
	}
	got, pages := e.list(keyGroup, "many", 0)
	if len(got) != n || !slices.IsSorted(got) {
		t.Fatalf("listed %d entities (sorted: %v), want %d sorted", len(got), slices.IsSorted(got), n)
	}
	if !slices.Equal(pages, []int{provider.DefaultListLimit, 5}) {
		t.Fatalf("page sizes with Limit 0 = %v, want [%d 5]", pages, provider.DefaultListLimit)
	}
}

func testChangedValueMovesTheEntity(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "chameleon", provider.Commit{SetMetadata: provider.Metadata{keyColor: "green"}})
	e.requireListed(keyColor, "green", "chameleon")
	e.commitTo(queueA, "chameleon", provider.Commit{SetMetadata: provider.Metadata{keyColor: "brown"}})
	e.requireListed(keyColor, "green")
	e.requireListed(keyColor, "brown", "chameleon")
}

func testDeletedKeyRemovesTheEntity(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "fading", provider.Commit{SetMetadata: provider.Metadata{keyColor: "grey", keyGroup: "g"}})
	e.commitTo(queueA, "fading", provider.Commit{DeleteMetadata: []string{keyColor}})
	e.requireListed(keyColor, "grey")
	e.requireListed(keyGroup, "g", "fading")
}

func testUnindexedKeyIsRejected(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "x", provider.Commit{SetMetadata: provider.Metadata{"unindexed": "v"}})
	_, err := e.p.ListEntities(e.ctx, provider.ListQuery{Key: "unindexed", Value: "v"})
	requireErrorIs(t, "ListEntities by an unindexed key", err, provider.ErrInvalidArgument)
}

func testListOfAnAbsentValueIsEmpty(t *testing.T, s *suite) {
	e := s.open(t)
	page, err := e.p.ListEntities(e.ctx, provider.ListQuery{Key: keyColor, Value: "nobody"})
	if err != nil || len(page.Entities) != 0 || page.NextCursor != "" {
		t.Fatalf("ListEntities of an absent value = %+v, %v; want an empty last page", page, err)
	}
}

func testCursorContinuesAfterItsEntity(t *testing.T, s *suite) {
	e := s.open(t)
	for _, name := range []string{"b", "d", "f"} {
		e.commitTo(queueA, name, provider.Commit{SetMetadata: provider.Metadata{keyGroup: "live"}})
	}
	first, err := e.p.ListEntities(e.ctx, provider.ListQuery{Key: keyGroup, Value: "live", Limit: 2})
	if err != nil || !slices.Equal(first.Entities, []string{"b", "d"}) || first.NextCursor == "" {
		t.Fatalf("first page = %+v, %v; want [b d] and a cursor", first, err)
	}
	// Entities added before the cursor are behind it; those after it are
	// ahead of it.
	for _, name := range []string{"a", "c", "e"} {
		e.commitTo(queueA, name, provider.Commit{SetMetadata: provider.Metadata{keyGroup: "live"}})
	}
	var rest []string
	cursor := first.NextCursor
	for cursor != "" {
		page, err := e.p.ListEntities(e.ctx, provider.ListQuery{Key: keyGroup, Value: "live", Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatalf("ListEntities: %v", err)
		}
		rest = append(rest, page.Entities...)
		cursor = page.NextCursor
	}
	if !slices.Equal(rest, []string{"e", "f"}) {
		t.Fatalf("pages after the cursor = %q, want [e f]", rest)
	}
}

func testListOrdersEntitiesByBytes(t *testing.T, s *suite) {
	e := s.open(t)
	names := opaqueEntities()
	for _, name := range names {
		e.commitTo(queueA, name, provider.Commit{SetMetadata: provider.Metadata{keyGroup: "odd"}})
	}
	want := slices.Clone(names)
	slices.Sort(want)
	got, _ := e.list(keyGroup, "odd", 4)
	if !slices.Equal(got, want) {
		t.Fatalf("listing of odd keys = %q, want byte order %q", got, want)
	}
}
