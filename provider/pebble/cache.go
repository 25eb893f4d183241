package pebble

import (
	"encoding/binary"
	"fmt"
	"maps"
	"sync"

	cpebble "github.com/cockroachdb/pebble/v2"

	"github.com/reprise/reprise/provider"
)

// entityCacheSize bounds the entities whose state the store keeps in memory.
const entityCacheSize = 8192

// cachedEntity is what the store holds of an entity beyond the database:
// its state record, its whole metadata and its entity-wide expiry, exactly
// as the last committed Apply left them.
type cachedEntity struct {
	rec   entityRecord
	found bool // the state record exists
	meta  map[string]string
	// expiry is the entity-wide expiry in unix nanoseconds (0: none).
	expiry int64
	// hist, when histOK, is the whole history of partition histPart, in
	// Seq order, with histBytes bytes of event data: known when the
	// entity's Applies have written every event of the partition (a new
	// entity, a new partition) and it is no larger than maxCachedHistory.
	// It is shared: an Apply's view appends to a copy.
	hist      []provider.Event
	histPart  uint64
	histBytes int
	histOK    bool
	// consumed, when consumedOK, are all the entity's consumed ids: known
	// when the entity's Applies have written every one of them (a new
	// entity, a purged one) and there are no more than maxCachedConsumed.
	// It is shared: an Apply's view appends to a copy.
	consumed   []string
	consumedOK bool
}

// maxCachedConsumed bounds the consumed ids one cached entity holds.
const maxCachedConsumed = 64

// maxCachedHistory bounds the event bytes of one cached history: with
// entityCacheSize entities, the cache holds at most 64 MiB of histories.
const maxCachedHistory = 8 << 10

// startHistory records that partition starts empty in e.
func (e *cachedEntity) startHistory(partition uint64) {
	e.hist, e.histPart, e.histBytes, e.histOK = nil, partition, 0, true
}

// appendHistory adds ev, written to partition, to e's history if e holds
// that partition's history and ev follows its last event; otherwise, or
// past maxCachedHistory, e no longer holds a history.
func (e *cachedEntity) appendHistory(partition uint64, ev provider.Event) {
	if !e.histOK || e.histPart != partition {
		e.dropHistory()
		return
	}
	if n := len(e.hist); n > 0 && ev.Seq <= e.hist[n-1].Seq || e.histBytes+len(ev.Data) > maxCachedHistory {
		e.dropHistory()
		return
	}
	e.hist = append(e.hist, provider.Event{Seq: ev.Seq, Data: append([]byte(nil), ev.Data...)})
	e.histBytes += len(ev.Data)
}

func (e *cachedEntity) dropHistory() {
	e.hist, e.histBytes, e.histOK = nil, 0, false
}

// startEmpty records that e has no events and no consumed ids: it has no
// state record, or was just purged.
func (e *cachedEntity) startEmpty() {
	e.startHistory(0)
	e.consumed, e.consumedOK = nil, true
}

// addConsumed adds a consumed id to e's set if e holds all of them; past
// maxCachedConsumed e no longer does.
func (e *cachedEntity) addConsumed(id string) {
	if !e.consumedOK {
		return
	}
	if len(e.consumed) >= maxCachedConsumed {
		e.consumed, e.consumedOK = nil, false
		return
	}
	e.consumed = append(e.consumed, id)
}

// hasConsumed reports whether id is among e's consumed ids, and whether e
// knows (consumedOK).
func (e *cachedEntity) hasConsumed(id string) (consumed, known bool) {
	if !e.consumedOK {
		return false, false
	}
	for _, c := range e.consumed {
		if c == id {
			return true, true
		}
	}
	return false, true
}

// entityCache is a write-through cache of recently written entities: Apply
// puts what it committed, every other writer evicts what it touched, and
// reads of the state and metadata of a cached entity need no database
// read. Writers hold applyMu; readers only mu.
type entityCache struct {
	mu      sync.Mutex
	entries map[string]*cachedEntity
	// gen counts the writes to entries: a reader that found an entity
	// missing from the database caches that only if no write came
	// between its read and its insert.
	gen uint64
}

// generation returns the current write generation.
func (c *entityCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// putAbsent caches that entity has no state, read from the database at
// generation gen, unless a write came since.
func (c *entityCache) putAbsent(entity string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.entries[entity]; ok {
		return
	}
	// An entity without any state: no record, events, consumed ids,
	// metadata or expiry.
	e := &cachedEntity{}
	e.startEmpty()
	c.entries[entity] = e
	c.trim(nil)
}

func newEntityCache() *entityCache {
	return &entityCache{entries: map[string]*cachedEntity{}}
}

// get returns the cached entry of entity (shared: do not modify it).
func (c *entityCache) get(entity string) *cachedEntity {
	c.mu.Lock()
	e := c.entries[entity]
	c.mu.Unlock()
	return e
}

// put installs entries, evicting arbitrary others beyond the size bound.
func (c *entityCache) put(entries map[string]*cachedEntity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for entity, e := range entries {
		c.entries[entity] = e
	}
	c.trim(entries)
}

// trim evicts arbitrary entries (not those in keep) beyond the size bound.
// Lock held.
func (c *entityCache) trim(keep map[string]*cachedEntity) {
	for entity := range c.entries {
		if len(c.entries) <= entityCacheSize {
			break
		}
		if _, ok := keep[entity]; !ok {
			delete(c.entries, entity)
		}
	}
}

func (c *entityCache) evict(entity string) {
	c.mu.Lock()
	c.gen++
	delete(c.entries, entity)
	c.mu.Unlock()
}

func (c *entityCache) clear() {
	c.mu.Lock()
	c.gen++
	clear(c.entries)
	c.mu.Unlock()
}

// applyView is the state of the entities one Apply has touched, as its
// batch sees them: loaded from the cache or the batch on first use, then
// kept in step with every write the Apply makes. On commit it becomes
// the cache's.
type applyView map[string]*cachedEntity

// entity returns the view of entity, loading it on first use.
func (s *Store) viewEntity(v applyView, b *cpebble.Batch, entity string) (*cachedEntity, error) {
	if e := v[entity]; e != nil {
		return e, nil
	}
	e := &cachedEntity{}
	if c := s.cache.get(entity); c != nil {
		// The cached entry is shared: the view gets its own metadata, and
		// appends to its own copy of the history.
		*e = *c
		e.meta = make(map[string]string, len(c.meta))
		maps.Copy(e.meta, c.meta)
		e.hist = c.hist[:len(c.hist):len(c.hist)]
		e.consumed = c.consumed[:len(c.consumed):len(c.consumed)]
		v[entity] = e
		return e, nil
	}
	var err error
	if e.rec, e.found, err = readRecord(b, entity); err != nil {
		return nil, fmt.Errorf("apply: read state of entity %q: %w", entity, err)
	}
	if !e.found {
		e.startEmpty() // no state record: no events or consumed ids either
	}
	e.meta = map[string]string{}
	if e.found && e.rec.Exists {
		prefix := appendEntityPrefix(nil, tagMetadata, entity)
		it, err := b.NewIter(&cpebble.IterOptions{LowerBound: prefix, UpperBound: appendPrefixEnd(nil, prefix)})
		if err != nil {
			return nil, fmt.Errorf("apply: read metadata of entity %q: %w", entity, err)
		}
		for valid := it.First(); valid; valid = it.Next() {
			val, err := it.ValueAndErr()
			if err != nil {
				return nil, closeIter(it, fmt.Errorf("apply: read metadata of entity %q: %w", entity, err))
			}
			e.meta[string(it.Key()[len(prefix):])] = string(val)
		}
		if err := closeIter(it, nil); err != nil {
			return nil, fmt.Errorf("apply: read metadata of entity %q: %w", entity, err)
		}
	}
	var buf [8]byte
	old, found, err := getInto(b, appendExpiryKey(nil, entity, 0), buf[:0])
	if err != nil {
		return nil, fmt.Errorf("apply: entity %q: read expiry: %w", entity, err)
	}
	if found && len(old) == 8 {
		e.expiry = int64(binary.BigEndian.Uint64(old))
	}
	v[entity] = e
	return e, nil
}

// cachedState returns the entity's state from the cache.
func (s *Store) cachedState(entity string) (EntityState, bool) {
	e := s.cache.get(entity)
	if e == nil {
		return EntityState{}, false
	}
	return e.rec.EntityState, true
}

// cachedHistory returns a copy of the history of the entity's partition
// from the cache (one allocation for the events, one for their data), with
// ok false when the cache does not hold it.
func (s *Store) cachedHistory(entity string, partition uint64) ([]provider.Event, bool) {
	e := s.cache.get(entity)
	if e == nil || !e.histOK || e.histPart != partition {
		return nil, false
	}
	if len(e.hist) == 0 {
		return nil, true
	}
	out := make([]provider.Event, len(e.hist))
	data := make([]byte, 0, e.histBytes)
	for i, ev := range e.hist {
		start := len(data)
		data = append(data, ev.Data...)
		out[i] = provider.Event{Seq: ev.Seq, Data: data[start:len(data):len(data)]}
	}
	return out, true
}

// cachedMetadata returns a copy of the entity's metadata from the cache,
// with ok false when the entity is not cached.
func (s *Store) cachedMetadata(entity string) (provider.Metadata, bool, error) {
	e := s.cache.get(entity)
	if e == nil {
		return nil, false, nil
	}
	if !e.found || !e.rec.Exists {
		return nil, true, fmt.Errorf("%w: entity %q", provider.ErrNotFound, entity)
	}
	md := make(provider.Metadata, len(e.meta))
	for k, v := range e.meta {
		md[k] = v
	}
	return md, true, nil
}
