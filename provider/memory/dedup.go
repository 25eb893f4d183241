package memory

import "time"

// dedupLog remembers the IDs of messages recently delivered (acked) from one
// queue, so that re-sending one of them within the window is a no-op. Entries
// are pruned oldest first as the log is written.
type dedupLog struct {
	window time.Duration
	byID   map[string]dedupEntry
	order  []dedupRef // in the order written; may hold stale refs
	head   int        // order[:head] is already pruned
}

type dedupEntry struct {
	at     time.Time
	entity string
}

type dedupRef struct {
	id string
	at time.Time
}

func newDedupLog(window time.Duration) dedupLog {
	return dedupLog{window: window, byID: map[string]dedupEntry{}}
}

// remember records that id (owned by entity) was delivered at now.
func (d *dedupLog) remember(id, entity string, now time.Time) {
	d.prune(now)
	if d.window <= 0 {
		return
	}
	d.byID[id] = dedupEntry{at: now, entity: entity}
	d.order = append(d.order, dedupRef{id: id, at: now})
}

// seen reports whether id was delivered within the window before now.
func (d *dedupLog) seen(id string, now time.Time) bool {
	e, ok := d.byID[id]
	return ok && now.Sub(e.at) <= d.window
}

// forgetEntity drops every remembered ID owned by entity, so a deleted entity
// can start over with the same message IDs.
func (d *dedupLog) forgetEntity(entity string) {
	for id, e := range d.byID {
		if e.entity == entity {
			delete(d.byID, id)
		}
	}
}

func (d *dedupLog) prune(now time.Time) {
	for d.head < len(d.order) {
		ref := d.order[d.head]
		if now.Sub(ref.at) <= d.window {
			break
		}
		if e, ok := d.byID[ref.id]; ok && e.at.Equal(ref.at) {
			delete(d.byID, ref.id)
		}
		d.head++
	}
	// Compact once the pruned prefix dominates, keeping pruning amortized O(1).
	if d.head > 64 && d.head*2 > len(d.order) {
		d.order = append([]dedupRef(nil), d.order[d.head:]...)
		d.head = 0
	}
}
