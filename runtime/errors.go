package runtime

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap them with %w; test
// them with errors.Is.
var (
	// ErrNotRegistered reports an orchestration or activity name (and
	// version) that the registry does not know.
	ErrNotRegistered = errors.New("runtime: not registered")
	// ErrAlreadyRegistered reports a second registration of a name/version.
	ErrAlreadyRegistered = errors.New("runtime: already registered")
	// ErrNondeterminism reports replayed code that made different calls than
	// the history records. The concrete error is a *NondeterminismError.
	ErrNondeterminism = errors.New("runtime: nondeterminism")
	// ErrCancelled is returned by Await on a future that was cancelled.
	ErrCancelled = errors.New("runtime: cancelled")
	// ErrTimeout is returned by Await when an activity attempt, a
	// sub-orchestration attempt or an event wait ran out of time.
	ErrTimeout = errors.New("runtime: timed out")
	// ErrPayloadTooLarge reports an input, output or event payload above
	// [Limits.MaxPayloadBytes].
	ErrPayloadTooLarge = errors.New("runtime: payload too large")
	// ErrHistoryTooLong reports a partition that reached
	// [Limits.MaxEventsPerPartition]; use ContinueAsNew.
	ErrHistoryTooLong = errors.New("runtime: history too long")
	// ErrTooManyPending reports an instance that reached
	// [Limits.MaxPendingFutures].
	ErrTooManyPending = errors.New("runtime: too many pending futures")
	// ErrPoison reports a message delivered more times than allowed.
	ErrPoison = errors.New("runtime: poison message")
	// ErrDeadLettered reports an activity task the provider dead-lettered
	// after too many deliveries.
	ErrDeadLettered = errors.New("runtime: dead-lettered")
	// ErrTerminated is the failure of an instance (and of a parent's child
	// future) ended by terminate.
	ErrTerminated = errors.New("runtime: terminated")
	// ErrPanic reports a panic in orchestration or activity code.
	ErrPanic = errors.New("runtime: panic")
	// ErrInstanceExists reports a start of an instance id that is already in
	// use.
	ErrInstanceExists = errors.New("runtime: instance already exists")
	// ErrInstanceNotFound reports an instance id that was never started (or
	// has been purged).
	ErrInstanceNotFound = errors.New("runtime: instance not found")
	// ErrNotTerminal reports an operation (purge) that needs a finished
	// instance.
	ErrNotTerminal = errors.New("runtime: instance is not finished")
	// ErrStopped reports use of a stopped worker.
	ErrStopped = errors.New("runtime: worker stopped")
)

// Error is a failure that crossed a durable boundary: an activity's or a
// sub-orchestration's error as the awaiting orchestration sees it, and an
// instance's recorded error. Type classifies it for [RetryPolicy.NonRetryable]
// (set it with [NewError]; otherwise it is the Go type of the original error).
type Error struct {
	Type         string `json:"type,omitempty"`
	Message      string `json:"message"`
	NonRetryable bool   `json:"nonRetryable,omitempty"`
	// Stack is set for panics.
	Stack string `json:"stack,omitempty"`
	// cause keeps errors.Is working in the process that produced the error
	// (it is not recorded).
	cause error
}

// NewError returns an *Error of the given type. Return it from an activity or
// orchestration to classify a failure for retry policies.
func NewError(typ, message string) *Error { return &Error{Type: typ, Message: message} }

// NewNonRetryableError returns an *Error that no retry policy retries.
func NewNonRetryableError(typ, message string) *Error {
	return &Error{Type: typ, Message: message, NonRetryable: true}
}

// Error implements error.
func (e *Error) Error() string {
	if e.Type == "" {
		return e.Message
	}
	return e.Type + ": " + e.Message
}

// Unwrap returns the original error when it is known, or the sentinel that
// matches the error's type (ErrTimeout, ErrCancelled, ...), so errors.Is works
// after a round trip through history.
func (e *Error) Unwrap() error {
	if e.cause != nil {
		return e.cause
	}
	return sentinelFor(e.Type)
}

// Failure types recorded for the runtime's own failures.
const (
	typeTimeout         = "Timeout"
	typeCancelled       = "Cancelled"
	typeDeadLettered    = "DeadLettered"
	typeTerminated      = "Terminated"
	typePanic           = "Panic"
	typePoison          = "Poison"
	typeCommitTooLarge  = "CommitTooLarge"
	typeNotRegistered   = "NotRegistered"
	typeNondeterminism  = "Nondeterminism"
	typePayloadTooLarge = "PayloadTooLarge"
	typeHistoryTooLong  = "HistoryTooLong"
	typeTooManyPending  = "TooManyPending"
)

// sentinelTypes maps failure types to sentinels, in a fixed order so that
// classification is deterministic. Read-only.
var sentinelTypes = [...]struct {
	typ string
	err error
}{
	{typeTimeout, ErrTimeout},
	{typeCancelled, ErrCancelled},
	{typeDeadLettered, ErrDeadLettered},
	{typeTerminated, ErrTerminated},
	{typePanic, ErrPanic},
	{typePoison, ErrPoison},
	{typeNotRegistered, ErrNotRegistered},
	{typeNondeterminism, ErrNondeterminism},
	{typePayloadTooLarge, ErrPayloadTooLarge},
	{typeHistoryTooLong, ErrHistoryTooLong},
	{typeTooManyPending, ErrTooManyPending},
}

func sentinelFor(typ string) error {
	for _, s := range sentinelTypes {
		if s.typ == typ {
			return s.err
		}
	}
	return nil
}

// toError converts any error into an *Error for recording.
func toError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		c := *e
		if c.Type == "" {
			c.Type = fmt.Sprintf("%T", err)
		}
		if c.Message == "" {
			c.Message = err.Error()
		}
		return &c
	}
	typ := fmt.Sprintf("%T", err)
	for _, s := range sentinelTypes {
		if errors.Is(err, s.err) {
			typ = s.typ
			break
		}
	}
	return &Error{Type: typ, Message: err.Error(), cause: err}
}

// NondeterminismError reports that replayed code diverged from its recorded
// history. It names the position (the decision sequence number and the index
// of the history event), what the history recorded and what the code did.
type NondeterminismError struct {
	// Seq is the decision sequence number within the partition.
	Seq uint64
	// EventIndex is the index in the partition's history of the recorded
	// event, or -1 if nothing was recorded at Seq.
	EventIndex int
	// Recorded describes the recorded call ("" if none).
	Recorded string
	// Call describes the call the code made now ("" if none).
	Call string
}

// Error implements error.
func (e *NondeterminismError) Error() string {
	rec, call := e.Recorded, e.Call
	if rec == "" {
		rec = "nothing"
	}
	if call == "" {
		call = "nothing (the code did not make the recorded call)"
	}
	return fmt.Sprintf("nondeterminism at decision %d (history event %d): history recorded %s, code made %s",
		e.Seq, e.EventIndex, rec, call)
}

// Unwrap lets errors.Is(err, ErrNondeterminism) succeed.
func (e *NondeterminismError) Unwrap() error { return ErrNondeterminism }

// RequestError is how a control client (package runtime/control) refuses a
// request: Kind is the sentinel
// callers branch on (ErrInstanceExists, ErrInstanceNotFound, ErrNotTerminal,
// ErrPayloadTooLarge; errors.Is matches it) and Detail says what was wrong
// with this request. A server relaying the refusal to its own clients
// (services/apiserver) maps Kind to its code and keeps Detail.
type RequestError struct {
	Kind   error
	Detail string
}

func (e *RequestError) Error() string { return e.Kind.Error() + ": " + e.Detail }

// Unwrap returns Kind.
func (e *RequestError) Unwrap() error { return e.Kind }
