package runtime

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestEventRoundTrip(t *testing.T) {
	cases := []Event{
		{Kind: KindTurnStarted, Time: time.Date(2026, 5, 1, 2, 3, 4, 5, time.UTC)},
		{Kind: KindTurnStarted, Time: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Kind: KindExecutionStarted, Name: "order", Version: "2", Payload: []byte(`{"id":1}`),
			Parent: &ParentRef{InstanceID: "p/1", Partition: 3, Decision: 9}},
		{Kind: KindExecutionStarted, Name: "root-parent-zero", Parent: &ParentRef{}},
		{Kind: KindActivityScheduled, Decision: 7, Name: "charge", Queue: "gpu", Attempt: 2, Timeout: time.Second},
		{Kind: KindActivityFailed, Decision: 7, Failure: &Error{Type: "Boom", Message: "m", NonRetryable: true, Stack: "s"}},
		{Kind: KindActivityFailed, Decision: 8, Failure: &Error{}},
		{Kind: KindContinuedAsNew, Payload: []byte("1"), Carried: []CarriedEvent{{Name: "a", Payload: []byte("x")}, {}}},
		{Kind: KindEventRaised, Name: "e", Payload: []byte{0, 0xff, 0}},
	}
	for _, want := range cases {
		got, err := DecodeEvent(EncodeEvent(&want))
		if err != nil {
			t.Fatalf("%s: %v", want.Kind, err)
		}
		if !reflect.DeepEqual(normalise(got), normalise(want)) {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", want.Kind, got, want)
		}
	}
}

// normalise clears the fields DeepEqual cannot compare usefully.
func normalise(e Event) Event {
	if e.Failure != nil {
		f := *e.Failure
		f.cause = nil
		e.Failure = &f
	}
	return e
}

func TestEnvelopeRoundTrip(t *testing.T) {
	m := envelope{kind: msgChildDone, partition: 4, flags: flagFailed, ev: Event{Decision: 3, Failure: &Error{Message: "x"}}}
	got, err := decodeEnvelope(encodeEnvelope(&m))
	if err != nil {
		t.Fatal(err)
	}
	if got.kind != m.kind || got.partition != 4 || got.flags != flagFailed || got.ev.Decision != 3 || got.ev.Failure.Message != "x" {
		t.Fatalf("got %+v", got)
	}
}

func TestDecodeRejectsCorruptRecords(t *testing.T) {
	good := EncodeEvent(&Event{Kind: KindEventRaised, Name: "abc", Payload: []byte("payload")})
	for _, bad := range [][]byte{nil, {1}, {9, 1}, good[:len(good)-3], append(bytes.Clone(good[:2]), 7, 0xff, 0xff)} {
		if _, err := DecodeEvent(bad); !errors.Is(err, errCorrupt) {
			t.Errorf("DecodeEvent(%x) = %v, want errCorrupt", bad, err)
		}
	}
	if _, err := decodeEnvelope([]byte{1, 99}); !errors.Is(err, errCorrupt) {
		t.Errorf("unknown message kind accepted: %v", err)
	}
	unknownKind := bytes.Clone(good)
	unknownKind[1] = 48
	if _, err := DecodeEvent(unknownKind); !errors.Is(err, errCorrupt) {
		t.Errorf("unknown event kind accepted: %v", err)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(encodeEnvelope(&envelope{kind: msgStart, ev: Event{Name: "n", Payload: []byte("{}"), Parent: &ParentRef{InstanceID: "p"}}}))
	f.Add(encodeEnvelope(&envelope{kind: msgActivityResult, partition: 2, flags: flagFailed, ev: Event{Failure: &Error{Message: "m"}}}))
	f.Add([]byte{1, 5, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeEnvelope(data)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to something that decodes alike.
		again, err := decodeEnvelope(encodeEnvelope(&m))
		if err != nil || again.kind != m.kind || again.ev.Name != m.ev.Name || !bytes.Equal(again.ev.Payload, m.ev.Payload) {
			t.Fatalf("re-encode mismatch: %+v vs %+v (%v)", m, again, err)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(EncodeEvent(&Event{Kind: KindContinuedAsNew, Carried: []CarriedEvent{{Name: "a"}}}))
	f.Add(EncodeEvent(&Event{Kind: KindActivityFailed, Failure: &Error{Type: "t"}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeEvent(data)
	})
}
