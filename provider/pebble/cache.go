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
	// An entity without any state: no record, metadata or expiry.
	c.entries[entity] = &cachedEntity{}
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
		// The cached entry is shared: the view gets its own metadata.
		*e = *c
		e.meta = make(map[string]string, len(c.meta))
		maps.Copy(e.meta, c.meta)
		v[entity] = e
		return e, nil
	}
	var err error
	if e.rec, e.found, err = readRecord(b, entity); err != nil {
		return nil, fmt.Errorf("apply: read state of entity %q: %w", entity, err)
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
