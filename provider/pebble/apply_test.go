package pebble_test

import (
	"bytes"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/reprise/reprise/provider"
	pstore "github.com/reprise/reprise/provider/pebble"
)

func TestApplyThenReadRoundTrips(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, []pstore.Update{{
		Entity:      "e1",
		Events:      events(1, 2, 3),
		SetMetadata: provider.Metadata{"phase": "one", "note": "free text"},
		Consumed:    []string{"m-1", "m-2"},
		LogSeq:      42,
	}}, map[string]uint64{"shard-0": 7})

	evs := history(t, s, "e1", 0)
	if len(evs) != 3 {
		t.Fatalf("history has %d events, want 3", len(evs))
	}
	for _, e := range evs {
		if want := "data-" + string(rune('0'+e.Seq)); string(e.Data) != want {
			t.Errorf("event %d data %q, want %q", e.Seq, e.Data, want)
		}
	}
	if st := entityState(t, s, "e1"); st != (pstore.EntityState{Exists: true, Partition: 0, LogSeq: 42}) {
		t.Errorf("state = %+v", st)
	}
	md, err := s.Metadata("e1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (provider.Metadata{"phase": "one", "note": "free text"}); !maps.Equal(md, want) {
		t.Errorf("metadata = %v, want %v", md, want)
	}
	if !consumed(t, s, "e1", "m-1") || !consumed(t, s, "e1", "m-2") || consumed(t, s, "e1", "m-3") {
		t.Error("consumed ids not recorded as applied")
	}
	if consumed(t, s, "e2", "m-1") {
		t.Error("consumed id leaked to another entity")
	}
	if got := watermark(t, s, "shard-0"); got != 7 {
		t.Errorf("watermark = %d, want 7", got)
	}
	last, ok, err := s.LastSeq("e1", 0)
	if err != nil || !ok || last != 3 {
		t.Errorf("LastSeq = %d, %v, %v; want 3, true, nil", last, ok, err)
	}
}

func TestUnknownEntityReadsEmpty(t *testing.T) {
	s := newStore(t)
	if st := entityState(t, s, "nobody"); st != (pstore.EntityState{}) {
		t.Errorf("state = %+v, want zero", st)
	}
	if evs := history(t, s, "nobody", 0); len(evs) != 0 {
		t.Errorf("history = %v, want empty", evs)
	}
	if _, ok, err := s.LastSeq("nobody", 0); ok || err != nil {
		t.Errorf("LastSeq found=%v err=%v, want false, nil", ok, err)
	}
	if _, err := s.Metadata("nobody"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Metadata err = %v, want ErrNotFound", err)
	}
	if got := watermark(t, s, "never"); got != 0 {
		t.Errorf("watermark = %d, want 0", got)
	}
}

func TestEntityWithoutMetadataHasEmptyMetadata(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, []pstore.Update{{Entity: "e", Consumed: []string{"m"}}}, nil)
	md, err := s.Metadata("e")
	if err != nil || md == nil || len(md) != 0 {
		t.Fatalf("Metadata = %v, %v; want empty map, nil", md, err)
	}
}

func TestPayloadBytesComeBackUnchanged(t *testing.T) {
	s := newStore(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var in []provider.Event
	for i := range 50 {
		data := make([]byte, rng.IntN(4096))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		in = append(in, provider.Event{Seq: uint64(i) * 3, Data: data})
	}
	in = append(in, provider.Event{Seq: math.MaxUint64, Data: nil})
	mustApply(t, s, []pstore.Update{{Entity: "\x00bin\xff/", Events: in}}, nil)
	out := history(t, s, "\x00bin\xff/", 0)
	if len(out) != len(in) {
		t.Fatalf("got %d events, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i].Seq != in[i].Seq || !bytes.Equal(out[i].Data, in[i].Data) {
			t.Fatalf("event %d differs: seq %d vs %d", i, out[i].Seq, in[i].Seq)
		}
	}
	// Appending to one event's data must not clobber the next one.
	saved := bytes.Clone(out[1].Data)
	_ = append(out[0].Data, 0xAA, 0xBB)
	if !bytes.Equal(out[1].Data, saved) {
		t.Fatal("append to one event's Data overwrote the next event")
	}
}

func TestPartitionsAreSeparateAndHigherBecomesCurrent(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, []pstore.Update{{Entity: "e", Events: events(1, 2)}}, nil)
	mustApply(t, s, []pstore.Update{{Entity: "e", Partition: 1, Events: events(1)}}, nil)

	wantSeqs(t, s, "e", 0, 1, 2)
	wantSeqs(t, s, "e", 1, 1)
	if st := entityState(t, s, "e"); st.Partition != 1 {
		t.Fatalf("partition = %d, want 1", st.Partition)
	}
	// Seq 2 is new in partition 1 although partition 0 has it.
	mustApply(t, s, []pstore.Update{{Entity: "e", Partition: 1, Events: events(2)}}, nil)
	wantSeqs(t, s, "e", 1, 1, 2)

	// A higher partition without events still becomes current.
	mustApply(t, s, []pstore.Update{{Entity: "e", Partition: 5}}, nil)
	if st := entityState(t, s, "e"); st.Partition != 5 {
		t.Fatalf("partition = %d, want 5", st.Partition)
	}
	wantSeqs(t, s, "e", 5)
	if _, ok, _ := s.LastSeq("e", 5); ok {
		t.Error("LastSeq of empty partition 5 found something")
	}
	last, ok, err := s.LastSeq("e", 0)
	if err != nil || !ok || last != 2 {
		t.Errorf("LastSeq(e, 0) = %d, %v, %v; want 2", last, ok, err)
	}
}

func TestMaximumPartitionIsUsable(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, []pstore.Update{{Entity: "e", Partition: math.MaxUint64, Events: events(math.MaxUint64, 0)}}, nil)
	wantSeqs(t, s, "e", math.MaxUint64, 0, math.MaxUint64)
	wantSeqs(t, s, "e", math.MaxUint64-1)
	err := s.Apply([]pstore.Update{{Entity: "e", Partition: math.MaxUint64, Events: events(math.MaxUint64)}}, nil)
	if !errors.Is(err, provider.ErrDuplicateEvent) {
		t.Fatalf("err = %v, want ErrDuplicateEvent", err)
	}
}

func TestStalePartitionIsRejectedAndWritesNothing(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, []pstore.Update{{Entity: "e", Partition: 3, Events: events(1)}}, nil)
	err := s.Apply([]pstore.Update{
		{Entity: "other", Events: events(1)},
		{Entity: "e", Partition: 2, Events: events(9)},
	}, map[string]uint64{"w": 1})
	if !errors.Is(err, provider.ErrStalePartition) {
		t.Fatalf("err = %v, want ErrStalePartition", err)
	}
	wantSeqs(t, s, "e", 2)
	wantSeqs(t, s, "other", 0)
	if entityState(t, s, "other").Exists || watermark(t, s, "w") != 0 {
		t.Fatal("a rejected Apply wrote part of its batch")
	}
	// With Delete in the same update a lower partition is fine.
	mustApply(t, s, []pstore.Update{{Entity: "e", Delete: true, Partition: 0, Events: events(1)}}, nil)
	if st := entityState(t, s, "e"); st.Partition != 0 || !st.Exists {
		t.Fatalf("state after delete+write = %+v", st)
	}
	wantSeqs(t, s, "e", 3)
	wantSeqs(t, s, "e", 0, 1)
}

func TestDuplicateSeqIsRejectedAtomically(t *testing.T) {
	cases := []struct {
		name    string
		updates []pstore.Update
		seq     string
	}{
		{"existing seq", []pstore.Update{{Entity: "e", Events: events(10, 2)}}, "seq 2"},
		{"existing seq at head", []pstore.Update{{Entity: "e", Events: events(3)}}, "seq 3"},
		{"repeat within update", []pstore.Update{{Entity: "e", Events: events(7, 8, 7)}}, "seq 7"},
		{"repeat across updates of one call", []pstore.Update{
			{Entity: "e", Events: events(20)},
			{Entity: "e", Events: events(20)},
		}, "seq 20"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			mustApply(t, s, []pstore.Update{{Entity: "e", Events: events(1, 2, 3), LogSeq: 1}}, map[string]uint64{"w": 1})

			updates := append([]pstore.Update{{
				Entity: "bystander", Events: events(1), SetMetadata: provider.Metadata{"phase": "x"},
			}}, tc.updates...)
			updates[len(updates)-1].SetMetadata = provider.Metadata{"phase": "changed"}
			updates[len(updates)-1].Consumed = []string{"m"}
			updates[len(updates)-1].LogSeq = 99
			err := s.Apply(updates, map[string]uint64{"w": 2})
			if !errors.Is(err, provider.ErrDuplicateEvent) {
				t.Fatalf("err = %v, want ErrDuplicateEvent", err)
			}
			for _, part := range []string{`"e"`, "partition 0", tc.seq} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not name %s", err, part)
				}
			}
			wantSeqs(t, s, "e", 0, 1, 2, 3)
			if st := entityState(t, s, "e"); st.LogSeq != 1 {
				t.Errorf("log seq = %d, want 1", st.LogSeq)
			}
			if entityState(t, s, "bystander").Exists || consumed(t, s, "e", "m") || watermark(t, s, "w") != 1 {
				t.Error("a rejected Apply wrote part of its batch")
			}
			if got := list(t, s, "phase", "x"); len(got) != 0 {
				t.Errorf("index has %v from a rejected Apply", got)
			}
		})
	}
}

func TestSeqBelowHeadThatIsNewIsAccepted(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, []pstore.Update{{Entity: "e", Events: events(1, 5)}}, nil)
	mustApply(t, s, []pstore.Update{{Entity: "e", Events: events(3, 2, 4)}}, nil)
	wantSeqs(t, s, "e", 0, 1, 2, 3, 4, 5)
}

func TestUpdatesOfOneEntityInOneCallApplyInOrder(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, []pstore.Update{
		{Entity: "e", Events: events(1), SetMetadata: provider.Metadata{"phase": "a"}, LogSeq: 1},
		{Entity: "e", Partition: 2, Events: events(1), SetMetadata: provider.Metadata{"phase": "b"}, LogSeq: 2},
		{Entity: "e", Partition: 2, Events: events(2), DeleteMetadata: []string{"phase"}},
		{Entity: "e", Partition: 2, SetMetadata: provider.Metadata{"phase": "c"}},
	}, nil)
	if st := entityState(t, s, "e"); st != (pstore.EntityState{Exists: true, Partition: 2, LogSeq: 2}) {
		t.Errorf("state = %+v", st)
	}
	wantSeqs(t, s, "e", 0, 1)
	wantSeqs(t, s, "e", 2, 1, 2)
	for value, want := range map[string]int{"a": 0, "b": 0, "c": 1} {
		if got := list(t, s, "phase", value); len(got) != want {
			t.Errorf("list phase=%s = %v, want %d entities", value, got, want)
		}
	}
}

func TestInvalidArgumentsAreRejected(t *testing.T) {
	s := newStore(t)
	if err := s.Apply([]pstore.Update{{Entity: ""}}, nil); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("empty entity: err = %v", err)
	}
	long := strings.Repeat("x", provider.MaxEntityLen+1)
	if err := s.Apply([]pstore.Update{{Entity: long}}, nil); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("long entity: err = %v", err)
	}
	if err := s.Apply(nil, map[string]uint64{"": 1}); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("empty watermark name: err = %v", err)
	}
	if _, err := s.History("", 0); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("History empty entity: err = %v", err)
	}
	if _, err := pstore.Open(pstore.Options{}); !errors.Is(err, provider.ErrInvalidArgument) {
		t.Errorf("Open without dir: err = %v", err)
	}
}
