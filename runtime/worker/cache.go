package worker

import (
	"github.com/reprise/reprise/runtime"

	"container/list"
	"sync"
	"sync/atomic"
)

// instanceCache is the sticky cache: live instances parked between turns,
// so that a turn resumes where the last one stopped instead of replaying.
// It is an LRU bounded by count and by approximate retained bytes. An
// instance is taken out for the duration of a turn (entity locks already
// serialise turns per instance) and put back before its commit, since the
// provider may release the lock, and the next turn begin, before Commit
// returns; a commit that fails takes it back (takeBack).
type instanceCache struct {
	maxCount int
	maxBytes int64

	mu    sync.Mutex
	lru   *list.List // of *cacheEntry, most recent first
	items map[string]*list.Element
	bytes int64

	hits, misses atomic.Int64
}

type cacheEntry struct {
	id   string
	inst *runtime.Instance
	size int64
}

func newInstanceCache(maxCount int, maxBytes int64) *instanceCache {
	return &instanceCache{maxCount: maxCount, maxBytes: maxBytes, lru: list.New(), items: make(map[string]*list.Element)}
}

// take removes and returns the cached instance of id, or nil.
func (c *instanceCache) take(id string) *runtime.Instance {
	if c == nil || c.maxCount <= 0 {
		return nil
	}
	c.mu.Lock()
	el, ok := c.items[id]
	if !ok {
		c.mu.Unlock()
		c.misses.Add(1)
		return nil
	}
	ent := c.lru.Remove(el).(*cacheEntry)
	delete(c.items, id)
	c.bytes -= ent.size
	c.mu.Unlock()
	c.hits.Add(1)
	return ent.inst
}

// takeBack removes inst, cached for id, and reports whether it was still
// there: false when a later turn of the instance took it meanwhile (and
// owns it now).
func (c *instanceCache) takeBack(id string, inst *runtime.Instance) bool {
	if c == nil || c.maxCount <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[id]
	if !ok || el.Value.(*cacheEntry).inst != inst {
		return false
	}
	ent := c.lru.Remove(el).(*cacheEntry)
	delete(c.items, id)
	c.bytes -= ent.size
	return true
}

// put caches inst as the most recent entry, evicting (and stopping) the
// least recently used ones beyond the bounds.
func (c *instanceCache) put(id string, inst *runtime.Instance) {
	if c == nil || c.maxCount <= 0 {
		inst.Stop()
		return
	}
	size := inst.Size() + 4096
	var evicted []*runtime.Instance
	c.mu.Lock()
	if el, ok := c.items[id]; ok { // cannot happen while entities are locked; be safe
		old := c.lru.Remove(el).(*cacheEntry)
		c.bytes -= old.size
		evicted = append(evicted, old.inst)
	}
	c.items[id] = c.lru.PushFront(&cacheEntry{id: id, inst: inst, size: size})
	c.bytes += size
	for c.lru.Len() > c.maxCount || (c.bytes > c.maxBytes && c.lru.Len() > 1) {
		ent := c.lru.Remove(c.lru.Back()).(*cacheEntry)
		delete(c.items, ent.id)
		c.bytes -= ent.size
		evicted = append(evicted, ent.inst)
	}
	c.mu.Unlock()
	for _, ev := range evicted {
		ev.Stop()
	}
}

// clear stops every cached instance.
func (c *instanceCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	var all []*runtime.Instance
	for el := c.lru.Front(); el != nil; el = el.Next() {
		all = append(all, el.Value.(*cacheEntry).inst)
	}
	c.lru.Init()
	c.items = make(map[string]*list.Element)
	c.bytes = 0
	c.mu.Unlock()
	for _, inst := range all {
		inst.Stop()
	}
}

func (c *instanceCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
