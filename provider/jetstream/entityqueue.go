package jetstream

import (
	"slices"
	"sync"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// entityQueue is the in-memory side of one entity-locked queue: the
// deliveries pulled from its owned shards' consumers (whose subscriptions
// the shards hold, see shardState.consumes), grouped by entity, and
// the entities ready to be fetched. A delivery stays un-acked on the server
// until the commit that consumed it; that is the lock.
type entityQueue struct {
	p    *Provider
	name string

	mu       sync.Mutex
	entities map[string]*entityState
	// ready is a FIFO of entities that had buffered deliveries and no lock
	// when queued; entries are re-checked when popped.
	ready []*entityState
	// notify is closed and replaced on every change a waiting fetch may be
	// interested in.
	notify chan struct{}

	// purged holds, for entities deleted recently, the work-stream sequence
	// their messages were purged up to: a delivery at or below it that was
	// already on its way when the purge ran is ignored.
	purged map[string]purgeMark

	// sent holds, per entity, the highest work-stream sequence of a message
	// this provider published to the entity's subject and has not seen
	// delivered yet: a fetch waits for it (awaitComplete), so that what
	// was sent before a fetch is in its batch without asking the server.
	sent map[string]sentMark
	// deliveredUpTo is, per shard, the highest work-stream sequence the
	// shard's consumer has delivered: a message at or below it that was
	// sent by this provider has arrived already (new messages are
	// delivered in stream order).
	deliveredUpTo map[int]uint64
}

type sentMark struct {
	seq uint64
	at  time.Time
}

type purgeMark struct {
	below uint64
	at    time.Time
}

// purgeMarkLife is how long a purge mark is kept: deliveries in flight
// during a purge arrive long before.
const purgeMarkLife = time.Minute

// delivery is one message delivered by the server and not yet acked.
type delivery struct {
	msg     natsjs.Msg
	seq     uint64 // stream sequence
	attempt int    // NumDelivered
	env     envelope
	keptAt  time.Time // last InProgress sent for it
}

// entityState is one entity's deliveries in one queue.
type entityState struct {
	entity string
	// buffered are visible deliveries not in the lock, in stream order.
	buffered []*delivery
	lock     *heldLock
	// awaiting are sequences known to come back (abandoned with a delay,
	// or from an expired lock), with when they are due. A fetch waits for
	// due ones so that a batch holds every message of the entity.
	awaiting map[uint64]time.Time
	// maxSeen is the highest stream sequence delivered for the entity.
	maxSeen  uint64
	reserved bool // a fetch is assembling this entity's batch
	queued   bool // in entityQueue.ready
}

// heldLock is the lock of one fetch.
type heldLock struct {
	token    string
	deadline time.Time
	msgs     []*delivery
	// logSeq is the entity's last log sequence when the batch was read:
	// the compare-and-set base of the commit.
	logSeq uint64
	// partition and lastEvent are the batch's partition and its highest
	// event Seq, read with logSeq: while the entity's log sequence is
	// still logSeq they are still true, and a commit checks its events
	// against them without reading the store.
	partition  uint64
	lastEvent  uint64
	committing bool
}

func newEntityQueue(p *Provider, name string) *entityQueue {
	return &entityQueue{p: p, name: name, entities: map[string]*entityState{}, purged: map[string]purgeMark{}, sent: map[string]sentMark{}, deliveredUpTo: map[int]uint64{}, notify: make(chan struct{})}
}

func (st *entityState) fetchable() bool {
	return len(st.buffered) > 0 && st.lock == nil && !st.reserved
}

// signal wakes every waiting fetch. Lock held.
func (q *entityQueue) signal() {
	close(q.notify)
	q.notify = make(chan struct{})
}

// state returns the entity's state, creating it. Lock held.
func (q *entityQueue) state(entity string) *entityState {
	st := q.entities[entity]
	if st == nil {
		st = &entityState{entity: entity}
		q.entities[entity] = st
	}
	return st
}

// enqueue puts st in the ready FIFO if it is fetchable. Lock held.
func (q *entityQueue) enqueue(st *entityState) {
	if st.fetchable() && !st.queued {
		st.queued = true
		q.ready = append(q.ready, st)
	}
}

// popReady returns the first fetchable entity. Lock held.
func (q *entityQueue) popReady() *entityState {
	for len(q.ready) > 0 {
		st := q.ready[0]
		q.ready[0] = nil
		q.ready = q.ready[1:]
		st.queued = false
		if st.fetchable() && !q.p.shardGone(st.entity) {
			return st
		}
		q.forget(st)
	}
	return nil
}

// forget drops st if nothing refers to it any more. Lock held.
func (q *entityQueue) forget(st *entityState) {
	if len(st.buffered) == 0 && st.lock == nil && !st.reserved && !st.queued && len(st.awaiting) == 0 {
		if q.entities[st.entity] == st {
			delete(q.entities, st.entity)
		}
	}
}

// noteSent records that this provider stored a message for entity, of
// shard, at stream sequence seq. Lock held.
func (q *entityQueue) noteSent(entity string, shard int, seq uint64, now time.Time) {
	if q.deliveredUpTo[shard] >= seq {
		return
	}
	if m, ok := q.sent[entity]; ok && m.seq >= seq {
		return
	}
	q.sent[entity] = sentMark{seq: seq, at: now}
}

// delivered forgets the sent mark of entity that a delivery at seq, in
// shard, covers: deliveries of new messages come in stream order. Lock held.
func (q *entityQueue) delivered(entity string, shard int, seq uint64) {
	q.deliveredUpTo[shard] = max(q.deliveredUpTo[shard], seq)
	if m, ok := q.sent[entity]; ok && m.seq <= seq {
		delete(q.sent, entity)
	}
}

func (st *entityState) await(seq uint64, due time.Time) {
	if st.awaiting == nil {
		st.awaiting = map[uint64]time.Time{}
	}
	st.awaiting[seq] = due
}

// onMessage is the consume callback of every shard consumer of the queue.
func (q *entityQueue) onMessage(m natsjs.Msg) {
	p := q.p
	if p.closed.Load() {
		return
	}
	meta, err := m.Metadata()
	if err != nil {
		p.log.Warn("entity queue: delivery without metadata", "queue", q.name, "err", err)
		return
	}
	env, err := decodeEnvelope(m.Data())
	if err != nil {
		p.log.Error("entity queue: terminating undecodable message", "queue", q.name,
			"subject", m.Subject(), "seq", meta.Sequence.Stream, "err", err)
		_ = m.Term()
		return
	}
	if p.shardLeaving(env.Entity) {
		// Delivered while the shard is being released: its next owner
		// gets it.
		_ = m.Nak()
		return
	}
	d := &delivery{msg: m, seq: meta.Sequence.Stream, attempt: int(meta.NumDelivered), env: env, keptAt: time.Now()}

	// A message whose id the entity has already consumed is a redelivery
	// after a commit that did not get to ack it, or a copy re-sent by
	// recovery: ack it without returning it.
	consumed, err := p.store.Consumed(env.Entity, consumedID(q.name, env))
	if err != nil {
		p.log.Warn("entity queue: consumed check failed", "queue", q.name, "err", err)
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	q.delivered(env.Entity, p.ShardOf(env.Entity), d.seq)
	if consumed {
		if st := q.entities[env.Entity]; st != nil {
			delete(st.awaiting, d.seq)
			q.signal()
		}
		p.ackWhenDurable(m)
		return
	}
	q.add(d)
}

// add files a delivery. Lock held.
func (q *entityQueue) add(d *delivery) {
	if mark, ok := q.purged[d.env.Entity]; ok && d.seq <= mark.below {
		return
	}
	st := q.state(d.env.Entity)
	st.maxSeen = max(st.maxSeen, d.seq)
	defer q.signal()

	if i := indexOfSeq(st.buffered, d.seq); i >= 0 {
		// Redelivered while buffered (a keep-alive was lost): keep the
		// fresher handle.
		st.buffered[i] = d
		return
	}
	if l := st.lock; l != nil {
		if i := indexOfSeq(l.msgs, d.seq); i >= 0 {
			switch {
			case l.committing:
				// The commit acks this sequence (acks match by sequence).
				return
			case time.Now().Before(l.deadline):
				// The server expired it before the lock did (a lost
				// keep-alive): the lock still holds, renew it there.
				l.msgs[i] = d
				_ = d.msg.InProgress()
				return
			default:
				// The lock expired: its other deliveries come back the
				// same way shortly.
				for _, old := range l.msgs {
					st.await(old.seq, time.Now())
				}
				st.lock = nil
			}
		}
	}
	delete(st.awaiting, d.seq)
	if dup := findID(st, d); dup {
		// Another stored copy of the same message (re-sent beyond the
		// duplicate window) is already here.
		_ = d.msg.Ack()
		q.forget(st)
		return
	}
	q.addBack(st, d)
	q.enqueue(st)
}

func indexOfSeq(ds []*delivery, seq uint64) int {
	return slices.IndexFunc(ds, func(x *delivery) bool { return x.seq == seq })
}

// findID reports whether st already holds a different delivery of the same
// message.
func findID(st *entityState, d *delivery) bool {
	same := func(x *delivery) bool {
		return x.seq != d.seq && x.env.ID == d.env.ID && x.env.DeadLettered == d.env.DeadLettered
	}
	if slices.ContainsFunc(st.buffered, same) {
		return true
	}
	return st.lock != nil && slices.ContainsFunc(st.lock.msgs, same)
}

// complete reports whether st holds every message stored for it up to
// lastSeq and none of its awaited deliveries is overdue. Awaited deliveries
// that are long overdue (delivered elsewhere, purged) are given up. Lock
// held.
func (st *entityState) complete(lastSeq uint64, now time.Time) bool {
	if lastSeq > st.maxSeen {
		return false
	}
	for seq, due := range st.awaiting {
		if now.Sub(due) > awaitLimit {
			delete(st.awaiting, seq)
			continue
		}
		if !due.After(now) {
			return false
		}
	}
	return true
}

// awaitLimit bounds how long a fetch waits for a message it knows is on
// its way before returning the batch without it.
const awaitLimit = time.Second

// releaseLock ends held (if it is still st's lock) without acking: with nak
// its deliveries are redelivered at once (after delay), otherwise they come
// back when the server's ack wait expires. Lock held.
func (q *entityQueue) releaseLock(st *entityState, held *heldLock, nak bool, delay time.Duration) {
	if st.lock != held {
		return
	}
	st.lock = nil
	now := time.Now()
	for _, d := range held.msgs {
		if nak {
			if delay > 0 {
				_ = d.msg.NakWithDelay(delay)
			} else {
				_ = d.msg.Nak()
			}
			st.await(d.seq, now.Add(delay))
		} else {
			st.await(d.seq, held.deadline.Add(q.p.topo.LockTimeout))
		}
	}
	q.enqueue(st)
	q.signal()
	q.forget(st)
}

// endCommitted ends held (if it is still st's lock) once its commit is
// applied: its deliveries are consumed, and the entity's next messages can
// be fetched. Lock held.
func (q *entityQueue) endCommitted(st *entityState, held *heldLock) {
	if st.lock != held {
		return
	}
	st.lock = nil
	q.enqueue(st)
	q.signal()
	q.forget(st)
}

// restore puts a lock's deliveries back into the buffer, as if never
// fetched. Lock held.
func (q *entityQueue) restore(st *entityState, held *heldLock) {
	if st.lock != held {
		return
	}
	st.lock = nil
	for _, d := range held.msgs {
		q.addBack(st, d)
	}
	q.enqueue(st)
	q.signal()
}

func (q *entityQueue) addBack(st *entityState, d *delivery) {
	i, _ := slices.BinarySearchFunc(st.buffered, d.seq, func(x *delivery, seq uint64) int {
		return compareUint64(x.seq, seq)
	})
	if i < len(st.buffered) && st.buffered[i].seq == d.seq {
		return
	}
	st.buffered = slices.Insert(st.buffered, i, d)
}

func compareUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dropEntity forgets everything buffered or locked for entity, and ignores
// deliveries stored up to purgeBelow (its messages are being purged). Lock
// held.
func (q *entityQueue) dropEntity(entity string, purgeBelow uint64) {
	q.purged[entity] = purgeMark{below: purgeBelow, at: time.Now()}
	delete(q.sent, entity)
	st := q.entities[entity]
	if st == nil {
		return
	}
	st.buffered = nil
	st.lock = nil
	st.awaiting = nil
	q.signal()
	q.forget(st)
}

// keepAlive sends InProgress for buffered deliveries not renewed for a
// while, so that messages waiting for a fetch are not redelivered (which
// would raise their attempt count) and so that an entity is never fetched
// with an expired server-side lock. It also forgets locks long expired
// without a redelivery (taken by another consumer).
func (q *entityQueue) keepAlive(now time.Time) {
	every := q.p.topo.LockTimeout / 3
	q.mu.Lock()
	defer q.mu.Unlock()
	for entity, mark := range q.purged {
		if now.Sub(mark.at) > purgeMarkLife {
			delete(q.purged, entity)
		}
	}
	for entity, mark := range q.sent {
		// Delivered elsewhere (the shard moved), or never coming
		// (purged): a fetch gives up waiting after awaitLimit anyway.
		if now.Sub(mark.at) > purgeMarkLife {
			delete(q.sent, entity)
		}
	}
	for _, st := range q.entities {
		for _, d := range st.buffered {
			if now.Sub(d.keptAt) >= every {
				_ = d.msg.InProgress()
				d.keptAt = now
			}
		}
		if l := st.lock; l != nil && !l.committing && now.Sub(l.deadline) > q.p.topo.LockTimeout {
			st.lock = nil
			q.enqueue(st)
			q.forget(st)
		}
	}
}
