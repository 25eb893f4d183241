package pebble

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"

	"github.com/reprise/reprise/provider"
)

// Update is one entity's materialized change.
type Update struct {
	// Entity is the entity changed (non-empty, at most provider.MaxEntityLen
	// bytes, any bytes).
	Entity string
	// Delete first removes everything of the entity: the history of every
	// partition, metadata and its index entries, consumed ids and state.
	// The rest of the update then applies to the empty entity. A bare Delete
	// (no Partition, Events, SetMetadata or Consumed) leaves the entity not
	// existing; its LogSeq, if set, is still recorded.
	Delete bool
	// Partition is the partition Events go to. It becomes the entity's
	// current partition if higher; lower than the current one is rejected
	// with provider.ErrStalePartition unless Delete is set.
	Partition uint64
	// Events are appended to Partition. A Seq that already exists there, or
	// repeats within the Apply call, is rejected with
	// provider.ErrDuplicateEvent.
	Events []provider.Event
	// SetMetadata upserts metadata keys.
	SetMetadata provider.Metadata
	// DeleteMetadata removes metadata keys; a key both set and deleted is
	// deleted.
	DeleteMetadata []string
	// Consumed are opaque ids of consumed messages, remembered per entity
	// (see [Store.Consumed]).
	Consumed []string
	// LogSeq, if non-zero, is recorded as the entity's last log sequence.
	LogSeq uint64
	// ExpireAt is the entity's expiry (zero: none). Every update but a bare
	// Delete sets it anew, as every commit does ([provider.Commit.ExpireAt]);
	// a Delete removes the entity's expiries with the rest.
	ExpireAt time.Time
	// ExpirePartitions schedules the expiry of the partitions below its
	// Below (see [provider.Commit.ExpirePartitions]; [Store.DueExpiries]
	// lists it when due, [Store.ExpirePartitions] carries it out).
	ExpirePartitions provider.PartitionExpiry
}

// carriesContent reports whether u writes anything besides a purge and a
// log sequence, that is whether the entity exists after it.
func (u *Update) carriesContent() bool {
	return !u.Delete || u.Partition > 0 || len(u.Events) > 0 || len(u.SetMetadata) > 0 || len(u.Consumed) > 0
}

// applyScratch holds buffers reused by every Apply; applyMu owns it.
type applyScratch struct {
	key    []byte
	key2   []byte
	value  []byte
	record [recordLen]byte
	number [8]byte
}

// Apply writes all updates and the named watermarks in one Pebble batch, or
// nothing. Several updates of the same entity apply in order, each seeing the
// ones before it.
//
// It rejects, writing nothing, an event whose Seq already exists in its
// partition or repeats within the call (an error wrapping
// provider.ErrDuplicateEvent that names entity, partition and Seq), an update
// whose Partition is lower than the entity's current one without Delete
// (provider.ErrStalePartition), and an invalid entity or empty watermark
// name (provider.ErrInvalidArgument).
func (s *Store) Apply(updates []Update, watermarks map[string]uint64) error {
	for i := range updates {
		if err := provider.ValidateEntity(updates[i].Entity); err != nil {
			return fmt.Errorf("apply update %d: %w", i, err)
		}
	}
	if _, ok := watermarks[""]; ok {
		return fmt.Errorf("%w: empty watermark name", provider.ErrInvalidArgument)
	}
	if err := s.open(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	if len(updates) == 0 && len(watermarks) == 0 {
		return nil
	}

	s.applyMu.Lock()
	b := s.db.NewIndexedBatch()
	view := applyView{}
	if err := s.fill(b, view, updates, watermarks); err != nil {
		s.applyMu.Unlock()
		return errors.Join(err, b.Close())
	}
	if !s.sync {
		err := b.Commit(s.writeOpts)
		if err == nil {
			s.cache.put(view)
		}
		s.applyMu.Unlock()
		if err != nil {
			return fmt.Errorf("apply: commit batch: %w", err)
		}
		return b.Close()
	}
	// The batch is visible once applied to the memtable; later Apply calls
	// may validate against it while this one waits for the fsync, which lets
	// concurrent callers share one fsync.
	err := s.db.ApplyNoSyncWait(b, s.writeOpts)
	if err == nil {
		s.cache.put(view)
	}
	s.applyMu.Unlock()
	if err != nil {
		// The commit pipeline may still reference the batch: leave it to
		// the garbage collector rather than recycling it.
		return fmt.Errorf("apply: commit batch: %w", err)
	}
	if err := b.SyncWait(); err != nil {
		return fmt.Errorf("apply: sync batch: %w", err)
	}
	return b.Close()
}

// fill writes updates and watermarks into b, keeping view in step with
// the entities it writes.
func (s *Store) fill(b *cpebble.Batch, view applyView, updates []Update, watermarks map[string]uint64) error {
	for i := range updates {
		if err := s.applyUpdate(b, view, &updates[i]); err != nil {
			return err
		}
	}
	sc := &s.scratch
	for name, value := range watermarks {
		sc.key = appendWatermarkKey(sc.key[:0], name)
		binary.BigEndian.PutUint64(sc.number[:], value)
		if err := b.Set(sc.key, sc.number[:], nil); err != nil {
			return fmt.Errorf("apply: watermark %q: %w", name, err)
		}
	}
	return nil
}

// applyUpdate writes one update into b, reading through b so that earlier
// updates of the same call are seen.
func (s *Store) applyUpdate(b *cpebble.Batch, view applyView, u *Update) error {
	sc := &s.scratch
	e, err := s.viewEntity(view, b, u.Entity)
	if err != nil {
		return err
	}
	rec, found := e.rec, e.found

	if u.Delete && found {
		if err := s.purge(b, u.Entity); err != nil {
			return err
		}
		rec = entityRecord{}
		e.rec, e.found, e.expiry = entityRecord{}, false, 0
		clear(e.meta)
		e.startEmpty()
	}
	if u.Partition < rec.Partition {
		return fmt.Errorf("%w: entity %q is at partition %d, update names %d",
			provider.ErrStalePartition, u.Entity, rec.Partition, u.Partition)
	}
	if u.Partition > rec.Partition {
		// A partition above the current one has never held events: events
		// only go to the current partition or a higher one, which then
		// becomes current, and a purge resets the partition to 0.
		rec.Partition = u.Partition
		rec.hasHead, rec.head = false, 0
		e.startHistory(u.Partition)
	}

	if err := s.appendEvents(b, u, &rec); err != nil {
		return err
	}
	for _, ev := range u.Events {
		e.appendHistory(rec.Partition, ev)
	}
	if err := s.writeMetadata(b, e, u); err != nil {
		return err
	}
	if u.carriesContent() {
		if err := s.setEntityExpiry(b, e, u.Entity, u.ExpireAt); err != nil {
			return err
		}
	}
	if pe := u.ExpirePartitions; pe.Below > 0 && pe.Below <= rec.Partition {
		if err := s.setExpiry(b, u.Entity, pe.Below, pe.At); err != nil {
			return err
		}
	}
	binary.BigEndian.PutUint64(sc.number[:], rec.Partition)
	for _, id := range u.Consumed {
		sc.key = appendConsumedKey(sc.key[:0], u.Entity, id)
		// The value is the partition the id was consumed in: a partition
		// expiry drops it with the partition.
		if err := b.Set(sc.key, sc.number[:], nil); err != nil {
			return fmt.Errorf("apply: entity %q: consumed id: %w", u.Entity, err)
		}
		e.addConsumed(id)
	}

	if u.LogSeq != 0 {
		rec.LogSeq = u.LogSeq
	}
	if u.carriesContent() {
		rec.Exists = true
	}
	if !rec.Exists && rec.LogSeq == 0 {
		// A bare Delete: the purge already removed the state record.
		return nil
	}
	e.rec, e.found = rec, true
	s.known.add(u.Entity) // before the batch commits
	sc.key = appendStateKey(sc.key[:0], u.Entity)
	if err := b.Set(sc.key, rec.encode(&sc.record), nil); err != nil {
		return fmt.Errorf("apply: write state of entity %q: %w", u.Entity, err)
	}
	return nil
}

// appendEvents writes u.Events into rec.Partition, rejecting duplicates.
func (s *Store) appendEvents(b *cpebble.Batch, u *Update, rec *entityRecord) error {
	sc := &s.scratch
	for i := range u.Events {
		ev := &u.Events[i]
		sc.key = appendHistoryKey(sc.key[:0], u.Entity, rec.Partition, ev.Seq)
		// A Seq above the partition's head (which includes the events of
		// this call) is new; only one at or below it needs a read.
		if rec.hasHead && ev.Seq <= rec.head {
			dup, err := has(b, sc.key)
			if err != nil {
				return fmt.Errorf("apply: entity %q partition %d: read seq %d: %w", u.Entity, rec.Partition, ev.Seq, err)
			}
			if dup {
				return fmt.Errorf("%w: entity %q partition %d seq %d",
					provider.ErrDuplicateEvent, u.Entity, rec.Partition, ev.Seq)
			}
		}
		if err := b.Set(sc.key, ev.Data, nil); err != nil {
			return fmt.Errorf("apply: entity %q partition %d seq %d: %w", u.Entity, rec.Partition, ev.Seq, err)
		}
		if !rec.hasHead || ev.Seq > rec.head {
			rec.hasHead, rec.head = true, ev.Seq
		}
	}
	return nil
}

// writeMetadata applies u's metadata changes and keeps the index in step.
func (s *Store) writeMetadata(b *cpebble.Batch, e *cachedEntity, u *Update) error {
	sc := &s.scratch
	for key, value := range u.SetMetadata {
		if slices.Contains(u.DeleteMetadata, key) {
			continue
		}
		sc.key = appendMetadataKey(sc.key[:0], u.Entity, key)
		old, found := e.meta[key]
		if s.isIndexed(key) {
			if found && old == value {
				continue
			}
			if found {
				sc.key2 = appendIndexKey(sc.key2[:0], key, []byte(old), u.Entity)
				if err := b.Delete(sc.key2, nil); err != nil {
					return fmt.Errorf("apply: entity %q: unindex %q: %w", u.Entity, key, err)
				}
			}
			sc.key2 = appendIndexKey(sc.key2[:0], key, []byte(value), u.Entity)
			if err := b.Set(sc.key2, nil, nil); err != nil {
				return fmt.Errorf("apply: entity %q: index %q: %w", u.Entity, key, err)
			}
		}
		e.meta[key] = value
		sc.value = append(sc.value[:0], value...)
		if err := b.Set(sc.key, sc.value, nil); err != nil {
			return fmt.Errorf("apply: entity %q: set metadata %q: %w", u.Entity, key, err)
		}
	}
	for _, key := range u.DeleteMetadata {
		sc.key = appendMetadataKey(sc.key[:0], u.Entity, key)
		if old, found := e.meta[key]; found && s.isIndexed(key) {
			sc.key2 = appendIndexKey(sc.key2[:0], key, []byte(old), u.Entity)
			if err := b.Delete(sc.key2, nil); err != nil {
				return fmt.Errorf("apply: entity %q: unindex %q: %w", u.Entity, key, err)
			}
		}
		delete(e.meta, key)
		if err := b.Delete(sc.key, nil); err != nil {
			return fmt.Errorf("apply: entity %q: delete metadata %q: %w", u.Entity, key, err)
		}
	}
	return nil
}

// unindex deletes the index entry of the entity's current value of key, if
// any. It uses sc.key2 and sc.value only.
func (s *Store) unindex(b *cpebble.Batch, entity, key string) error {
	sc := &s.scratch
	sc.key2 = appendMetadataKey(sc.key2[:0], entity, key)
	old, found, err := getInto(b, sc.key2, sc.value[:0])
	sc.value = old
	if err != nil {
		return fmt.Errorf("apply: entity %q: read metadata %q: %w", entity, key, err)
	}
	if !found {
		return nil
	}
	sc.key2 = appendIndexKey(sc.key2[:0], key, old, entity)
	if err := b.Delete(sc.key2, nil); err != nil {
		return fmt.Errorf("apply: entity %q: unindex %q: %w", entity, key, err)
	}
	return nil
}

// purge removes everything of entity: index entries first (they are found
// through the metadata), then the history, metadata, consumed ids, expiries
// (with their due-index entries) and the state record. Keys are deleted one by one, not by range: an entity has few,
// and range tombstones in the memtable slow down every iterator opened
// until they are flushed, which expiring thousands of entities would.
func (s *Store) purge(b *cpebble.Batch, entity string) error {
	for _, key := range s.indexedKeys {
		if err := s.unindex(b, entity, key); err != nil {
			return err
		}
	}
	sc := &s.scratch
	for _, tag := range [...]byte{tagHistory, tagMetadata, tagConsumed, tagLowWater} {
		sc.key = appendEntityPrefix(sc.key[:0], tag, entity)
		sc.key2 = appendPrefixEnd(sc.key2[:0], sc.key)
		if err := deleteKeys(b, sc.key, sc.key2, nil); err != nil {
			return fmt.Errorf("apply: purge entity %q: %w", entity, err)
		}
	}
	if err := s.purgeExpiries(b, entity, 0, math.MaxUint64); err != nil {
		return err
	}
	sc.key = appendStateKey(sc.key[:0], entity)
	if err := b.Delete(sc.key, nil); err != nil {
		return fmt.Errorf("apply: purge entity %q: %w", entity, err)
	}
	return nil
}

// deleteKeys deletes, as b sees them, the keys from lower to upper
// (exclusive) for which drop (nil: every key) reports true on the value.
func deleteKeys(b *cpebble.Batch, lower, upper []byte, drop func(value []byte) bool) error {
	it, err := b.NewIter(&cpebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	var keys [][]byte
	for valid := it.First(); valid; valid = it.Next() {
		if drop != nil {
			v, err := it.ValueAndErr()
			if err != nil {
				return closeIter(it, err)
			}
			if !drop(v) {
				continue
			}
		}
		keys = append(keys, append([]byte(nil), it.Key()...))
	}
	if err := closeIter(it, nil); err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// getInto appends the value stored under key, as r sees it, to dst.
func getInto(r cpebble.Reader, key, dst []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, cpebble.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, err
	}
	dst = append(dst, v...)
	return dst, true, closer.Close()
}

// has reports whether key exists as r sees it.
func has(r cpebble.Reader, key []byte) (bool, error) {
	_, closer, err := r.Get(key)
	if errors.Is(err, cpebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, closer.Close()
}
