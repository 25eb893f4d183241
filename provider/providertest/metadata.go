package providertest

import (
	"errors"
	"testing"

	"github.com/reprise/reprise/provider"
)

func metadataTests() []conformanceTest {
	return []conformanceTest{
		{"SetMetadataUpsertsKeys", testSetMetadataUpsertsKeys},
		{"DeleteMetadataRemovesKeys", testDeleteMetadataRemovesKeys},
		{"DeleteWinsOverSetInOneCommit", testDeleteWinsOverSet},
		{"UnknownEntityIsNotFound", testUnknownEntityIsNotFound},
		{"MetadataReadIsACopy", testMetadataReadIsACopy},
		{"EmptyValueIsStoredAndDistinctFromAbsent", testEmptyValueIsStored},
		{"MetadataSurvivesCommitsThatDoNotTouchIt", testMetadataSurvivesOtherCommits},
		{"DeletingAnAbsentKeyIsHarmless", testDeletingAnAbsentKeyIsHarmless},
		{"EntitiesHaveSeparateMetadata", testEntitiesHaveSeparateMetadata},
	}
}

func testSetMetadataUpsertsKeys(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "meta", provider.Commit{SetMetadata: provider.Metadata{"a": "1", "b": "2"}})
	e.requireMetadata("meta", provider.Metadata{"a": "1", "b": "2"})
	e.commitTo(queueA, "meta", provider.Commit{SetMetadata: provider.Metadata{"b": "20", "c": "3"}})
	e.requireMetadata("meta", provider.Metadata{"a": "1", "b": "20", "c": "3"})
}

func testDeleteMetadataRemovesKeys(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "meta", provider.Commit{SetMetadata: provider.Metadata{"a": "1", "b": "2", "c": "3"}})
	e.commitTo(queueA, "meta", provider.Commit{DeleteMetadata: []string{"a", "c"}})
	e.requireMetadata("meta", provider.Metadata{"b": "2"})
}

func testDeleteWinsOverSet(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "meta", provider.Commit{SetMetadata: provider.Metadata{"a": "1"}})
	e.commitTo(queueA, "meta", provider.Commit{
		SetMetadata:    provider.Metadata{"a": "2", "b": "2", "c": "3"},
		DeleteMetadata: []string{"a", "b"},
	})
	e.requireMetadata("meta", provider.Metadata{"c": "3"})
}

func testUnknownEntityIsNotFound(t *testing.T, s *suite) {
	e := s.open(t)
	e.requireNotFound("never")
	e.requireNoHistory("never", 0)
	e.commitTo(queueA, "other", provider.Commit{Events: events(t, 1)})
	e.requireNotFound("never")
}

func testMetadataReadIsACopy(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "meta", provider.Commit{SetMetadata: provider.Metadata{"a": "1"}})
	m := e.metadata("meta")
	m["a"] = "changed"
	m["b"] = "added"
	e.requireMetadata("meta", provider.Metadata{"a": "1"})
}

func testEmptyValueIsStored(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "meta", provider.Commit{SetMetadata: provider.Metadata{"empty": ""}})
	m := e.metadata("meta")
	if v, ok := m["empty"]; !ok || v != "" {
		t.Fatalf("Metadata = %q, want the key \"empty\" present with an empty value", m)
	}
	if _, ok := m["absent"]; ok {
		t.Fatalf("Metadata = %q has a key never set", m)
	}
}

func testMetadataSurvivesOtherCommits(t *testing.T, s *suite) {
	e := s.open(t)
	want := provider.Metadata{"a": "1", keyColor: "red"}
	e.commitTo(queueA, "meta", provider.Commit{SetMetadata: want})
	e.commitTo(queueA, "meta", provider.Commit{Events: events(t, 1)})
	e.commitTo(queueA, "meta", provider.Commit{Partition: 5})
	e.requireMetadata("meta", want)
}

func testDeletingAnAbsentKeyIsHarmless(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "meta", provider.Commit{SetMetadata: provider.Metadata{"a": "1"}})
	e.commitTo(queueA, "meta", provider.Commit{DeleteMetadata: []string{"missing", keyColor}})
	e.requireMetadata("meta", provider.Metadata{"a": "1"})
	// An entity whose first commit only deletes exists, with no metadata.
	e.commitTo(queueA, "meta-new", provider.Commit{DeleteMetadata: []string{"x"}})
	m, err := e.p.Metadata(e.ctx, "meta-new")
	if err != nil || len(m) != 0 {
		t.Fatalf("Metadata of an entity that committed nothing but deletes = %q, %v; want empty, nil", m, err)
	}
}

func testEntitiesHaveSeparateMetadata(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "x", provider.Commit{SetMetadata: provider.Metadata{"k": "x"}})
	e.commitTo(queueA, "xy", provider.Commit{SetMetadata: provider.Metadata{"k": "xy"}})
	e.commitTo(queueA, "x", provider.Commit{DeleteMetadata: []string{"k"}})
	e.requireMetadata("x", provider.Metadata{})
	e.requireMetadata("xy", provider.Metadata{"k": "xy"})
	if _, err := e.p.Metadata(e.ctx, "x\x00"); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("Metadata of a never-committed neighbour key: err = %v, want ErrNotFound", err)
	}
}
