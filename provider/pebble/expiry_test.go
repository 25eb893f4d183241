package pebble_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
	pstore "github.com/reprise/reprise/provider/pebble"
)

func mustConsumed(t *testing.T, s *pstore.Store, entity, id string, want bool) {
	t.Helper()
	got, err := s.Consumed(entity, id)
	if err != nil || got != want {
		t.Fatalf("Consumed(%q, %q) = %v, %v; want %v", entity, id, got, err, want)
	}
}

func dueAt(t *testing.T, s *pstore.Store, now time.Time) []pstore.Expiry {
	t.Helper()
	due, err := s.DueExpiries(now, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	return due
}

// TestPartitionExpiryDropsItsConsumedIDs: the ids of the messages consumed
// by commits to expired partitions go with them; those of the current
// partition stay (consumed-id records are bounded by the retention of the
// executions that consumed them).
func TestPartitionExpiryDropsItsConsumedIDs(t *testing.T) {
	s := newStore(t)
	at := time.Unix(1000, 0)
	mustApply(t, s, []pstore.Update{
		{Entity: "e", Events: []provider.Event{{Seq: 1, Data: []byte("a")}}, Consumed: []string{"old"}},
		{Entity: "e", Partition: 1, Events: []provider.Event{{Seq: 1, Data: []byte("b")}}, Consumed: []string{"new"},
			ExpirePartitions: provider.PartitionExpiry{Below: 1, At: at}},
	}, nil)
	if due := dueAt(t, s, at.Add(-time.Nanosecond)); len(due) != 0 {
		t.Fatalf("due before their time: %+v", due)
	}
	due := dueAt(t, s, at)
	if len(due) != 1 || due[0].Entity != "e" || due[0].Below != 1 || !due[0].At.Equal(at) {
		t.Fatalf("due = %+v, want e below 1 at %v", due, at)
	}
	if err := s.ExpirePartitions("e", 1); err != nil {
		t.Fatal(err)
	}
	if h, err := s.History("e", 0); err != nil || len(h) != 0 {
		t.Fatalf("partition 0 after expiry: %v, %v", h, err)
	}
	if h, err := s.History("e", 1); err != nil || len(h) != 1 {
		t.Fatalf("partition 1 after expiry: %v, %v", h, err)
	}
	mustConsumed(t, s, "e", "old", false)
	mustConsumed(t, s, "e", "new", true)
	if due := dueAt(t, s, at.Add(time.Hour)); len(due) != 0 {
		t.Fatalf("due after it was carried out: %+v", due)
	}
}

// TestEveryUpdateSetsTheEntityExpiryAnew and a Delete drops every expiry.
func TestEveryUpdateSetsTheEntityExpiryAnew(t *testing.T) {
	s := newStore(t)
	at := time.Unix(1000, 0)
	mustApply(t, s, []pstore.Update{{Entity: "e", ExpireAt: at}}, nil)
	if got, err := s.EntityExpiry("e"); err != nil || !got.Equal(at) {
		t.Fatalf("EntityExpiry = %v, %v; want %v", got, err, at)
	}
	later := at.Add(time.Hour)
	mustApply(t, s, []pstore.Update{{Entity: "e", ExpireAt: later}}, nil)
	if due := dueAt(t, s, later.Add(-time.Second)); len(due) != 0 {
		t.Fatalf("the replaced expiry is still due: %+v", due)
	}
	mustApply(t, s, []pstore.Update{{Entity: "e"}}, nil)
	if got, _ := s.EntityExpiry("e"); !got.IsZero() {
		t.Fatalf("an update without expiry left %v", got)
	}
	if due := dueAt(t, s, later.Add(time.Hour)); len(due) != 0 {
		t.Fatalf("due after the expiry was removed: %+v", due)
	}
	mustApply(t, s, []pstore.Update{{Entity: "f", Partition: 2, ExpireAt: at, ExpirePartitions: provider.PartitionExpiry{Below: 2, At: at}}}, nil)
	mustApply(t, s, []pstore.Update{{Entity: "f", Delete: true}}, nil)
	if due := dueAt(t, s, later); len(due) != 0 {
		t.Fatalf("a deleted entity's expiries are still due: %+v", due)
	}
}

// TestPartitionExpiryKeepsTheEntityExpiry: carrying out a partition expiry
// does not cancel the entity's own expiry (an instance that continued as
// new, then finished).
func TestPartitionExpiryKeepsTheEntityExpiry(t *testing.T) {
	s := newStore(t)
	early, late := time.Unix(1000, 0), time.Unix(2000, 0)
	mustApply(t, s, []pstore.Update{
		{Entity: "e", Partition: 1, ExpirePartitions: provider.PartitionExpiry{Below: 1, At: early}},
		{Entity: "e", Partition: 2, ExpirePartitions: provider.PartitionExpiry{Below: 2, At: early.Add(time.Second)}},
		{Entity: "e", Partition: 2, ExpireAt: late},
	}, nil)
	if err := s.ExpirePartitions("e", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.ExpirePartitions("e", 2); err != nil {
		t.Fatal(err)
	}
	due := dueAt(t, s, late)
	if len(due) != 1 || due[0].Below != 0 || !due[0].At.Equal(late) {
		t.Fatalf("due = %+v, want the entity's own expiry at %v", due, late)
	}
}

// TestSnapshotCarriesExpiries: a store restored from a snapshot (its log
// trimmed below it) still expires what the snapshot's entities had
// scheduled, and no longer what the entities it replaced had.
func TestSnapshotCarriesExpiries(t *testing.T) {
	src, dst := newStore(t), newStore(t)
	at, partsAt := time.Unix(1000, 0), time.Unix(900, 0)
	mustApply(t, src, []pstore.Update{
		{Entity: "done", Events: []provider.Event{{Seq: 1, Data: []byte("a")}}, ExpireAt: at},
		{Entity: "loop", Events: []provider.Event{{Seq: 1}}},
		{Entity: "loop", Partition: 1, Events: []provider.Event{{Seq: 1}}, ExpirePartitions: provider.PartitionExpiry{Below: 1, At: partsAt}},
		{Entity: "loop", Partition: 2, Events: []provider.Event{{Seq: 1}}, ExpirePartitions: provider.PartitionExpiry{Below: 2, At: at}},
	}, nil)
	if err := src.ExpirePartitions("loop", 1); err != nil {
		t.Fatal(err)
	}
	mustApply(t, dst, []pstore.Update{{Entity: "stale", ExpireAt: partsAt}}, nil)
	var buf bytes.Buffer
	all := func(string) bool { return true }
	if _, err := src.WriteSnapshot(&buf, all, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.RestoreSnapshot(&buf, all, nil); err != nil {
		t.Fatal(err)
	}
	due := dueAt(t, dst, at)
	if len(due) != 2 || due[0].Entity != "done" || due[0].Below != 0 || due[1].Entity != "loop" || due[1].Below != 2 {
		t.Fatalf("due after restore = %+v, want done's expiry and loop's below 2", due)
	}
	if err := dst.ExpirePartitions("loop", 2); err != nil {
		t.Fatal(err)
	}
	for part, want := range []int{0, 0, 1} {
		if h, err := dst.History("loop", uint64(part)); err != nil || len(h) != want {
			t.Fatalf("loop partition %d after restore and expiry: %d events, %v; want %d", part, len(h), err, want)
		}
	}
}
