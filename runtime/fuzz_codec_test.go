package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// The seed corpora of these targets are under testdata/fuzz/<target>.

// canonical is e with the differences no reader can observe removed: empty
// and nil byte slices and lists, time zones and monotonic readings, and the
// unexported cause of a failure. The wire codec writes no time field for a
// zero time nor for one at the Unix epoch (UnixNano 0), so both read back as
// the zero time: canonical maps the epoch to zero too.
func canonical(e Event) Event {
	e = normalise(e)
	if len(e.Payload) == 0 {
		e.Payload = nil
	}
	if e.Time.IsZero() || e.Time.UnixNano() == 0 {
		e.Time = time.Time{}
	} else {
		e.Time = time.Unix(0, e.Time.UnixNano()).UTC()
	}
	if len(e.Carried) == 0 {
		e.Carried = nil
	}
	for i := range e.Carried {
		if len(e.Carried[i].Payload) == 0 {
			e.Carried[i].Payload = nil
		}
	}
	return e
}

// FuzzEventRoundTrip decodes arbitrary bytes as a stored history event:
// every rejection is errCorrupt, and whatever decodes re-encodes to bytes
// that decode to the same event and re-encode to the same bytes.
func FuzzEventRoundTrip(f *testing.F) {
	for _, e := range []Event{
		{Kind: KindTurnStarted, Time: time.Date(2026, 5, 1, 2, 3, 4, 5, time.UTC)},
		{Kind: KindExecutionStarted, Name: "order", Version: "2", Payload: []byte(`{"id":1}`),
			Parent: &ParentRef{InstanceID: "p/1", Partition: 3, Decision: 9}},
		{Kind: KindActivityScheduled, Decision: 7, Name: "charge", Queue: "gpu", Attempt: 2, Timeout: time.Second},
		{Kind: KindActivityFailed, Decision: 7, Failure: &Error{Type: "Boom", Message: "m", NonRetryable: true, Stack: "s"}},
		{Kind: KindContinuedAsNew, Payload: []byte("1"), Carried: []CarriedEvent{{Name: "a", Payload: []byte("x")}, {}}},
		{Kind: KindEventRaised, Name: "e", Payload: []byte{0, 0xff, 0}},
	} {
		f.Add(EncodeEvent(&e))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEvent(data)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("DecodeEvent(%x) = %v, which does not wrap errCorrupt", data, err)
			}
			return
		}
		enc := EncodeEvent(&e)
		again, err := DecodeEvent(enc)
		if err != nil {
			t.Fatalf("re-decoding the encoding of %+v: %v", e, err)
		}
		if !reflect.DeepEqual(canonical(again), canonical(e)) {
			t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", again, e)
		}
		if !bytes.Equal(EncodeEvent(&again), enc) {
			t.Fatalf("encoding of %+v is not stable", e)
		}
	})
}

// FuzzEnvelopeRoundTrip decodes arbitrary bytes as a message envelope (the
// payload of every message the runtime receives): every rejection is
// errCorrupt, and whatever decodes survives an encode/decode unchanged.
func FuzzEnvelopeRoundTrip(f *testing.F) {
	for _, m := range []envelope{
		{kind: msgStart, ev: Event{Name: "n", Payload: []byte("{}"), Parent: &ParentRef{InstanceID: "p"}}},
		{kind: msgActivityResult, partition: 2, flags: flagFailed, ev: Event{Decision: 4, Failure: &Error{Message: "m"}}},
		{kind: msgChildDone, partition: 4, flags: flagFailed, ev: Event{Decision: 3, Failure: &Error{Message: "x"}}},
	} {
		f.Add(encodeEnvelope(&m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeEnvelope(data)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("decodeEnvelope(%x) = %v, which does not wrap errCorrupt", data, err)
			}
			return
		}
		enc := encodeEnvelope(&m)
		again, err := decodeEnvelope(enc)
		if err != nil {
			t.Fatalf("re-decoding the encoding of %+v: %v", m, err)
		}
		m.ev, again.ev = canonical(m.ev), canonical(again.ev)
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip changed the envelope:\n got %+v\nwant %+v", again, m)
		}
		if !bytes.Equal(encodeEnvelope(&again), enc) {
			t.Fatalf("encoding of %+v is not stable", m)
		}
	})
}

// FuzzEventJSON parses arbitrary bytes as the readable JSON form of an event
// (golden histories, tools): whatever parses marshals to JSON that parses
// to the same event, and that marshals to the same JSON.
func FuzzEventJSON(f *testing.F) {
	for _, e := range []Event{
		{Kind: KindExecutionStarted, Name: "order", Payload: []byte(`{"id":1}`), Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
			Parent: &ParentRef{InstanceID: "p", Partition: 1, Decision: 2}},
		{Kind: KindActivityScheduled, Decision: 3, Name: "a", Queue: "q", Attempt: 1, Timeout: 1500 * time.Millisecond},
		{Kind: KindActivityFailed, Decision: 3, Failure: &Error{Type: "T", Message: "m"}},
		{Kind: KindContinuedAsNew, Payload: []byte{0xff}, Carried: []CarriedEvent{{Name: "e", Payload: []byte(`[1, 2]`)}}},
	} {
		b, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"TimerCreated","decision":1,"timeout":"-1ns"}`))
	f.Add([]byte(`{"kind":"Nope"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Event
		if err := json.Unmarshal(data, &e); err != nil {
			return
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("marshal %+v: %v", e, err)
		}
		var again Event
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("parsing the JSON of %+v (%s): %v", e, b, err)
		}
		if !reflect.DeepEqual(canonical(again), canonical(e)) {
			t.Fatalf("JSON round trip changed the event:\n got %+v\nwant %+v\nJSON %s", again, e, b)
		}
		b2, err := json.Marshal(again)
		if err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("JSON of %+v is not stable: %s then %s (%v)", e, b, b2, err)
		}
	})
}
