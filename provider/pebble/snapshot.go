package pebble

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	cpebble "github.com/cockroachdb/pebble/v2"

	"github.com/reprise/reprise/provider"
)

// A logical snapshot is the stored state of a set of entities chosen by a
// predicate (a log-based provider chooses one shard's entities), written as
// the raw keys and values of their state records, history, metadata,
// consumed ids, expiries and expired-partition low-water marks, read from one
// consistent Pebble snapshot:
//
//	magic "RSNP" version
//	n { uvarint(len(key)) key uvarint(len(value)) value }   entity by entity
//	0                                                        end marker
//
// Each entity's state record comes first, then its history, metadata,
// consumed ids, expiries and low-water mark. Index entries and the expiries'
// due index are not written: they are derived from the metadata and the
// expiries by the restoring store, with its own indexed keys. The store does
// not know what the predicate means, nor where the snapshot is kept.
//
// A logical snapshot (not a Pebble checkpoint) because a checkpoint holds the
// whole database: every shard's entities, interleaved in one key space, so
// that it can neither be taken per shard nor restored into a store that
// already holds other shards.
const (
	snapshotMagic   = "RSNP"
	snapshotVersion = 1
)

// ErrCorruptSnapshot reports a snapshot stream that is not one written by
// [Store.WriteSnapshot] (truncated, or not a snapshot at all).
var ErrCorruptSnapshot = errors.New("pebble store: corrupt snapshot")

// SnapshotStats says what a snapshot holds.
type SnapshotStats struct {
	// Entities is how many entities the snapshot holds; Keys how many keys;
	// Bytes the bytes written (before any compression by the caller).
	Entities, Keys int
	Bytes          int64
}

// WriteSnapshot writes the state of every entity for which keep returns true
// to w, from one consistent view of the store: each entity's state is the
// one after some prefix of its applies. visit, when not nil, is called with
// each entity written and its state.
func (s *Store) WriteSnapshot(w io.Writer, keep func(entity string) bool, visit func(entity string, st EntityState)) (SnapshotStats, error) {
	if err := s.open(); err != nil {
		return SnapshotStats{}, err
	}
	defer s.life.RUnlock()
	snap := s.db.NewSnapshot()
	defer snap.Close()

	buf := bufio.NewWriterSize(w, 256<<10)
	bw := &countingWriter{w: buf}
	var stats SnapshotStats
	bw.write([]byte(snapshotMagic))
	bw.write([]byte{snapshotVersion})
	lower := []byte{tagState}
	states, err := snap.NewIter(&cpebble.IterOptions{LowerBound: lower, UpperBound: appendPrefixEnd(nil, lower)})
	if err != nil {
		return stats, fmt.Errorf("snapshot: %w", err)
	}
	var prefix, end []byte
	for valid := states.First(); valid && bw.err == nil; valid = states.Next() {
		entity := string(states.Key()[1:])
		if !keep(entity) {
			continue
		}
		v, err := states.ValueAndErr()
		if err != nil {
			return stats, closeIter(states, fmt.Errorf("snapshot: state of %q: %w", entity, err))
		}
		rec, err := decodeEntityRecord(v)
		if err != nil {
			return stats, closeIter(states, fmt.Errorf("snapshot: entity %q: %w", entity, err))
		}
		bw.pair(states.Key(), v)
		stats.Keys++
		for _, tag := range [...]byte{tagHistory, tagMetadata, tagConsumed, tagExpiry, tagLowWater} {
			prefix = appendEntityPrefix(prefix[:0], tag, entity)
			end = appendPrefixEnd(end[:0], prefix)
			it, err := snap.NewIter(&cpebble.IterOptions{LowerBound: prefix, UpperBound: end})
			if err != nil {
				return stats, closeIter(states, fmt.Errorf("snapshot: entity %q: %w", entity, err))
			}
			for ok := it.First(); ok; ok = it.Next() {
				val, err := it.ValueAndErr()
				if err != nil {
					return stats, closeIter(states, closeIter(it, fmt.Errorf("snapshot: entity %q: %w", entity, err)))
				}
				bw.pair(it.Key(), val)
				stats.Keys++
			}
			if err := closeIter(it, nil); err != nil {
				return stats, closeIter(states, fmt.Errorf("snapshot: entity %q: %w", entity, err))
			}
		}
		stats.Entities++
		if visit != nil {
			visit(entity, rec.EntityState)
		}
	}
	if err := closeIter(states, nil); err != nil {
		return stats, fmt.Errorf("snapshot: %w", err)
	}
	bw.write([]byte{0})
	if bw.err == nil {
		bw.err = buf.Flush()
	}
	stats.Bytes = bw.n
	if bw.err != nil {
		return stats, fmt.Errorf("snapshot: write: %w", bw.err)
	}
	return stats, nil
}

// countingWriter writes length-prefixed pairs, remembering the first error.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
	num [binary.MaxVarintLen64]byte
}

func (c *countingWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *countingWriter) bytes(b []byte) {
	c.write(c.num[:binary.PutUvarint(c.num[:], uint64(len(b)))])
	c.write(b)
}

func (c *countingWriter) pair(k, v []byte) {
	c.bytes(k)
	c.bytes(v)
}

// restoreBatchBytes is how large a batch RestoreSnapshot commits at a time.
const restoreBatchBytes = 4 << 20

// RestoreSnapshot replaces the state of every entity for which keep returns
// true with the snapshot read from r (written by WriteSnapshot with the same
// predicate), then sets the named watermarks. It works in several batches:
// the first sets every named watermark to 0 and the last sets them to their
// values, so a crash in the middle leaves the watermarks at 0 (the caller
// restores again) and never a partial restore that claims to be complete.
// A key of the snapshot whose entity keep rejects is an error
// (ErrCorruptSnapshot), as is a truncated snapshot.
func (s *Store) RestoreSnapshot(r io.Reader, keep func(entity string) bool, watermarks map[string]uint64) (SnapshotStats, error) {
	if _, ok := watermarks[""]; ok {
		return SnapshotStats{}, fmt.Errorf("%w: empty watermark name", provider.ErrInvalidArgument)
	}
	if err := s.open(); err != nil {
		return SnapshotStats{}, err
	}
	defer s.life.RUnlock()
	var stats SnapshotStats
	br := bufio.NewReaderSize(r, 256<<10)
	head := make([]byte, len(snapshotMagic)+1)
	if _, err := io.ReadFull(br, head); err != nil {
		return stats, fmt.Errorf("%w: header: %v", ErrCorruptSnapshot, err)
	}
	if string(head[:len(snapshotMagic)]) != snapshotMagic || head[len(snapshotMagic)] != snapshotVersion {
		return stats, fmt.Errorf("%w: not a version %d snapshot", ErrCorruptSnapshot, snapshotVersion)
	}

	zero := make(map[string]uint64, len(watermarks))
	for name := range watermarks {
		zero[name] = 0
	}
	if err := s.clearEntities(keep, zero); err != nil {
		return stats, err
	}

	b := s.db.NewBatch()
	commit := func() error {
		s.applyMu.Lock()
		err := b.Commit(s.writeOpts)
		s.cache.clear()
		s.applyMu.Unlock()
		if err != nil {
			return fmt.Errorf("restore snapshot: commit: %w", err)
		}
		if err := b.Close(); err != nil {
			return err
		}
		b = s.db.NewBatch()
		return nil
	}
	defer func() { _ = b.Close() }()
	var key, value, indexKey []byte
	var err error
	for {
		key, err = readBytes(br, key[:0])
		if err != nil {
			return stats, fmt.Errorf("%w: key %d: %v", ErrCorruptSnapshot, stats.Keys, err)
		}
		if len(key) == 0 {
			break
		}
		value, err = readBytes(br, value[:0])
		if err != nil {
			return stats, fmt.Errorf("%w: value %d: %v", ErrCorruptSnapshot, stats.Keys, err)
		}
		entity, err := keyEntity(key)
		if err != nil || !keep(entity) {
			return stats, fmt.Errorf("%w: key %d (%q) is not one of the snapshot's entities", ErrCorruptSnapshot, stats.Keys, key)
		}
		if err := b.Set(key, value, nil); err != nil {
			return stats, fmt.Errorf("restore snapshot: %w", err)
		}
		switch key[0] {
		case tagState:
			s.known.add(entity) // before the batch commits
			stats.Entities++
		case tagMetadata:
			_, mkey, err := splitLengthPrefixed(key[1:])
			if err != nil {
				return stats, fmt.Errorf("%w: %v", ErrCorruptSnapshot, err)
			}
			if s.isIndexed(string(mkey)) {
				indexKey = appendIndexKey(indexKey[:0], string(mkey), value, entity)
				if err := b.Set(indexKey, nil, nil); err != nil {
					return stats, fmt.Errorf("restore snapshot: %w", err)
				}
			}
		case tagExpiry:
			// The due index is derived, like the metadata index.
			below, err := lastUint64(key)
			if err != nil || len(value) != 8 {
				return stats, fmt.Errorf("%w: expiry key %q", ErrCorruptSnapshot, key)
			}
			indexKey = appendDueKey(indexKey[:0], int64(binary.BigEndian.Uint64(value)), entity, below)
			if err := b.Set(indexKey, nil, nil); err != nil {
				return stats, fmt.Errorf("restore snapshot: %w", err)
			}
		}
		stats.Keys++
		stats.Bytes += int64(len(key) + len(value))
		if b.Len() >= restoreBatchBytes {
			if err := commit(); err != nil {
				return stats, err
			}
		}
	}
	var num [8]byte
	for name, v := range watermarks {
		binary.BigEndian.PutUint64(num[:], v)
		if err := b.Set(appendWatermarkKey(nil, name), num[:], nil); err != nil {
			return stats, fmt.Errorf("restore snapshot: %w", err)
		}
	}
	return stats, commit()
}

// clearEntities deletes every entity for which keep returns true and sets
// the given watermarks, in batches; the watermarks go in the first.
func (s *Store) clearEntities(keep func(string) bool, watermarks map[string]uint64) error {
	lower := []byte{tagState}
	it, err := s.db.NewIter(&cpebble.IterOptions{LowerBound: lower, UpperBound: appendPrefixEnd(nil, lower)})
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	var doomed []string
	for valid := it.First(); valid; valid = it.Next() {
		if e := string(it.Key()[1:]); keep(e) {
			doomed = append(doomed, e)
		}
	}
	if err := closeIter(it, nil); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	for first := true; first || len(doomed) > 0; first = false {
		n := min(len(doomed), 1000)
		s.applyMu.Lock()
		b := s.db.NewIndexedBatch()
		err := s.fill(b, applyView{}, nil, watermarks)
		for _, e := range doomed[:n] {
			if err == nil {
				err = s.purge(b, e)
			}
		}
		if err == nil {
			err = b.Commit(s.writeOpts)
		}
		s.cache.clear()
		s.applyMu.Unlock()
		if err = errors.Join(err, b.Close()); err != nil {
			return fmt.Errorf("restore snapshot: clear entities: %w", err)
		}
		doomed = doomed[n:]
		watermarks = nil
	}
	return nil
}

// readBytes reads one length-prefixed byte string into dst.
func readBytes(r *bufio.Reader, dst []byte) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > 1<<30 {
		return nil, fmt.Errorf("length %d", n)
	}
	if uint64(cap(dst)) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	if _, err := io.ReadFull(r, dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// keyEntity returns the entity of a state, history, metadata or consumed-id
// key; any other key is an error.
func keyEntity(key []byte) (string, error) {
	switch key[0] {
	case tagState:
		if len(key) < 2 {
			return "", errCorruptKey
		}
		return string(key[1:]), nil
	case tagHistory, tagMetadata, tagConsumed, tagExpiry, tagLowWater:
		entity, _, err := splitLengthPrefixed(key[1:])
		return string(entity), err
	}
	return "", fmt.Errorf("%w: table %q in a snapshot", errCorruptKey, key[0])
}

// VisitEntities calls visit with every entity for which keep returns true
// and its state, from one consistent view of the store.
func (s *Store) VisitEntities(keep func(entity string) bool, visit func(entity string, st EntityState)) error {
	if err := s.open(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	lower := []byte{tagState}
	it, err := s.db.NewIter(&cpebble.IterOptions{LowerBound: lower, UpperBound: appendPrefixEnd(nil, lower)})
	if err != nil {
		return fmt.Errorf("visit entities: %w", err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		entity := string(it.Key()[1:])
		if !keep(entity) {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return closeIter(it, fmt.Errorf("visit entities: %w", err))
		}
		rec, err := decodeEntityRecord(v)
		if err != nil {
			return closeIter(it, fmt.Errorf("visit entities: %q: %w", entity, err))
		}
		visit(entity, rec.EntityState)
	}
	return closeIter(it, nil)
}
