package pebble

import (
	"encoding/binary"
	"fmt"
)

// EntityState is what the store records about one entity besides its
// history, metadata and consumed ids.
type EntityState struct {
	// Exists is true once an update other than a bare Delete was applied,
	// and false again after a bare Delete.
	Exists bool
	// Partition is the entity's current partition: the highest one any
	// update named since the entity was created or last deleted.
	Partition uint64
	// LogSeq is the last log sequence recorded by an update (0 if none).
	LogSeq uint64
}

// entityRecord is the stored form of an entity's state. head is the highest
// event Seq of the current partition, when hasHead is set: an appended Seq
// above it cannot be a duplicate, so Apply reads history only for Seqs at or
// below it.
type entityRecord struct {
	EntityState
	hasHead bool
	head    uint64
}

const (
	recordExists  byte = 1 << 0
	recordHasHead byte = 1 << 1

	// recordLen is flags, partition, log sequence and head.
	recordLen = 1 + 3*8
)

// encode writes r into buf and returns the encoded bytes.
func (r *entityRecord) encode(buf *[recordLen]byte) []byte {
	var flags byte
	if r.Exists {
		flags |= recordExists
	}
	if r.hasHead {
		flags |= recordHasHead
	}
	buf[0] = flags
	binary.BigEndian.PutUint64(buf[1:], r.Partition)
	binary.BigEndian.PutUint64(buf[9:], r.LogSeq)
	binary.BigEndian.PutUint64(buf[17:], r.head)
	return buf[:]
}

// decodeEntityRecord parses a stored state record.
func decodeEntityRecord(b []byte) (entityRecord, error) {
	if len(b) != recordLen {
		return entityRecord{}, fmt.Errorf("pebble store: entity state record of %d bytes, want %d", len(b), recordLen)
	}
	return entityRecord{
		EntityState: EntityState{
			Exists:    b[0]&recordExists != 0,
			Partition: binary.BigEndian.Uint64(b[1:]),
			LogSeq:    binary.BigEndian.Uint64(b[9:]),
		},
		hasHead: b[0]&recordHasHead != 0,
		head:    binary.BigEndian.Uint64(b[17:]),
	}, nil
}
