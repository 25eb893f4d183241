package jetstream

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

func sampleRecord() *record {
	return &record{
		kind:      kindCommit,
		entity:    "ent\x00ity/.*>",
		partition: 3,
		events:    []provider.Event{{Seq: 1, Data: []byte{0, 0xff}}, {Seq: 9, Data: []byte{}}},
		setMeta:   provider.Metadata{"b": "2", "a": "\xff"},
		delMeta:   []string{"gone"},
		sends: []provider.Outgoing{
			{Queue: "q", Message: provider.Message{ID: "i", Entity: "e", Data: []byte("d"), NotBefore: time.Unix(0, 1234567)}},
			{Queue: "w", Message: provider.Message{ID: "j", Entity: "f", Data: []byte{}}},
		},
		cancels:  []provider.MessageRef{{Queue: "q", ID: "old"}},
		consumed: []string{"q\x00m1"},
	}
}

func TestRecordRoundTrips(t *testing.T) {
	for _, rec := range []*record{
		sampleRecord(),
		{kind: kindCommit, entity: "x"},
		{kind: kindDelete, entity: "x", purgeBelow: 77},
	} {
		got, err := decodeRecord(encodeRecord(rec))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		// Equal up to nil versus empty Data.
		if !bytes.Equal(encodeRecord(got), encodeRecord(rec)) || got.purgeBelow != rec.purgeBelow || got.entity != rec.entity {
			t.Errorf("round trip changed the record:\n got %+v\nwant %+v", got, rec)
		}
	}
}

func TestRecordDecodeRejectsEveryTruncation(t *testing.T) {
	b := encodeRecord(sampleRecord())
	for i := range len(b) {
		if _, err := decodeRecord(b[:i]); err == nil {
			t.Fatalf("a record truncated to %d of %d bytes decoded", i, len(b))
		}
	}
}

func TestEnvelopeRoundTrips(t *testing.T) {
	for _, e := range []envelope{
		{ID: "i", Entity: "e", Data: []byte{}},
		{ID: "i\x00", Entity: "é", Data: []byte{0, 1}, DeadLettered: true, Origin: "work"},
	} {
		got, err := decodeEnvelope(encodeEnvelope(e))
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("round trip of %+v = %+v, %v", e, got, err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(sampleRecord()))
	f.Add(encodeRecord(&record{kind: kindDelete, entity: "x", purgeBelow: 5}))
	f.Add(encodeRecord(&record{kind: kindCommit, entity: "x", partition: 2, expireAt: time.Unix(5, 0),
		expireParts: provider.PartitionExpiry{Below: 2, At: time.Unix(4, 0)}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := decodeRecord(encodeRecord(rec))
		if err != nil {
			t.Fatalf("re-decoding a decoded record: %v", err)
		}
		if !bytes.Equal(encodeRecord(again), encodeRecord(rec)) {
			t.Fatal("encoding is not stable")
		}
	})
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(encodeEnvelope(envelope{ID: "i", Entity: "e", Data: []byte("d")}))
	f.Add(encodeEnvelope(envelope{ID: "i", Entity: "e", DeadLettered: true, Origin: "w"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		again, err := decodeEnvelope(encodeEnvelope(e))
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("envelope %+v does not round-trip: %+v, %v", e, again, err)
		}
	})
}

// TestShardWatermarkHoldsBelowUnsettledRecords defends the recovery
// invariant: the watermark never passes a record the tailer delivered that
// is not settled, whoever wrote it, nor the tailer's position; the own mark
// never passes a record of this process that is not settled.
func TestShardWatermarkHoldsBelowUnsettledRecords(t *testing.T) {
	now := time.Now()
	sh := newShardState(0, 10, 10)
	sh.beginWrite("a")
	if orphan := sh.delivered(11, "a", "", now); orphan {
		t.Fatal("a record on a subject being written is an orphan")
	}
	if orphan := sh.delivered(12, "b", "", now); !orphan {
		t.Fatal("a record no write here is settling is not an orphan")
	}
	sh.settle(13) // settled before the tailer got there
	if w, own := sh.advance(13); w != 10 || own != 10 {
		t.Fatalf("watermark, own = %d, %d; want 10, 10 (11 and 12 unsettled)", w, own)
	}
	if got := sh.orphans(); len(got) != 1 || got[0] != 12 {
		t.Fatalf("orphans = %v, want [12]", got)
	}
	if orphans := sh.endWrite("a", 11); orphans {
		t.Fatal("the write settled its record, nothing is left on its subject")
	}
	if w, _ := sh.advance(13); w != 11 {
		t.Fatalf("watermark = %d, want 11 (12 unsettled)", w)
	}
	sh.settle(12)
	if w, _ := sh.advance(12); w != 12 {
		t.Fatalf("watermark = %d, want 12 (the tailer has not delivered 13)", w)
	}
	if orphan := sh.delivered(13, "a", "", now); orphan {
		t.Fatal("a record settled before its delivery is an orphan")
	}
	if w, _ := sh.advance(20); w != 20 {
		t.Fatalf("watermark = %d, want 20", w)
	}
	// A write that fails after publishing leaves its record to the completer.
	sh.beginWrite("c")
	sh.delivered(21, "c", "", now)
	if orphans := sh.endWrite("c", 0); !orphans {
		t.Fatal("an unsettled record of a failed write is not left to the completer")
	}
	// Another writer's record holds the watermark, not the own mark, until
	// that writer's own mark passes it.
	if orphan := sh.delivered(22, "d", "other", now); !orphan {
		t.Fatal("another writer's record is not an orphan")
	}
	sh.settle(21)
	if w, own := sh.advance(25); w != 21 || own != 25 {
		t.Fatalf("watermark, own = %d, %d; want 21, 25", w, own)
	}
	if !sh.noteOwner("other", 22) {
		t.Fatal("the other writer's own mark did not confirm its record")
	}
	if w, _ := sh.advance(25); w != 21 {
		t.Fatalf("watermark = %d, want 21 (22 confirmed but not applied here)", w)
	}
	if !sh.applied(22) {
		t.Fatal("a confirmed record, applied, is not settled")
	}
	if w, _ := sh.advance(25); w != 25 {
		t.Fatalf("watermark = %d, want 25", w)
	}
	// A write in flight whose record the tailer delivered holds both.
	sh.beginWrite("e")
	sh.delivered(28, "e", "", now)
	if w, own := sh.advance(30); w != 27 || own != 27 {
		t.Fatalf("watermark, own = %d, %d; want 27, 27 (a write in flight)", w, own)
	}
}

func TestSubjectsNeverCarryRawStrings(t *testing.T) {
	n := names{prefix: "p", shards: 16}
	for _, entity := range []string{"a.b", "*", ">", "with space", "\x00", "ü"} {
		for _, s := range []string{n.logSubject(entity), n.entitySubject("q", entity), n.workSubject("w", entity, entity), n.scheduleSubject("q", entity, entity)} {
			if bytes.ContainsAny([]byte(s), " *>\x00ü") || bytes.Count([]byte(s), []byte(".")) > 5 {
				t.Errorf("subject %q for entity %q is not a safe literal subject", s, entity)
			}
		}
	}
}

// TestRecordCarriesExpiry: a commit's expiries survive the record's round
// trip (a store rebuilt from the log schedules them again), and a record
// without them is encoded exactly as before they existed.
func TestRecordCarriesExpiry(t *testing.T) {
	plain := &record{kind: kindCommit, entity: "e", partition: 3}
	base := encodeRecord(plain)
	for _, rec := range []*record{
		{kind: kindCommit, entity: "e", partition: 3, expireAt: time.Unix(0, 1_700_000_000_123456789)},
		{kind: kindCommit, entity: "e", partition: 3, expireParts: provider.PartitionExpiry{Below: 3, At: time.Unix(7, 0)}},
		{kind: kindCommit, entity: "e", partition: 3, expireAt: time.Unix(9, 0), expireParts: provider.PartitionExpiry{Below: 1, At: time.Unix(8, 0)}},
	} {
		b := encodeRecord(rec)
		if !bytes.HasPrefix(b, base) || len(b) == len(base) {
			t.Fatalf("a record with expiry is not the plain record plus a trailer")
		}
		got, err := decodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if !got.expireAt.Equal(rec.expireAt) || got.expireParts.Below != rec.expireParts.Below || !got.expireParts.At.Equal(rec.expireParts.At) {
			t.Fatalf("decoded expiry %v %+v, want %v %+v", got.expireAt, got.expireParts, rec.expireAt, rec.expireParts)
		}
	}
	got, err := decodeRecord(base)
	if err != nil || !got.expireAt.IsZero() || got.expireParts.Below != 0 {
		t.Fatalf("a plain record decodes with expiry %v %+v, %v", got.expireAt, got.expireParts, err)
	}
	if _, err := decodeRecord(append(base, 0, 0, 0)); err == nil {
		t.Fatal("an empty expiry trailer was accepted")
	}
}

// TestEntityTokensAreRemembered: the cached token of an entity is its
// token, also after other entities took its slot.
func TestEntityTokensAreRemembered(t *testing.T) {
	n := names{prefix: "p", shards: 16, tokens: newTokenCache()}
	const entities = 3 * tokenCacheSlots
	for round := range 2 {
		for i := range entities {
			e := fmt.Sprintf("entity-%d", (i*7+round)%entities)
			if got, want := n.entityToken(e), tokenOf(e); got != want {
				t.Fatalf("round %d: token of %q = %q, want %q", round, e, got, want)
			}
		}
	}
	if got, want := n.logSubject("x"), (names{prefix: "p", shards: 16}).logSubject("x"); got != want {
		t.Fatalf("log subject with the cache %q, without %q", got, want)
	}
}
