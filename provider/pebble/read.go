package pebble

import (
	"encoding/binary"
	"fmt"

	cpebble "github.com/cockroachdb/pebble/v2"

	"github.com/reprise/reprise/provider"
)

// Entity returns the entity's state; the zero EntityState if it has none.
func (s *Store) Entity(entity string) (EntityState, error) {
	if err := provider.ValidateEntity(entity); err != nil {
		return EntityState{}, err
	}
	if err := s.open(); err != nil {
		return EntityState{}, err
	}
	defer s.life.RUnlock()
	if st, ok := s.cachedState(entity); ok {
		return st, nil
	}
	gen := s.cache.generation()
	rec, found, err := readRecord(s.db, entity)
	if err == nil && !found {
		s.cache.putAbsent(entity, gen)
	}
	return rec.EntityState, err
}

// History returns the events of one partition of the entity in Seq order
// (nil if there are none). The returned Data slices are the caller's.
func (s *Store) History(entity string, partition uint64) ([]provider.Event, error) {
	if err := provider.ValidateEntity(entity); err != nil {
		return nil, err
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	if events, ok := s.cachedHistory(entity, partition); ok {
		return events, nil
	}

	it, err := s.db.NewIter(partitionBounds(entity, partition))
	if err != nil {
		return nil, fmt.Errorf("history of entity %q partition %d: %w", entity, partition, err)
	}
	var (
		events []provider.Event
		slab   slab
	)
	for valid := it.First(); valid; valid = it.Next() {
		seq, err := lastUint64(it.Key())
		if err != nil {
			return nil, closeIter(it, fmt.Errorf("history of entity %q partition %d: %w", entity, partition, err))
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, closeIter(it, fmt.Errorf("history of entity %q partition %d seq %d: %w", entity, partition, seq, err))
		}
		events = append(events, provider.Event{Seq: seq, Data: slab.copy(v)})
	}
	if err := closeIter(it, nil); err != nil {
		return nil, fmt.Errorf("history of entity %q partition %d: %w", entity, partition, err)
	}
	return events, nil
}

// LastSeq returns the highest event Seq of one partition of the entity, and
// false if the partition holds no events.
func (s *Store) LastSeq(entity string, partition uint64) (uint64, bool, error) {
	if err := provider.ValidateEntity(entity); err != nil {
		return 0, false, err
	}
	if err := s.open(); err != nil {
		return 0, false, err
	}
	defer s.life.RUnlock()

	it, err := s.db.NewIter(partitionBounds(entity, partition))
	if err != nil {
		return 0, false, fmt.Errorf("last seq of entity %q partition %d: %w", entity, partition, err)
	}
	if !it.Last() {
		return 0, false, closeIter(it, nil)
	}
	seq, err := lastUint64(it.Key())
	if err := closeIter(it, err); err != nil {
		return 0, false, fmt.Errorf("last seq of entity %q partition %d: %w", entity, partition, err)
	}
	return seq, true, nil
}

// Metadata returns a copy of the entity's metadata (empty, not nil, for an
// entity without any); provider.ErrNotFound if the entity does not exist.
// State and metadata are read from one consistent view.
func (s *Store) Metadata(entity string) (provider.Metadata, error) {
	if err := provider.ValidateEntity(entity); err != nil {
		return nil, err
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	if md, ok, err := s.cachedMetadata(entity); ok {
		return md, err
	}
	gen := s.cache.generation()
	if !s.known.mayHold(entity) {
		// Never stored: most reads of an uncached entity are a start's
		// check that its id is free.
		s.cache.putAbsent(entity, gen)
		return nil, fmt.Errorf("%w: entity %q", provider.ErrNotFound, entity)
	}
	// A point read first: most reads of an uncached entity are of one that
	// does not exist yet (a start), and a get costs less than an iterator.
	switch rec, found, err := readRecord(s.db, entity); {
	case err != nil:
		return nil, fmt.Errorf("metadata of entity %q: %w", entity, err)
	case !found:
		s.cache.putAbsent(entity, gen)
		return nil, fmt.Errorf("%w: entity %q", provider.ErrNotFound, entity)
	case !rec.Exists:
		return nil, fmt.Errorf("%w: entity %q", provider.ErrNotFound, entity)
	}

	stateKey := appendStateKey(nil, entity)
	it, err := s.db.NewIter(&cpebble.IterOptions{LowerBound: stateKey, UpperBound: append(stateKey[:len(stateKey):len(stateKey)], 0)})
	if err != nil {
		return nil, fmt.Errorf("metadata of entity %q: %w", entity, err)
	}
	if !it.First() {
		err := closeIter(it, nil)
		if err == nil {
			s.cache.putAbsent(entity, gen)
			err = fmt.Errorf("%w: entity %q", provider.ErrNotFound, entity)
		}
		return nil, err
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return nil, closeIter(it, fmt.Errorf("metadata of entity %q: %w", entity, err))
	}
	rec, err := decodeEntityRecord(v)
	if err != nil {
		return nil, closeIter(it, fmt.Errorf("metadata of entity %q: %w", entity, err))
	}
	if !rec.Exists {
		return nil, closeIter(it, fmt.Errorf("%w: entity %q", provider.ErrNotFound, entity))
	}

	// Same iterator, same point-in-time view, metadata range.
	prefix := appendEntityPrefix(nil, tagMetadata, entity)
	it.SetBounds(prefix, appendPrefixEnd(nil, prefix))
	md := provider.Metadata{}
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, closeIter(it, fmt.Errorf("metadata of entity %q: %w", entity, err))
		}
		md[string(it.Key()[len(prefix):])] = string(v)
	}
	if err := closeIter(it, nil); err != nil {
		return nil, fmt.Errorf("metadata of entity %q: %w", entity, err)
	}
	return md, nil
}

// Consumed reports whether a message id was recorded as consumed by the
// entity (and not purged since).
func (s *Store) Consumed(entity, id string) (bool, error) {
	if err := provider.ValidateEntity(entity); err != nil {
		return false, err
	}
	if err := s.open(); err != nil {
		return false, err
	}
	defer s.life.RUnlock()
	if e := s.cache.get(entity); e != nil {
		if consumed, known := e.hasConsumed(id); known {
			return consumed, nil
		}
	}
	ok, err := has(s.db, appendConsumedKey(nil, entity, id))
	if err != nil {
		return false, fmt.Errorf("consumed id of entity %q: %w", entity, err)
	}
	return ok, nil
}

// Watermark returns the named watermark, 0 if it was never set.
func (s *Store) Watermark(name string) (uint64, error) {
	if err := s.open(); err != nil {
		return 0, err
	}
	defer s.life.RUnlock()
	var buf [8]byte
	v, found, err := getInto(s.db, appendWatermarkKey(nil, name), buf[:0])
	switch {
	case err != nil:
		return 0, fmt.Errorf("watermark %q: %w", name, err)
	case !found:
		return 0, nil
	case len(v) != 8:
		return 0, fmt.Errorf("watermark %q: stored value of %d bytes, want 8", name, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// readRecord reads an entity's state record as r sees it.
func readRecord(r cpebble.Reader, entity string) (entityRecord, bool, error) {
	var buf [recordLen]byte
	v, found, err := getInto(r, appendStateKey(nil, entity), buf[:0])
	if err != nil || !found {
		return entityRecord{}, false, err
	}
	rec, err := decodeEntityRecord(v)
	return rec, true, err
}

// partitionBounds returns iterator bounds covering one partition's history.
func partitionBounds(entity string, partition uint64) *cpebble.IterOptions {
	n := 1 + binary.MaxVarintLen64 + len(entity) + 8
	buf := make([]byte, 0, 2*n)
	lower := appendPartitionPrefix(buf, entity, partition)
	lower = lower[:len(lower):len(lower)]
	upper := appendPrefixEnd(buf[len(lower):len(lower)], lower)
	return &cpebble.IterOptions{LowerBound: lower, UpperBound: upper}
}

// closeIter closes it and returns err, or the close error if err is nil.
func closeIter(it *cpebble.Iterator, err error) error {
	if cerr := it.Close(); err == nil {
		return cerr
	}
	return err
}

// slab hands out copies of iterator values from a few large chunks instead
// of one allocation per value. Chunks are never reallocated, so copies stay
// valid; each copy's capacity ends with it, so appending to one never
// overwrites the next.
type slab struct {
	chunk []byte
	next  int // size of the next chunk
}

const (
	minSlabChunk = 512
	maxSlabChunk = 1 << 20
)

// copy returns a copy of v backed by the slab.
func (s *slab) copy(v []byte) []byte {
	if len(v) == 0 {
		return []byte{}
	}
	if len(v) > cap(s.chunk)-len(s.chunk) {
		s.next = min(max(2*s.next, minSlabChunk), maxSlabChunk)
		s.chunk = make([]byte, 0, max(s.next, len(v)))
	}
	start := len(s.chunk)
	s.chunk = append(s.chunk, v...)
	return s.chunk[start:len(s.chunk):len(s.chunk)]
}
