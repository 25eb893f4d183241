package runtime

import (
	"fmt"
	"time"
)

// Field tags of the wire format (see wire.go). Even tags carry uvarints, odd
// tags carry bytes. Values are part of the stored format: never renumber.
const (
	tagDecision        = 2
	tagTime            = 4
	tagAttempt         = 6
	tagParentPartition = 8
	tagParentDecision  = 10
	tagTimeout         = 12
	tagPartition       = 14 // envelopes only
	tagFlags           = 16 // envelopes only
	tagNonRetryable    = 18 // inside a failure

	tagName       = 1
	tagVersion    = 3
	tagInstanceID = 5
	tagPayload    = 7
	tagFailure    = 9
	tagParentID   = 11
	tagQueue      = 13
	tagReason     = 15
	tagCarried    = 17
	tagType       = 19 // inside a failure
	tagMessage    = 21 // inside a failure
	tagStack      = 23 // inside a failure
	tagHasParent  = 20
)

// appendEvent encodes e onto buf.
func appendEvent(buf []byte, e *Event) []byte {
	w := wireWriter{buf: append(buf, wireVersion, byte(e.Kind))}
	writeEventFields(&w, e)
	return w.buf
}

// EncodeEvent returns the stored form of e. Histories written by the runtime
// use this encoding; it is exported for tools and tests.
func EncodeEvent(e *Event) []byte { return appendEvent(nil, e) }

// DecodeEvent parses the stored form of an event.
func DecodeEvent(data []byte) (Event, error) {
	var e Event
	if len(data) < 2 || data[0] != wireVersion {
		return e, fmt.Errorf("%w: bad event header", errCorrupt)
	}
	e.Kind = EventKind(data[1])
	if !e.Kind.known() {
		return e, fmt.Errorf("%w: unknown event kind %d", errCorrupt, data[1])
	}
	r := wireReader{buf: data[2:]}
	if err := readEventFields(&r, &e, nil); err != nil {
		return e, err
	}
	return e, nil
}

func writeEventFields(w *wireWriter, e *Event) {
	w.uint(tagDecision, e.Decision)
	if !e.Time.IsZero() {
		w.int(tagTime, e.Time.UnixNano())
	}
	w.uint(tagAttempt, uint64(e.Attempt))
	w.uint(tagTimeout, uint64(e.Timeout))
	w.str(tagName, e.Name)
	w.str(tagVersion, e.Version)
	w.str(tagInstanceID, e.InstanceID)
	w.bytes(tagPayload, e.Payload)
	w.str(tagQueue, e.Queue)
	w.str(tagReason, e.Reason)
	if e.Parent != nil {
		w.uint(tagHasParent, 1)
		w.str(tagParentID, e.Parent.InstanceID)
		w.uint(tagParentPartition, e.Parent.Partition)
		w.uint(tagParentDecision, e.Parent.Decision)
	}
	if e.Failure != nil {
		w.bytes(tagFailure, appendFailure(nil, e.Failure))
	}
	for _, c := range e.Carried {
		sub := wireWriter{}
		sub.str(tagName, c.Name)
		sub.bytes(tagPayload, c.Payload)
		// An empty carried event still needs a field so it is not lost.
		if len(sub.buf) == 0 {
			sub.buf = append(sub.buf, tagFlags, 0)
		}
		w.buf = append(w.buf, tagCarried)
		w.buf = appendUvarintBytes(w.buf, sub.buf)
	}
}

func appendUvarintBytes(buf, v []byte) []byte {
	w := wireWriter{buf: buf}
	w.buf = appendUvarint(w.buf, uint64(len(v)))
	return append(w.buf, v...)
}

// readEventFields decodes fields into e; other receives the tags it does not
// know (envelope fields), or they are skipped when other is nil.
func readEventFields(r *wireReader, e *Event, other func(tag byte, num uint64)) error {
	for {
		tag, num, data, ok := r.next()
		if !ok {
			break
		}
		switch tag {
		case tagDecision:
			e.Decision = num
		case tagTime:
			e.Time = time.Unix(0, unzigzag(num)).UTC()
		case tagAttempt:
			e.Attempt = int(num)
		case tagTimeout:
			e.Timeout = time.Duration(num)
		case tagName:
			e.Name = string(data)
		case tagVersion:
			e.Version = string(data)
		case tagInstanceID:
			e.InstanceID = string(data)
		case tagPayload:
			e.Payload = data
		case tagQueue:
			e.Queue = string(data)
		case tagReason:
			e.Reason = string(data)
		case tagHasParent:
			if e.Parent == nil {
				e.Parent = &ParentRef{}
			}
		case tagParentID:
			if e.Parent == nil {
				e.Parent = &ParentRef{}
			}
			e.Parent.InstanceID = string(data)
		case tagParentPartition:
			if e.Parent == nil {
				e.Parent = &ParentRef{}
			}
			e.Parent.Partition = num
		case tagParentDecision:
			if e.Parent == nil {
				e.Parent = &ParentRef{}
			}
			e.Parent.Decision = num
		case tagFailure:
			f, err := decodeFailure(data)
			if err != nil {
				return err
			}
			e.Failure = f
		case tagCarried:
			var c CarriedEvent
			sr := wireReader{buf: data}
			for {
				t, _, d, ok := sr.next()
				if !ok {
					break
				}
				switch t {
				case tagName:
					c.Name = string(d)
				case tagPayload:
					c.Payload = d
				}
			}
			if sr.err != nil {
				return sr.err
			}
			e.Carried = append(e.Carried, c)
		default:
			if other != nil {
				other(tag, num)
			}
		}
	}
	return r.err
}

func appendFailure(buf []byte, f *Error) []byte {
	w := wireWriter{buf: buf}
	w.str(tagType, f.Type)
	w.str(tagMessage, f.Message)
	w.str(tagStack, f.Stack)
	if f.NonRetryable {
		w.uint(tagNonRetryable, 1)
	}
	if len(w.buf) == 0 {
		w.buf = append(w.buf, tagFlags, 0)
	}
	return w.buf
}

func decodeFailure(data []byte) (*Error, error) {
	f := &Error{}
	r := wireReader{buf: data}
	for {
		tag, num, d, ok := r.next()
		if !ok {
			break
		}
		switch tag {
		case tagType:
			f.Type = string(d)
		case tagMessage:
			f.Message = string(d)
		case tagStack:
			f.Stack = string(d)
		case tagNonRetryable:
			f.NonRetryable = num != 0
		}
	}
	return f, r.err
}

// msgKind is the kind of a message envelope.
type msgKind uint8

// Message kinds. Values are part of the wire format: never renumber.
const (
	msgStart          msgKind = 1
	msgActivityTask   msgKind = 2
	msgActivityResult msgKind = 3
	msgTimerFired     msgKind = 4
	msgEventRaised    msgKind = 5
	msgChildDone      msgKind = 6
	msgTerminate      msgKind = 7
	msgSuspend        msgKind = 8
	msgResume         msgKind = 9
	msgContinue       msgKind = 10
)

var msgKindNames = [...]string{
	msgStart:          "start",
	msgActivityTask:   "activity task",
	msgActivityResult: "activity result",
	msgTimerFired:     "timer fired",
	msgEventRaised:    "event raised",
	msgChildDone:      "child completed",
	msgTerminate:      "terminate",
	msgSuspend:        "suspend",
	msgResume:         "resume",
	msgContinue:       "continue",
}

func (k msgKind) String() string {
	if int(k) < len(msgKindNames) && msgKindNames[k] != "" {
		return msgKindNames[k]
	}
	return fmt.Sprintf("message kind %d", k)
}

// Envelope flags.
const (
	flagReuse  = 1 << 0 // start: allowed to restart a finished instance
	flagFailed = 1 << 1 // activity result / child done: Failure is set
	// flagSchedule marks a client start with a start time (ev.Time): see
	// schedule.go.
	flagSchedule = 1 << 2
	// flagFire marks the delayed message that runs a scheduled start.
	flagFire = 1 << 3
)

// envelope is the decoded Data of a message. ev carries the common fields;
// partition is the receiver's partition the message answers (results,
// timers) or starts (continue, reuse start).
type envelope struct {
	kind      msgKind
	partition uint64
	flags     uint64
	ev        Event
}

func encodeEnvelope(m *envelope) []byte {
	w := wireWriter{buf: make([]byte, 0, 32+len(m.ev.Payload))}
	w.buf = append(w.buf, wireVersion, byte(m.kind))
	w.uint(tagPartition, m.partition)
	w.uint(tagFlags, m.flags)
	writeEventFields(&w, &m.ev)
	return w.buf
}

func decodeEnvelope(data []byte) (envelope, error) {
	var m envelope
	if len(data) < 2 || data[0] != wireVersion {
		return m, fmt.Errorf("%w: bad message header", errCorrupt)
	}
	m.kind = msgKind(data[1])
	if m.kind == 0 || int(m.kind) >= len(msgKindNames) {
		return m, fmt.Errorf("%w: unknown message kind %d", errCorrupt, data[1])
	}
	r := wireReader{buf: data[2:]}
	err := readEventFields(&r, &m.ev, func(tag byte, num uint64) {
		switch tag {
		case tagPartition:
			m.partition = num
		case tagFlags:
			m.flags = num
		}
	})
	return m, err
}
