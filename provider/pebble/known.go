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
//
// Its memory is bounded: once its filters would hold more than maxEntities
// (entities added since Open, deleted ones included), it is saturated:
// mayHold answers true for every entity, so every read looks the database
// up, as without the filter, until the store is opened again (which builds
// it from the entities stored then).
type knownEntities struct {
	mu          sync.Mutex
	filters     atomic.Pointer[[]*entityBloom]
	saturated   atomic.Bool
	seed        maphash.Seed
	maxEntities int
}

// Sizing: 10 bits per entity and 7 probes give about 1 % false positives;
// at most knownMaxEntities entities (about 10 MiB of filters).
const (
	knownBitsPerEntity = 10
	knownProbes        = 7
	knownMinCapacity   = 1 << 16
	knownMaxEntities   = 1 << 23
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
	k := newKnownEntities(knownMaxEntities)
	for valid := it.First(); valid; valid = it.Next() {
		if len(hashes) >= k.maxEntities/2 {
			// Too many to filter: every read looks the database up.
			k.saturated.Store(true)
			break
		}
		hashes = append(hashes, maphash.Bytes(k.seed, it.Key()[1:]))
	}
	if err := closeIter(it, nil); err != nil {
		return nil, fmt.Errorf("list stored entities: %w", err)
	}
	if k.saturated.Load() {
		return k, nil
	}
	b := newEntityBloom(2 * len(hashes))
	for _, h := range hashes {
		b.add(h)
	}
	b.added = len(hashes)
	k.filters.Store(&[]*entityBloom{b})
	return k, nil
}

// newKnownEntities returns an empty filter that saturates beyond
// maxEntities.
func newKnownEntities(maxEntities int) *knownEntities {
	k := &knownEntities{seed: maphash.MakeSeed(), maxEntities: maxEntities}
	k.filters.Store(&[]*entityBloom{newEntityBloom(0)})
	return k
}

// mayHold reports whether the store may hold a state record of entity.
func (k *knownEntities) mayHold(entity string) bool {
	if k.saturated.Load() {
		return true
	}
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
	if k.saturated.Load() {
		return
	}
	h := maphash.String(k.seed, entity)
	k.mu.Lock()
	defer k.mu.Unlock()
	filters := *k.filters.Load()
	last := filters[len(filters)-1]
	if last.has(h) {
		return
	}
	if last.added >= last.capacity {
		total := 0
		for _, b := range filters {
			total += b.capacity
		}
		if total+2*last.capacity > k.maxEntities {
			// Set before the caller's batch commits, like an add. The
			// filters stay: a reader may be testing them.
			k.saturated.Store(true)
			return
		}
		last = newEntityBloom(2 * last.capacity)
		grown := append(filters[:len(filters):len(filters)], last)
		k.filters.Store(&grown)
	}
	last.add(h)
	last.added++
}
