package apiserver

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
)

// errStopping is returned by handlers cut short by Stop.
var errStopping = api.Errorf(api.CodeUnavailable, "server is shutting down, retry")

// refusal is a runtime sentinel a client may cause, its code, and what it
// says to a client (the sentinel's text without the Go package's prefix).
type refusal struct {
	kind   error
	code   api.Code
	reason string
}

// refusals maps the runtime's request errors to API codes.
func refusals() []refusal {
	return []refusal{
		{runtime.ErrInstanceExists, api.CodeAlreadyExists, "instance already exists"},
		{runtime.ErrInstanceNotFound, api.CodeNotFound, "instance not found"},
		{runtime.ErrNotTerminal, api.CodeNotTerminal, "instance is not finished"},
		{runtime.ErrPayloadTooLarge, api.CodePayloadTooLarge, "payload too large"},
		{runtime.ErrNotRegistered, api.CodeUnknownOrchestration, "not registered"},
	}
}

// toAPIError maps an error from a handler to the error a client sees:
// *api.Error values pass through; a *runtime.RequestError becomes its
// kind's code with its detail; a runtime sentinel otherwise wrapped keeps
// its code; a closed provider or an ended context is unavailable (retry);
// anything else is internal.
func toAPIError(err error) *api.Error {
	var e *api.Error
	if errors.As(err, &e) {
		return e
	}
	for _, r := range refusals() {
		if !errors.Is(err, r.kind) {
			continue
		}
		var re *runtime.RequestError
		if errors.As(err, &re) && re.Kind == r.kind {
			return &api.Error{Code: r.code, Message: r.reason + ": " + re.Detail}
		}
		return &api.Error{Code: r.code, Message: err.Error()}
	}
	if errors.Is(err, provider.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		transientNATS(err) {
		return &api.Error{Code: api.CodeUnavailable, Message: err.Error()}
	}
	return &api.Error{Code: api.CodeInternal, Message: err.Error()}
}

// transientNATS reports a NATS or JetStream failure that a retry may not
// meet: no server answered (a stream leader election after a server was
// lost, a reconnect), or the connection is going.
func transientNATS(err error) bool {
	for _, t := range []error{jetstream.ErrNoStreamResponse, nats.ErrNoResponders, nats.ErrTimeout,
		nats.ErrConnectionClosed, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting, nats.ErrDisconnected} {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
