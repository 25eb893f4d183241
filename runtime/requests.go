package runtime

import (
	"errors"
	"fmt"
	"time"

	"github.com/reprise/reprise/provider"
)

// The messages a client sends to instances, built here so that only the
// core knows the protocol: a control client (package runtime/control)
// decides when to send them and sends them through the provider.

// StartMessage is the message that starts instance id in partition as the
// orchestration name (at version; "" is the latest) with the encoded input,
// to run at at (zero: now). A start with a start time is delivered at once:
// the engine records the instance as Scheduled and runs it at that time (or
// at once, when the time has passed). reuse marks the start of a new execution over
// a finished instance (partition is then the next one). The message id is
// deterministic per id and partition, so a provider with message-id dedup
// drops a repeated start of the same execution.
func StartMessage(queue, id string, partition uint64, reuse bool, name, version string, input []byte, at time.Time) provider.Outgoing {
	return StartMessageRetained(queue, id, partition, reuse, name, version, input, at, 0)
}

// StartMessageRetained is [StartMessage] for an instance kept retention
// after it finishes (0: the engine's [EngineOptions.Retention]).
func StartMessageRetained(queue, id string, partition uint64, reuse bool, name, version string, input []byte, at time.Time, retention time.Duration) provider.Outgoing {
	// A start message's Timeout carries the instance's retention.
	env := envelope{kind: msgStart, ev: Event{Name: name, Version: version, Payload: input, Timeout: retention}}
	if !at.IsZero() {
		env.flags |= flagSchedule
		env.ev.Time = at
	}
	if reuse {
		env.flags |= flagReuse
		env.partition = partition
	}
	return provider.Outgoing{Queue: queue, Message: provider.Message{
		ID: messageID(id, partition, idClientNew, 0), Entity: id, Data: encodeEnvelope(&env),
	}}
}

// RaiseMessage is the message that raises the external event on instance id
// with the encoded payload. A non-empty requestID makes the request
// idempotent: the message takes its identity from the instance, the kind of
// request and requestID, so a retried request is recorded once — within the
// provider's duplicate window by message-id dedup, and after it because the
// instance remembers the ids of the messages it consumed. A request id is 1
// to [MaxRequestIDLen] bytes of ASCII letters, digits, '-', '_', '.' and
// ':'; anything else fails with [ErrInvalidRequestID]. An empty one gets a
// random message id.
func RaiseMessage(queue, id, requestID, event string, payload []byte) (provider.Outgoing, error) {
	return requestMessage(queue, id, requestID, 'e', &envelope{kind: msgEventRaised, ev: Event{Name: event, Payload: payload}})
}

// TerminateMessage is the message that terminates instance id (and its
// running sub-orchestrations) with reason.
func TerminateMessage(queue, id, requestID, reason string) (provider.Outgoing, error) {
	return requestMessage(queue, id, requestID, 'T', &envelope{kind: msgTerminate, ev: Event{Reason: reason}})
}

// SuspendMessage is the message that suspends instance id.
func SuspendMessage(queue, id, requestID, reason string) (provider.Outgoing, error) {
	return requestMessage(queue, id, requestID, 'P', &envelope{kind: msgSuspend, ev: Event{Reason: reason}})
}

// ResumeMessage is the message that resumes instance id.
func ResumeMessage(queue, id, requestID, reason string) (provider.Outgoing, error) {
	return requestMessage(queue, id, requestID, 'R', &envelope{kind: msgResume, ev: Event{Reason: reason}})
}

func requestMessage(queue, id, requestID string, tag byte, env *envelope) (provider.Outgoing, error) {
	msgID, err := requestMessageID(id, tag, requestID)
	if err != nil {
		return provider.Outgoing{}, fmt.Errorf("runtime: %s: %w", env.kind, err)
	}
	if err := provider.ValidateEntity(id); err != nil {
		return provider.Outgoing{}, fmt.Errorf("runtime: %s: %w", env.kind, err)
	}
	return provider.Outgoing{Queue: queue, Message: provider.Message{ID: msgID, Entity: id, Data: encodeEnvelope(env)}}, nil
}

// MaxRequestIDLen is the longest request id, in bytes.
const MaxRequestIDLen = 128

// ErrInvalidRequestID reports a request id that breaks [RaiseMessage]'s
// rule.
var ErrInvalidRequestID = errors.New("runtime: invalid request id")

// requestMessageID is the message id of a client request to instance id of
// kind tag: derived from the request id when there is one, random
// otherwise. The two forms cannot collide: request ids have no '+'.
func requestMessageID(id string, tag byte, requestID string) (string, error) {
	if requestID == "" {
		return randomID(id, tag), nil
	}
	if len(requestID) > MaxRequestIDLen {
		return "", fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidRequestID, len(requestID), MaxRequestIDLen)
	}
	for i := 0; i < len(requestID); i++ {
		c := requestID[i]
		if !(c == '-' || c == '_' || c == '.' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", fmt.Errorf("%w: %q has the character %q at byte %d", ErrInvalidRequestID, requestID, c, i)
		}
	}
	return messageID(id, 0, tag, 0) + "+" + requestID, nil
}

// EncodeValue encodes v with c; nil encodes as no value.
func EncodeValue(c Codec, v any) ([]byte, error) { return encodeValue(c, v) }

// DecodeValue decodes data into out with c; out nil discards, empty data
// leaves out untouched.
func DecodeValue(c Codec, data []byte, out any) error { return decodeValue(c, data, out) }

// DecodeHistory decodes the stored events of one partition.
func DecodeHistory(history []provider.Event) ([]Event, error) { return decodeHistory(history) }

// DefaultMaxPayloadBytes is the default of [Limits.MaxPayloadBytes].
const DefaultMaxPayloadBytes = 2 << 20
