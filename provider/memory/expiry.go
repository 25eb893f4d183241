package memory

import (
	"time"

	"github.com/reprise/reprise/provider"
)

// expiryEntry is one scheduled expiry: of the whole entity (below 0) or of
// its partitions below below. rec is the entity's incarnation that
// scheduled it: an entry outlives neither a deletion nor an expiry of the
// entity. gen, for an entity expiry, is the commit that set it: any later
// commit sets the entity's expiry anew and makes the entry stale.
type expiryEntry struct {
	at     time.Time
	entity string
	rec    *entityRecord
	below  uint64
	gen    uint64
}

func newExpiryHeap() *indexedHeap[*expiryEntry] {
	return newIndexedHeap(func(a, b *expiryEntry) bool { return a.at.Before(b.at) }, func(*expiryEntry, int) {})
}

// scheduleExpiry records the expiries a commit sets on rec. Callers hold
// p.mu.
func (p *Provider) scheduleExpiry(entity string, rec *entityRecord, c provider.Commit) {
	rec.expiryGen++
	if !c.ExpireAt.IsZero() {
		p.expiries.push(&expiryEntry{at: c.ExpireAt, entity: entity, rec: rec, gen: rec.expiryGen})
	}
	if pe := c.ExpirePartitions; pe.Below > 0 {
		p.expiries.push(&expiryEntry{at: pe.At, entity: entity, rec: rec, below: pe.Below})
	}
}

// expireDue carries out every expiry due at now. An entity locked in some
// queue is expired once the lock is gone: the commit that releases it sets
// its expiry anew (which makes this entry stale), an abandon or a lapse
// leaves it to expire then. Callers hold p.mu.
func (p *Provider) expireDue(now time.Time) {
	var deferred []*expiryEntry
	for {
		e, ok := p.expiries.peek()
		if !ok || e.at.After(now) {
			break
		}
		p.expiries.remove(0)
		rec := p.entities[e.entity]
		if rec != e.rec {
			continue // deleted or expired since
		}
		if e.below > 0 {
			for part := range rec.partitions {
				if part < e.below && part != rec.partition {
					delete(rec.partitions, part)
				}
			}
			continue
		}
		if e.gen != rec.expiryGen {
			continue
		}
		if p.lockedAnywhere(e.entity, now) {
			deferred = append(deferred, e)
			continue
		}
		p.index.update(e.entity, rec.metadata, nil)
		delete(p.entities, e.entity)
		for _, q := range p.entityQueues {
			q.recent.forgetEntity(e.entity)
		}
	}
	for _, e := range deferred {
		p.expiries.push(e)
	}
}

// lockedAnywhere reports whether a live lock is held on entity in any
// entity-locked queue. Callers hold p.mu.
func (p *Provider) lockedAnywhere(entity string, now time.Time) bool {
	for _, q := range p.entityQueues {
		if in := q.inboxes[entity]; in != nil && in.lock != nil && now.Before(in.lock.until) {
			return true
		}
	}
	return false
}
