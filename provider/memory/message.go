package memory

import (
	"time"

	"github.com/reprise/reprise/provider"
)

// queuedMessage is one stored message of a queue. A message is pending from
// send until it is acked, cancelled, dead-lettered or its entity is deleted.
type queuedMessage struct {
	msg        provider.Message // a private copy; Attempt is set on delivery
	arrival    uint64           // provider-wide arrival order
	visibleAt  time.Time        // not fetchable before this time
	deliveries int              // times fetched so far

	// locked marks a message of an entity-locked queue that belongs to the
	// entity's current lock.
	locked bool

	// token and lockedUntil describe the peek-lock of a work-queue message
	// (token "" when unlocked).
	token       string
	lockedUntil time.Time
	heapIndex   int
}

// deliver returns a copy for the caller, counting this delivery.
func (m *queuedMessage) deliver() provider.Message {
	m.deliveries++
	out := m.msg
	out.Data = cloneBytes(m.msg.Data)
	out.Attempt = m.deliveries
	return out
}

// newQueuedMessage copies msg for storage; visibility starts at NotBefore or
// now, whichever is later.
func newQueuedMessage(msg provider.Message, arrival uint64, now time.Time) *queuedMessage {
	stored := provider.Message{
		ID:              msg.ID,
		Entity:          msg.Entity,
		Data:            cloneBytes(msg.Data),
		NotBefore:       msg.NotBefore,
		DeadLettered:    msg.DeadLettered,
		DeadLetterQueue: msg.DeadLetterQueue,
	}
	visibleAt := now
	if msg.NotBefore.After(now) {
		visibleAt = msg.NotBefore
	}
	return &queuedMessage{msg: stored, arrival: arrival, visibleAt: visibleAt, heapIndex: -1}
}

// visible reports whether the message may be fetched at now.
func (m *queuedMessage) visible(now time.Time) bool { return !m.visibleAt.After(now) }
