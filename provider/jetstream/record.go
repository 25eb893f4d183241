package jetstream

import (
	"fmt"
	"slices"
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/pebble"
)

// recordVersion is the first byte of every commit record.
const recordVersion = 1

// recordKind tells a commit record from a deletion tombstone.
type recordKind byte

const (
	kindCommit recordKind = 1
	kindDelete recordKind = 2
)

// record is one entry of the log: everything a commit decided, as opaque
// bytes, or the deletion of an entity. Replaying the records of an entity in
// log order rebuilds its materialized state; dispatching them again re-sends
// its outgoing messages and cancels (each idempotent).
type record struct {
	kind      recordKind
	entity    string
	partition uint64
	events    []provider.Event
	setMeta   provider.Metadata
	delMeta   []string
	sends     []provider.Outgoing
	cancels   []provider.MessageRef
	// consumed are the store ids (consumedID) of the messages the commit
	// acknowledged.
	consumed []string
	// purgeBelow, in a tombstone, is the work stream's last sequence when
	// the entity was deleted: replaying the tombstone purges the entity's
	// messages up to it, never messages sent after the deletion.
	purgeBelow uint64
	// expireAt and expireParts are the commit's ExpireAt and
	// ExpirePartitions, encoded after the rest only when set (expire.go).
	expireAt    time.Time
	expireParts provider.PartitionExpiry
}

// encodeRecord is the compact binary form of a record:
//
//	version kind entity partition        (a tombstone: purgeBelow)
//	n { seq data }                       events
//	n { key value }                      metadata set, keys sorted
//	n { key }                            metadata deleted
//	n { queue id entity data notBefore } sends (notBefore: Unix ns, 0 = none)
//	n { queue id }                       cancels
//	n { id }                             consumed
//	[ expireAt below partsAt ]           only if an expiry is set (expire.go)
//
// Numbers are uvarints (notBefore a varint); strings and bytes are
// uvarint-length-prefixed.
func encodeRecord(rec *record) []byte {
	w := writer{b: make([]byte, 0, 64+recordSizeHint(rec))}
	w.byte(recordVersion)
	w.byte(byte(rec.kind))
	w.string(rec.entity)
	if rec.kind == kindDelete {
		w.uvarint(rec.purgeBelow)
	} else {
		w.uvarint(rec.partition)
	}
	w.uvarint(uint64(len(rec.events)))
	for _, e := range rec.events {
		w.uvarint(e.Seq)
		w.bytes(e.Data)
	}
	keys := make([]string, 0, len(rec.setMeta))
	for k := range rec.setMeta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.uvarint(uint64(len(keys)))
	for _, k := range keys {
		w.string(k)
		w.string(rec.setMeta[k])
	}
	w.uvarint(uint64(len(rec.delMeta)))
	for _, k := range rec.delMeta {
		w.string(k)
	}
	w.uvarint(uint64(len(rec.sends)))
	for _, o := range rec.sends {
		w.string(o.Queue)
		w.string(o.Message.ID)
		w.string(o.Message.Entity)
		w.bytes(o.Message.Data)
		var nb int64
		if !o.Message.NotBefore.IsZero() {
			nb = o.Message.NotBefore.UnixNano()
		}
		w.varint(nb)
	}
	w.uvarint(uint64(len(rec.cancels)))
	for _, c := range rec.cancels {
		w.string(c.Queue)
		w.string(c.ID)
	}
	w.uvarint(uint64(len(rec.consumed)))
	for _, id := range rec.consumed {
		w.string(id)
	}
	encodeExpiry(&w, rec)
	return w.b
}

func recordSizeHint(rec *record) int {
	n := len(rec.entity)
	for _, e := range rec.events {
		n += len(e.Data) + 12
	}
	for _, o := range rec.sends {
		n += len(o.Queue) + len(o.Message.ID) + len(o.Message.Entity) + len(o.Message.Data) + 16
	}
	return n
}

// decodeRecord parses encodeRecord's output. Data slices are copies.
func decodeRecord(b []byte) (*record, error) {
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != recordVersion {
		return nil, fmt.Errorf("%w: record version %d", errCorrupt, v)
	}
	rec := &record{kind: recordKind(r.byte())}
	if r.err == nil && rec.kind != kindCommit && rec.kind != kindDelete {
		return nil, fmt.Errorf("%w: record kind %d", errCorrupt, rec.kind)
	}
	rec.entity = r.string()
	if rec.kind == kindDelete {
		rec.purgeBelow = r.uvarint()
	} else {
		rec.partition = r.uvarint()
	}
	if n := r.count(); n > 0 {
		rec.events = make([]provider.Event, n)
		for i := range rec.events {
			rec.events[i].Seq = r.uvarint()
			rec.events[i].Data = r.bytes()
		}
	}
	if n := r.count(); n > 0 {
		rec.setMeta = make(provider.Metadata, n)
		for range n {
			k := r.string()
			rec.setMeta[k] = r.string()
		}
	}
	if n := r.count(); n > 0 {
		rec.delMeta = make([]string, n)
		for i := range rec.delMeta {
			rec.delMeta[i] = r.string()
		}
	}
	if n := r.count(); n > 0 {
		rec.sends = make([]provider.Outgoing, n)
		for i := range rec.sends {
			o := &rec.sends[i]
			o.Queue = r.string()
			o.Message.ID = r.string()
			o.Message.Entity = r.string()
			o.Message.Data = r.bytes()
			if nb := r.varint(); nb != 0 {
				o.Message.NotBefore = time.Unix(0, nb)
			}
		}
	}
	if n := r.count(); n > 0 {
		rec.cancels = make([]provider.MessageRef, n)
		for i := range rec.cancels {
			rec.cancels[i].Queue = r.string()
			rec.cancels[i].ID = r.string()
		}
	}
	if n := r.count(); n > 0 {
		rec.consumed = make([]string, n)
		for i := range rec.consumed {
			rec.consumed[i] = r.string()
		}
	}
	decodeExpiry(&r, rec)
	if err := r.end(); err != nil {
		return nil, err
	}
	if rec.entity == "" {
		return nil, fmt.Errorf("%w: record without entity", errCorrupt)
	}
	return rec, nil
}

// update is the store change that materializes rec, stored at log sequence
// seq.
func (rec *record) update(seq uint64) pebble.Update {
	if rec.kind == kindDelete {
		return pebble.Update{Entity: rec.entity, Delete: true, LogSeq: seq}
	}
	return pebble.Update{
		Entity:           rec.entity,
		Partition:        rec.partition,
		Events:           rec.events,
		SetMetadata:      rec.setMeta,
		DeleteMetadata:   rec.delMeta,
		Consumed:         rec.consumed,
		LogSeq:           seq,
		ExpireAt:         rec.expireAt,
		ExpirePartitions: rec.expireParts,
	}
}
