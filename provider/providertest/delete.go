package providertest

import (
	"slices"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

func deleteTests() []conformanceTest {
	return []conformanceTest{
		{"DeleteRemovesEveryPartition", testDeleteRemovesEveryPartition},
		{"DeleteRemovesMetadataAndIndexEntries", testDeleteRemovesMetadataAndIndexEntries},
		{"DeleteRemovesPendingMessagesInEveryQueue", testDeleteRemovesPendingMessagesInEveryQueue},
		{"DeletingAnUnknownEntityIsNoError", testDeletingAnUnknownEntityIsNoError},
		{"DeleteLeavesNeighbouringKeysAlone", testDeleteLeavesNeighbouringKeysAlone},
		{"DeletedEntityStartsOver", testDeletedEntityStartsOver},
	}
}

func (e *env) deleteEntity(entity string) {
	e.t.Helper()
	if err := e.p.DeleteEntity(e.ctx, entity); err != nil {
		e.t.Fatalf("DeleteEntity(%q): %v", entity, err)
	}
}

func testDeleteRemovesEveryPartition(t *testing.T, s *suite) {
	e := s.open(t)
	for part := range uint64(3) {
		e.commitTo(queueA, "doomed", provider.Commit{Partition: part, Events: events(t, 1, 2)})
	}
	e.deleteEntity("doomed")
	for part := range uint64(3) {
		e.requireNoHistory("doomed", part)
	}
	e.requireNotFound("doomed")
}

func testDeleteRemovesMetadataAndIndexEntries(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "doomed", provider.Commit{SetMetadata: provider.Metadata{keyColor: "red", keyGroup: "g", "x": "y"}})
	e.commitTo(queueA, "survivor", provider.Commit{SetMetadata: provider.Metadata{keyColor: "red"}})
	e.deleteEntity("doomed")
	e.requireNotFound("doomed")
	e.requireListed(keyColor, "red", "survivor")
	e.requireListed(keyGroup, "g")
}

func testDeleteRemovesPendingMessagesInEveryQueue(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "doomed", provider.Commit{Events: events(t, 1)})
	delayed := e.delayedMsg(queueA, "doomed", time.Hour)
	e.send(e.msg(queueA, "doomed"), delayed, e.msg(queueB, "doomed"), e.msg(workA, "doomed"), e.msg(workB, "doomed"))
	keep := []provider.Outgoing{e.msg(queueB, "survivor"), e.msg(workA, "survivor")}
	e.send(keep...)
	e.deleteEntity("doomed")
	e.requireDepth(queueA, 0)
	e.requireDepth(queueB, 1)
	e.requireDepth(workA, 1)
	e.requireDepth(workB, 0)
	e.expectNoEntity(queueA)
	requireMessages(t, e.fetchEntity(queueB, "survivor").Messages, keep[:1], 1)
	requireMessage(t, e.fetchWork(workA).Message, keep[1].Message, 1)
}

func testDeletingAnUnknownEntityIsNoError(t *testing.T, s *suite) {
	e := s.open(t)
	e.deleteEntity("never-existed")
	e.deleteEntity("never-existed")
	e.requireNotFound("never-existed")
}

func testDeleteLeavesNeighbouringKeysAlone(t *testing.T, s *suite) {
	e := s.open(t)
	neighbours := []string{"a", "ab", "a\x00", "a/", "a.b", "b"}
	want := map[string][]provider.Event{}
	for _, name := range neighbours {
		evs := events(t, 1, 2)
		e.commitTo(queueA, name, provider.Commit{Events: evs, SetMetadata: provider.Metadata{keyGroup: "n"}})
		want[name] = evs
	}
	e.send(e.msg(workA, "ab"))
	e.deleteEntity("a")
	e.requireNotFound("a")
	for _, name := range neighbours[1:] {
		e.requireHistory(name, 0, want[name])
	}
	rest := slices.Clone(neighbours[1:])
	slices.Sort(rest)
	e.requireListed(keyGroup, "n", rest...)
	e.requireDepth(workA, 1)
}

func testDeletedEntityStartsOver(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "phoenix", provider.Commit{Partition: 4, Events: events(t, 1), SetMetadata: provider.Metadata{"k": "v"}})
	e.deleteEntity("phoenix")
	e.send(e.msg(queueA, "phoenix"))
	b := e.fetchEntity(queueA, "phoenix")
	if b.Partition != 0 || len(b.History) != 0 || len(b.Metadata) != 0 {
		t.Fatalf("batch after delete: partition %d, %d events, metadata %q; want a new entity", b.Partition, len(b.History), b.Metadata)
	}
	evs := events(t, 1)
	e.commit(b, provider.Commit{Events: evs})
	e.requireHistory("phoenix", 0, evs)
	e.requireMetadata("phoenix", provider.Metadata{})
}
