package client

import (
	"errors"
	"fmt"

	"github.com/reprise/reprise/api"
)

// Sentinel errors, one per API error code. Errors returned by this package
// wrap them; test with errors.Is.
var (
	// ErrBadRequest: the request was malformed or missed a field.
	ErrBadRequest = errors.New("client: bad request")
	// ErrUnknownOrchestration: no orchestration of that name (and version)
	// is registered.
	ErrUnknownOrchestration = errors.New("client: unknown orchestration")
	// ErrInvalidInstanceID: the instance id is empty, too long or has
	// control characters.
	ErrInvalidInstanceID = errors.New("client: invalid instance id")
	// ErrPayloadTooLarge: an input or event payload is above the server's
	// limit.
	ErrPayloadTooLarge = errors.New("client: payload too large")
	// ErrAlreadyExists: the instance id is in use (see [WithReusePolicy]).
	ErrAlreadyExists = errors.New("client: instance already exists")
	// ErrNotFound: no such instance (never started, or purged).
	ErrNotFound = errors.New("client: instance not found")
	// ErrNotTerminal: the operation (purge) needs a finished instance.
	ErrNotTerminal = errors.New("client: instance is not finished")
	// ErrTimeout: the server or the request ran out of time.
	ErrTimeout = errors.New("client: timed out")
	// ErrUnavailable: no server answered, or the server could not reach
	// its storage.
	ErrUnavailable = errors.New("client: service unavailable")
	// ErrInternal: the server failed.
	ErrInternal = errors.New("client: internal server error")
	// ErrNotCompleted: the output of an instance that did not complete was
	// asked for (see [Output]).
	ErrNotCompleted = errors.New("client: instance did not complete")
)

// codeSentinel returns the sentinel of an API error code, or nil for a code
// this client does not know.
func codeSentinel(code api.Code) error {
	switch code {
	case api.CodeBadRequest:
		return ErrBadRequest
	case api.CodeUnknownOrchestration:
		return ErrUnknownOrchestration
	case api.CodeInvalidInstanceID:
		return ErrInvalidInstanceID
	case api.CodePayloadTooLarge:
		return ErrPayloadTooLarge
	case api.CodeAlreadyExists:
		return ErrAlreadyExists
	case api.CodeNotFound:
		return ErrNotFound
	case api.CodeNotTerminal:
		return ErrNotTerminal
	case api.CodeTimeout:
		return ErrTimeout
	case api.CodeUnavailable:
		return ErrUnavailable
	case api.CodeInternal:
		return ErrInternal
	}
	return nil
}

// APIError is an error reply of the server: its code and its message.
// errors.Is matches it against the sentinel of its code (an unknown code
// matches none).
type APIError struct {
	// Verb is the operation that failed ("start", "status", ...).
	Verb string
	// Code is the wire error code, such as "not_found".
	Code api.Code
	// Message is the server's explanation, naming what was wrong.
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("client: %s: %s: %s", e.Verb, e.Code, e.Message)
}

// Unwrap returns the sentinel of the error's code.
func (e *APIError) Unwrap() error { return codeSentinel(e.Code) }
