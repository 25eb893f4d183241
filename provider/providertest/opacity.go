package providertest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/reprise/reprise/provider"
)

func opacityTests() []conformanceTest {
	return []conformanceTest{
		{"EventPayloadsRoundTripByteForByte", testEventPayloadsRoundTrip},
		{"EntityMessagePayloadsRoundTripByteForByte", testEntityMessagePayloadsRoundTrip},
		{"WorkMessagePayloadsRoundTripByteForByte", testWorkMessagePayloadsRoundTrip},
		{"MetadataRoundTripsByteForByte", testMetadataRoundTrips},
		{"EntityKeysAreOpaqueAndDistinct", testEntityKeysAreOpaqueAndDistinct},
		{"ProviderDoesNotAliasCallerBuffers", testProviderDoesNotAliasCallerBuffers},
		{"ReadsReturnIndependentCopies", testReadsReturnIndependentCopies},
	}
}

func testEventPayloadsRoundTrip(t *testing.T, s *suite) {
	e := s.open(t)
	var evs []provider.Event
	for i, data := range opaquePayloads(t) {
		evs = append(evs, provider.Event{Seq: uint64(i + 1), Data: data})
	}
	e.commitTo(queueA, "opaque", provider.Commit{Events: evs})
	e.requireHistory("opaque", 0, evs)
	e.send(e.msg(queueA, "opaque"))
	requireEvents(t, "batch history", e.fetchEntity(queueA, "opaque").History, evs)
}

func testEntityMessagePayloadsRoundTrip(t *testing.T, s *suite) {
	e := s.open(t)
	var sent []provider.Outgoing
	for _, data := range opaquePayloads(t) {
		m := e.msg(queueA, "opaque")
		m.Message.Data = data
		sent = append(sent, m)
	}
	e.send(sent...)
	requireMessages(t, e.fetchEntity(queueA, "opaque").Messages, sent, 1)
}

func testWorkMessagePayloadsRoundTrip(t *testing.T, s *suite) {
	e := s.open(t)
	payloads := opaquePayloads(t)
	byID := map[string][]byte{}
	for _, data := range payloads {
		m := e.msg(workA, "opaque")
		m.Message.Data = data
		byID[m.Message.ID] = data
		e.send(m)
	}
	for range payloads {
		w := e.fetchWork(workA)
		want, ok := byID[w.Message.ID]
		if !ok {
			t.Fatalf("unexpected or repeated work message %q", w.Message.ID)
		}
		if !bytes.Equal(w.Message.Data, want) {
			t.Fatalf("work message %q data changed: %d bytes, want %d", w.Message.ID, len(w.Message.Data), len(want))
		}
		delete(byID, w.Message.ID)
	}
}

func testMetadataRoundTrips(t *testing.T, s *suite) {
	e := s.open(t)
	want := provider.Metadata{}
	for i, data := range opaquePayloads(t) {
		want[fmt.Sprintf("value-%d", i)] = string(data)
	}
	for i, key := range []string{"a.b", "a/b", "*", ">", "nul\x00key", "ключ", "\xff"} {
		want[key] = fmt.Sprintf("key-%d", i)
	}
	want[keyColor] = "\x00\xff not text"
	e.commitTo(queueA, "opaque", provider.Commit{SetMetadata: want})
	e.requireMetadata("opaque", want)
	e.requireListed(keyColor, "\x00\xff not text", "opaque")
	e.send(e.msg(queueA, "opaque"))
	requireMetadataEqual(t, "batch metadata", e.fetchEntity(queueA, "opaque").Metadata, want)
}

func testEntityKeysAreOpaqueAndDistinct(t *testing.T, s *suite) {
	e := s.open(t)
	names := opaqueEntities()
	want := map[string][]provider.Event{}
	for i, name := range names {
		evs := []provider.Event{{Seq: 1, Data: []byte(fmt.Sprintf("entity %d", i))}}
		b := e.commitTo(queueA, name, provider.Commit{Events: evs, SetMetadata: provider.Metadata{"name": name}})
		if b.Lock.Entity != name {
			t.Fatalf("lock entity = %q, want %q", b.Lock.Entity, name)
		}
		want[name] = evs
	}
	for _, name := range names {
		e.requireHistory(name, 0, want[name])
		e.requireMetadata(name, provider.Metadata{"name": name})
	}
	// Work messages keep their entity too.
	for _, name := range names {
		e.send(e.msg(workA, name))
		w := e.fetchWork(workA)
		if w.Message.Entity != name {
			t.Fatalf("work message entity = %q, want %q", w.Message.Entity, name)
		}
		if err := e.p.CompleteWork(e.ctx, w.Lock, nil); err != nil {
			t.Fatalf("CompleteWork: %v", err)
		}
	}
}

func testProviderDoesNotAliasCallerBuffers(t *testing.T, s *suite) {
	e := s.open(t)
	evData := []byte("event-data")
	meta := provider.Metadata{"k": "v"}
	e.commitTo(queueA, "alias", provider.Commit{Events: []provider.Event{{Seq: 1, Data: evData}}, SetMetadata: meta})
	copy(evData, "XXXXX")
	meta["k"] = "changed"
	meta["new"] = "added"
	e.requireHistory("alias", 0, []provider.Event{{Seq: 1, Data: []byte("event-data")}})
	e.requireMetadata("alias", provider.Metadata{"k": "v"})

	msgData := []byte("message-data")
	e.send(provider.Outgoing{Queue: workA, Message: provider.Message{ID: "alias-msg", Entity: "alias", Data: msgData}})
	copy(msgData, "XXXXX")
	if w := e.fetchWork(workA); string(w.Message.Data) != "message-data" {
		t.Fatalf("work message data = %q after the caller reused its buffer, want %q", w.Message.Data, "message-data")
	}
}

func testReadsReturnIndependentCopies(t *testing.T, s *suite) {
	e := s.open(t)
	evs := []provider.Event{{Seq: 1, Data: []byte("stored")}}
	e.commitTo(queueA, "copies", provider.Commit{Events: evs, SetMetadata: provider.Metadata{"k": "v"}})
	h := e.history("copies", 0)
	copy(h[0].Data, "XXXXXX")
	h[0].Seq = 99
	e.send(e.msg(queueA, "copies"))
	b := e.fetchEntity(queueA, "copies")
	copy(b.History[0].Data, "YYYYYY")
	b.Metadata["k"] = "changed"
	e.requireHistory("copies", 0, []provider.Event{{Seq: 1, Data: []byte("stored")}})
	e.requireMetadata("copies", provider.Metadata{"k": "v"})
	requireEvents(t, "history read again", e.history("copies", 0), []provider.Event{{Seq: 1, Data: []byte("stored")}})
}
