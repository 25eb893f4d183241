package providertest

import (
	"math"
	"testing"

	"github.com/reprise/reprise/provider"
)

func partitionTests() []conformanceTest {
	return []conformanceTest{
		{"HigherPartitionBecomesCurrent", testHigherPartitionBecomesCurrent},
		{"EmptyCommitToHigherPartitionSwitches", testEmptyCommitToHigherPartitionSwitches},
		{"SeqNumbersAreIndependentPerPartition", testSeqNumbersAreIndependentPerPartition},
		{"OlderPartitionsStayReadable", testOlderPartitionsStayReadable},
		{"PartitionNumbersMaySkip", testPartitionNumbersMaySkip},
		{"HistoryIsInNumericSeqOrder", testHistoryIsInNumericSeqOrder},
		{"HistoryAccumulatesAcrossCommits", testHistoryAccumulatesAcrossCommits},
		{"ExtremePartitionNumbersAreDistinct", testExtremePartitionNumbersAreDistinct},
		{"CommitWithoutEventsKeepsHistory", testCommitWithoutEventsKeepsHistory},
	}
}

func testHigherPartitionBecomesCurrent(t *testing.T, s *suite) {
	e := s.open(t)
	e.commitTo(queueA, "moving", provider.Commit{Events: events(t, 1)})
	if got := e.partition("moving"); got != 0 {
		t.Fatalf("CurrentPartition after a partition-0 commit = %d, want 0", got)
	}
	next := events(t, 1)
	e.commitTo(queueA, "moving", provider.Commit{Partition: 1, Events: next})
	if got := e.partition("moving"); got != 1 {
		t.Fatalf("CurrentPartition = %d, want 1", got)
	}
	e.requireHistory("moving", 1, next)
}

func testEmptyCommitToHigherPartitionSwitches(t *testing.T, s *suite) {
	e := s.open(t)
	first := events(t, 1, 2)
	e.commitTo(queueA, "switch", provider.Commit{Events: first})
	e.commitTo(queueA, "switch", provider.Commit{Partition: 2})
	if got := e.partition("switch"); got != 2 {
		t.Fatalf("CurrentPartition after an empty commit to partition 2 = %d, want 2", got)
	}
	e.requireNoHistory("switch", 2)
	e.requireHistory("switch", 0, first)
	e.send(e.msg(queueA, "switch"))
	b := e.fetchEntity(queueA, "switch")
	if b.Partition != 2 || len(b.History) != 0 {
		t.Fatalf("batch after the switch: partition %d with %d events, want 2 with none", b.Partition, len(b.History))
	}
}

func testSeqNumbersAreIndependentPerPartition(t *testing.T, s *suite) {
	e := s.open(t)
	p0 := events(t, 1, 2, 3)
	p1 := events(t, 1, 2, 3)
	e.commitTo(queueA, "isolated", provider.Commit{Events: p0})
	e.commitTo(queueA, "isolated", provider.Commit{Partition: 1, Events: p1})
	e.requireHistory("isolated", 0, p0)
	e.requireHistory("isolated", 1, p1)
}

func testOlderPartitionsStayReadable(t *testing.T, s *suite) {
	e := s.open(t)
	var want [][]provider.Event
	for part := range uint64(4) {
		evs := events(t, 1, 2)
		e.commitTo(queueA, "archive", provider.Commit{Partition: part, Events: evs})
		want = append(want, evs)
	}
	for part, evs := range want {
		e.requireHistory("archive", uint64(part), evs)
	}
}

func testPartitionNumbersMaySkip(t *testing.T, s *suite) {
	e := s.open(t)
	evs := events(t, 1)
	e.commitTo(queueA, "skipper", provider.Commit{Partition: 7, Events: evs})
	if got := e.partition("skipper"); got != 7 {
		t.Fatalf("CurrentPartition = %d, want 7", got)
	}
	for part := range uint64(7) {
		e.requireNoHistory("skipper", part)
	}
	e.requireHistory("skipper", 7, evs)
}

func testHistoryIsInNumericSeqOrder(t *testing.T, s *suite) {
	e := s.open(t)
	// Orders that differ numerically and as decimal or little-endian text.
	a := events(t, 256, 2, 1<<40)
	b := events(t, 255, 0, 65536, 10)
	e.commitTo(queueA, "sorted", provider.Commit{Events: a})
	e.commitTo(queueA, "sorted", provider.Commit{Events: b})
	byseq := map[uint64]provider.Event{}
	for _, ev := range append(append([]provider.Event{}, a...), b...) {
		byseq[ev.Seq] = ev
	}
	var want []provider.Event
	for _, seq := range []uint64{0, 2, 10, 255, 256, 65536, 1 << 40} {
		want = append(want, byseq[seq])
	}
	e.requireHistory("sorted", 0, want)
	e.send(e.msg(queueA, "sorted"))
	requireEvents(t, "batch history", e.fetchEntity(queueA, "sorted").History, want)
}

func testHistoryAccumulatesAcrossCommits(t *testing.T, s *suite) {
	e := s.open(t)
	var want []provider.Event
	for i := range uint64(5) {
		evs := events(t, 2*i+1, 2*i+2)
		e.commitTo(queueA, "growing", provider.Commit{Events: evs})
		want = append(want, evs...)
		e.requireHistory("growing", 0, want)
	}
}

func testExtremePartitionNumbersAreDistinct(t *testing.T, s *suite) {
	e := s.open(t)
	parts := []uint64{255, 256, 1 << 32, math.MaxUint64}
	want := map[uint64][]provider.Event{}
	for _, part := range parts {
		evs := events(t, 1, math.MaxUint64)
		e.commitTo(queueA, "extreme", provider.Commit{Partition: part, Events: evs})
		want[part] = evs
	}
	if got := e.partition("extreme"); got != math.MaxUint64 {
		t.Fatalf("CurrentPartition = %d, want MaxUint64", got)
	}
	for _, part := range parts {
		e.requireHistory("extreme", part, want[part])
	}
}

func testCommitWithoutEventsKeepsHistory(t *testing.T, s *suite) {
	e := s.open(t)
	evs := events(t, 1, 2)
	e.commitTo(queueA, "steady", provider.Commit{Partition: 3, Events: evs})
	e.commitTo(queueA, "steady", provider.Commit{Partition: 3})
	e.commitTo(queueA, "steady", provider.Commit{Partition: 3, SetMetadata: provider.Metadata{"k": "v"}})
	if got := e.partition("steady"); got != 3 {
		t.Fatalf("CurrentPartition = %d, want 3", got)
	}
	e.requireHistory("steady", 3, evs)
}
