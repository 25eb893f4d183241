package pebble

import (
	"encoding/binary"
	"fmt"
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"

	"github.com/reprise/reprise/provider"
)

// Expiries are kept in two tables:
//
//	x | BE64(at, Unix ns) | len(entity) entity | BE64(below)   due index, in time order
//	y | len(entity) entity | BE64(below)  ->  BE64(at)        the entity's expiries
//
// below 0 is the entity's own expiry ([Update.ExpireAt]); below > 0 the
// expiry of its partitions below that number. An entity has at most one
// expiry per below: a later one replaces it. The y table finds an entity's
// due-index entries when they are replaced or the entity is purged.
//
//	l | len(entity) entity  ->  BE64(partition)                the lowest partition not expired
//
// The last one lets a partition expiry delete only what is left, never
// walking over what earlier ones deleted.
const (
	tagDue      byte = 'x'
	tagExpiry   byte = 'y'
	tagLowWater byte = 'l'
)

// Expiry is one scheduled expiry (see [Store.DueExpiries]).
type Expiry struct {
	Entity string
	// Below is 0 for the expiry of the whole entity, else the partition
	// below which partitions expire.
	Below uint64
	At    time.Time
}

func appendDueKey(dst []byte, at int64, entity string, below uint64) []byte {
	dst = binary.BigEndian.AppendUint64(append(dst, tagDue), uint64(at))
	dst = appendLengthPrefixed(dst, entity)
	return binary.BigEndian.AppendUint64(dst, below)
}

func appendExpiryKey(dst []byte, entity string, below uint64) []byte {
	return binary.BigEndian.AppendUint64(appendEntityPrefix(dst, tagExpiry, entity), below)
}

// unixNanos is t as a due-index time; times before 1970 sort as 0.
func unixNanos(t time.Time) int64 { return max(t.UnixNano(), 0) }

// setExpiry replaces the entity's expiry of partitions below below (0: of
// the entity) with one at at; a zero at removes it.
func (s *Store) setExpiry(b *cpebble.Batch, entity string, below uint64, at time.Time) error {
	key := appendExpiryKey(nil, entity, below)
	var buf [8]byte
	old, found, err := getInto(b, key, buf[:0])
	if err != nil {
		return fmt.Errorf("apply: entity %q: read expiry: %w", entity, err)
	}
	if found && len(old) == 8 {
		if err := b.Delete(appendDueKey(nil, int64(binary.BigEndian.Uint64(old)), entity, below), nil); err != nil {
			return fmt.Errorf("apply: entity %q: unschedule expiry: %w", entity, err)
		}
	}
	if at.IsZero() {
		if found {
			return b.Delete(key, nil)
		}
		return nil
	}
	n := unixNanos(at)
	if err := b.Set(appendDueKey(nil, n, entity, below), nil, nil); err != nil {
		return fmt.Errorf("apply: entity %q: schedule expiry: %w", entity, err)
	}
	return b.Set(key, binary.BigEndian.AppendUint64(nil, uint64(n)), nil)
}

// setEntityExpiry is setExpiry of the entity-wide expiry (below 0), with
// the old value from e, which it keeps in step.
func (s *Store) setEntityExpiry(b *cpebble.Batch, e *cachedEntity, entity string, at time.Time) error {
	if e.expiry != 0 {
		if err := b.Delete(appendDueKey(nil, e.expiry, entity, 0), nil); err != nil {
			return fmt.Errorf("apply: entity %q: unschedule expiry: %w", entity, err)
		}
	}
	key := appendExpiryKey(nil, entity, 0)
	if at.IsZero() {
		if e.expiry != 0 {
			e.expiry = 0
			return b.Delete(key, nil)
		}
		return nil
	}
	n := unixNanos(at)
	if err := b.Set(appendDueKey(nil, n, entity, 0), nil, nil); err != nil {
		return fmt.Errorf("apply: entity %q: schedule expiry: %w", entity, err)
	}
	e.expiry = n
	return b.Set(key, binary.BigEndian.AppendUint64(nil, uint64(n)), nil)
}

// purgeExpiries removes the entity's expiries whose below is from minBelow
// to maxBelow (inclusive; below 0 is the entity's own expiry), with their
// due-index entries.
func (s *Store) purgeExpiries(b *cpebble.Batch, entity string, minBelow, maxBelow uint64) error {
	lower := appendExpiryKey(nil, entity, minBelow)
	upper := appendPrefixEnd(nil, appendEntityPrefix(nil, tagExpiry, entity))
	it, err := b.NewIter(&cpebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("apply: entity %q: expiries: %w", entity, err)
	}
	var keys [][]byte
	for valid := it.First(); valid; valid = it.Next() {
		below, err := lastUint64(it.Key())
		if err != nil {
			return closeIter(it, err)
		}
		if below > maxBelow {
			break
		}
		v, err := it.ValueAndErr()
		if err != nil || len(v) != 8 {
			return closeIter(it, fmt.Errorf("apply: entity %q: expiry value: %w (%d bytes)", entity, err, len(v)))
		}
		keys = append(keys, appendDueKey(nil, int64(binary.BigEndian.Uint64(v)), entity, below), append([]byte(nil), it.Key()...))
	}
	if err := closeIter(it, nil); err != nil {
		return fmt.Errorf("apply: entity %q: expiries: %w", entity, err)
	}
	for _, k := range keys {
		if err := b.Delete(k, nil); err != nil {
			return fmt.Errorf("apply: entity %q: unschedule expiry: %w", entity, err)
		}
	}
	return nil
}

// DueExpiries returns up to limit expiries due at now, earliest first, of
// the entities keep accepts (nil: every entity); the others are skipped, so
// that they cannot hold back the rest.
func (s *Store) DueExpiries(now time.Time, limit int, keep func(entity string) bool) ([]Expiry, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	lower := []byte{tagDue}
	upper := binary.BigEndian.AppendUint64([]byte{tagDue}, uint64(unixNanos(now))+1)
	it, err := s.db.NewIter(&cpebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("due expiries: %w", err)
	}
	var out []Expiry
	for valid := it.First(); valid && len(out) < limit; valid = it.Next() {
		k := it.Key()
		if len(k) < 1+8+1+8 {
			return nil, closeIter(it, fmt.Errorf("due expiries: %w", errCorruptKey))
		}
		at := int64(binary.BigEndian.Uint64(k[1:9]))
		entity, rest, err := splitLengthPrefixed(k[9:])
		if err != nil || len(rest) != 8 {
			return nil, closeIter(it, fmt.Errorf("due expiries: %w", errCorruptKey))
		}
		if keep != nil && !keep(string(entity)) {
			continue
		}
		out = append(out, Expiry{Entity: string(entity), Below: binary.BigEndian.Uint64(rest), At: time.Unix(0, at)})
	}
	if err := closeIter(it, nil); err != nil {
		return nil, fmt.Errorf("due expiries: %w", err)
	}
	return out, nil
}

// EntityExpiry returns when the entity expires (zero: it has no expiry).
func (s *Store) EntityExpiry(entity string) (time.Time, error) {
	if err := s.open(); err != nil {
		return time.Time{}, err
	}
	defer s.life.RUnlock()
	var buf [8]byte
	v, found, err := getInto(s.db, appendExpiryKey(nil, entity, 0), buf[:0])
	if err != nil || !found || len(v) != 8 {
		return time.Time{}, err
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), nil
}

// ExpirePartitions deletes the history of the entity's partitions below
// below (never the current one), the ids of the messages commits to them
// consumed, and the partition expiries up to below. It needs no log record:
// those partitions are never written again, and a store rebuilt from the log
// schedules the expiry again and carries it out when it is due.
func (s *Store) ExpirePartitions(entity string, below uint64) error {
	if err := provider.ValidateEntity(entity); err != nil {
		return err
	}
	if err := s.open(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	b := s.db.NewIndexedBatch()
	if err := s.fillPartitionExpiry(b, entity, below); err != nil {
		return fmt.Errorf("expire partitions of %q: %w", entity, err)
	}
	err := b.Commit(s.writeOpts)
	s.cache.evict(entity)
	if err != nil {
		return fmt.Errorf("expire partitions of %q: %w", entity, err)
	}
	return b.Close()
}

func (s *Store) fillPartitionExpiry(b *cpebble.Batch, entity string, below uint64) error {
	rec, found, err := readRecord(b, entity)
	if err != nil {
		return err
	}
	lowKey := appendEntityPrefix(nil, tagLowWater, entity)
	var buf [8]byte
	v, _, err := getInto(b, lowKey, buf[:0])
	if err != nil {
		return err
	}
	low := consumedPartition(v)
	// The partition expiries up to below are done by this one; the
	// entity's own expiry (below 0) is not.
	if err := s.purgeExpiries(b, entity, max(low, 1), below); err != nil {
		return err
	}
	if !found {
		return nil
	}
	upto := min(below, rec.Partition)
	if upto <= low {
		return nil
	}
	// History of the partitions from low up to upto, key by key (see purge).
	if err := deleteKeys(b, appendPartitionPrefix(nil, entity, low), appendPartitionPrefix(nil, entity, upto), nil); err != nil {
		return err
	}
	// Consumed ids of those partitions.
	lower := appendEntityPrefix(nil, tagConsumed, entity)
	if err := deleteKeys(b, lower, appendPrefixEnd(nil, lower), func(v []byte) bool { return consumedPartition(v) < upto }); err != nil {
		return err
	}
	return b.Set(lowKey, binary.BigEndian.AppendUint64(nil, upto), nil)
}

// consumedPartition decodes the partition a consumed id was recorded in
// (ids recorded before partitions were stored count as partition 0), or a
// low-water partition (absent: 0).
func consumedPartition(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}
