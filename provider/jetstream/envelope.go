package jetstream

import "fmt"

// envelopeVersion is the first byte of every queued message payload.
const envelopeVersion = 1

const flagDeadLettered = 1

// envelope is the payload of every message in the work stream: the
// provider.Message fields that survive a trip through a queue. The stream
// never sees raw ids or entities in subjects or headers; a delayed message
// keeps its envelope when the server fires its schedule (which strips
// Nats-Msg-Id), so the id survives.
type envelope struct {
	ID     string
	Entity string
	Data   []byte
	// DeadLettered and Origin mark a copy moved to a dead-letter queue from
	// the work queue Origin.
	DeadLettered bool
	Origin       string
}

// encodeEnvelope: version flags id entity [origin] data, strings and data
// uvarint-length-prefixed.
func encodeEnvelope(e envelope) []byte {
	w := writer{b: make([]byte, 0, 16+len(e.ID)+len(e.Entity)+len(e.Origin)+len(e.Data))}
	w.byte(envelopeVersion)
	var flags byte
	if e.DeadLettered {
		flags |= flagDeadLettered
	}
	w.byte(flags)
	w.string(e.ID)
	w.string(e.Entity)
	if e.DeadLettered {
		w.string(e.Origin)
	}
	w.bytes(e.Data)
	return w.b
}

// decodeEnvelope parses encodeEnvelope's output; Data is a copy.
func decodeEnvelope(b []byte) (envelope, error) {
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != envelopeVersion {
		return envelope{}, fmt.Errorf("%w: envelope version %d", errCorrupt, v)
	}
	flags := r.byte()
	if r.err == nil && flags&^flagDeadLettered != 0 {
		return envelope{}, fmt.Errorf("%w: envelope flags %#x", errCorrupt, flags)
	}
	e := envelope{ID: r.string(), Entity: r.string(), DeadLettered: flags&flagDeadLettered != 0}
	if e.DeadLettered {
		e.Origin = r.string()
	}
	e.Data = r.bytes()
	if err := r.end(); err != nil {
		return envelope{}, err
	}
	if e.ID == "" || e.Entity == "" {
		return envelope{}, fmt.Errorf("%w: envelope without id or entity", errCorrupt)
	}
	return e, nil
}
