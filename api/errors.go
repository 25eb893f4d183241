package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Code classifies an error reply. Clients branch on it; the message is for
// people.
type Code string

// Error codes.
const (
	// CodeBadRequest: malformed JSON, a missing required field or a field
	// with an invalid value.
	CodeBadRequest Code = "bad_request"
	// CodeUnknownOrchestration: the start names an orchestration (or
	// version) that the orchestrator has not registered.
	CodeUnknownOrchestration Code = "unknown_orchestration"
	// CodeInvalidInstanceID: the instance id breaks [ValidateInstanceID].
	CodeInvalidInstanceID Code = "invalid_instance_id"
	// CodePayloadTooLarge: an input or event payload exceeds the server's
	// payload limit.
	CodePayloadTooLarge Code = "payload_too_large"
	// CodeAlreadyExists: a start names an instance id that is in use and
	// the reuse policy does not allow replacing it.
	CodeAlreadyExists Code = "already_exists"
	// CodeNotFound: the instance was never started, has not run its first
	// turn yet, or was purged.
	CodeNotFound Code = "not_found"
	// CodeNotTerminal: purge of an instance that has not finished.
	CodeNotTerminal Code = "not_terminal"
	// CodeTimeout: a wait ended before the instance finished; or the server
	// cannot tell whether a request was carried out (its acknowledgement
	// was lost, the shard's orchestrator did not answer): read the status
	// before repeating it.
	CodeTimeout Code = "timeout"
	// CodeUnavailable: the server cannot serve the request now (shutting
	// down, storage unreachable, too many waits); retrying later may work.
	CodeUnavailable Code = "unavailable"
	// CodeInternal: an unexpected server error.
	CodeInternal Code = "internal"
)

// Codes returns every error code, in documentation order.
func Codes() []Code {
	return []Code{CodeBadRequest, CodeUnknownOrchestration, CodeInvalidInstanceID, CodePayloadTooLarge,
		CodeAlreadyExists, CodeNotFound, CodeNotTerminal, CodeTimeout, CodeUnavailable, CodeInternal}
}

// Known reports whether c is one of [Codes].
func (c Code) Known() bool {
	for _, k := range Codes() {
		if c == k {
			return true
		}
	}
	return false
}

// Error is the body of an error reply. It implements error, so a client can
// return it and callers can test the code with [IsCode].
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// ErrorReply is the reply of a failed request.
type ErrorReply struct {
	Error *Error `json:"error"`
}

// DecodeReply decodes a reply body: it returns the *Error of an error reply,
// or decodes a success body into out (which may be nil to discard it).
//
// An error reply is recognised by its "error" member being a JSON object:
// the status object also has an "error" member, a string (the failure of a
// failed or terminated instance), which is not an error reply.
func DecodeReply(data []byte, out any) error {
	if e, isErr, err := replyError(data); err != nil {
		return fmt.Errorf("api: decode reply: %w", err)
	} else if isErr {
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("api: decode reply: %w", err)
	}
	return nil
}

// replyError extracts the error of an error reply.
func replyError(data []byte) (*Error, bool, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, false, err
	}
	raw, ok := probe["error"]
	if !ok {
		return nil, false, nil
	}
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false, nil
	}
	var e Error
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, false, err
	}
	return &e, true, nil
}
