package pebble

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	cpebble "github.com/cockroachdb/pebble/v2"
)

// knownEntities is a Bloom filter of the entities the store holds a state
// record for: mayHold(e) false means the store has none, so a read of e
// needs no database lookup. Most reads of an entity the store has never
// seen are a start's check that its id is free, and the database's answer
// to them cost more than the rest of the check (a memtable search that
// misses the processor's caches at every level).
//
// It only grows: an entity deleted stays in it (its reads then look up
// the database, as without the filter). Every write of a state record adds
// its entity before the batch commits (Apply, RestoreSnapshot), so that no
// reader can find the record in the database missing from the filter. Reads
// are lock-free; adds are serialized by mu.
//
// When the filter holds as many entities as it was sized for, the next add
// starts another one twice as large (a scalable Bloom filter): lookups test
// each, so the false-positive rate stays near that of one filter.
type knownEntities struct {
	mu      sync.Mutex
	filters atomic.Pointer[[]*entityBloom]
	seed    maphash.Seed
}

// Sizing: 10 bits per entity and 7 probes give about 1 % false positives.
const (
	knownBitsPerEntity = 10
	knownProbes        = 7
	knownMinCapacity   = 1 << 16
)

// entityBloom is one fixed-size Bloom filter.
type entityBloom struct {
	words    []atomic.Uint64
	bits     uint64
	capacity int
	added    int // under knownEntities.mu
}

func newEntityBloom(capacity int) *entityBloom {
	capacity = max(capacity, knownMinCapacity)
	bits := uint64(capacity) * knownBitsPerEntity
	words := (bits + 63) / 64
	return &entityBloom{words: make([]atomic.Uint64, words), bits: words * 64, capacity: capacity}
}

// has reports whether every probed bit of hash h is set (double hashing).
func (b *entityBloom) has(h uint64) bool {
	h1, h2 := h, h>>32|1
	for i := uint64(0); i < knownProbes; i++ {
		bit := (h1 + i*h2) % b.bits
		if b.words[bit/64].Load()&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// add sets the probed bits of hash h.
func (b *entityBloom) add(h uint64) {
	h1, h2 := h, h>>32|1
	for i := uint64(0); i < knownProbes; i++ {
		bit := (h1 + i*h2) % b.bits
		b.words[bit/64].Or(1 << (bit % 64))
	}
}

// loadKnownEntities builds the filter from every state record in db, sized
// for twice as many entities as it finds.
func loadKnownEntities(db *cpebble.DB) (*knownEntities, error) {
	it, err := db.NewIter(&cpebble.IterOptions{LowerBound: []byte{tagState}, UpperBound: []byte{tagState + 1}})
	if err != nil {
		return nil, fmt.Errorf("list stored entities: %w", err)
	}
	var hashes []uint64
	k := &knownEntities{seed: maphash.MakeSeed()}
	for valid := it.First(); valid; valid = it.Next() {
		hashes = append(hashes, maphash.Bytes(k.seed, it.Key()[1:]))
	}
	if err := closeIter(it, nil); err != nil {
		return nil, fmt.Errorf("list stored entities: %w", err)
	}
	b := newEntityBloom(2 * len(hashes))
	for _, h := range hashes {
		b.add(h)
	}
	b.added = len(hashes)
	k.filters.Store(&[]*entityBloom{b})
	return k, nil
}

// mayHold reports whether the store may hold a state record of entity.
func (k *knownEntities) mayHold(entity string) bool {
	h := maphash.String(k.seed, entity)
	for _, b := range *k.filters.Load() {
		if b.has(h) {
			return true
		}
	}
	return false
}

// add notes that the store holds (or is about to hold) a state record of
// entity.
func (k *knownEntities) add(entity string) {
	h := maphash.String(k.seed, entity)
	k.mu.Lock()
	defer k.mu.Unlock()
	filters := *k.filters.Load()
	last := filters[len(filters)-1]
	if last.has(h) {
		return
	}
	if last.added >= last.capacity {
		last = newEntityBloom(2 * last.capacity)
		grown := append(filters[:len(filters):len(filters)], last)
		k.filters.Store(&grown)
	}
	last.add(h)
	last.added++
}
