package apiserver

import (
	"context"
	"errors"
	"strings"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
)

// errStopping is returned by handlers cut short by Stop.
var errStopping = errors.New("apiserver: server is shutting down, retry")

// toAPIError maps an error from a handler to the error a client sees.
// *api.Error values pass through; runtime and provider sentinels map to
// their codes; anything else is internal.
func toAPIError(err error) *api.Error {
	var e *api.Error
	if errors.As(err, &e) {
		return e
	}
	e = classify(err)
	// The package prefixes of wrapped errors mean nothing to a client.
	if e.Code != api.CodeInternal {
		for _, p := range []string{"runtime: ", "apiserver: "} {
			e.Message = strings.TrimPrefix(e.Message, p)
		}
	}
	return e
}

func classify(err error) *api.Error {
	switch {
	case errors.Is(err, runtime.ErrInstanceExists):
		return &api.Error{Code: api.CodeAlreadyExists, Message: err.Error()}
	case errors.Is(err, runtime.ErrInstanceNotFound):
		return &api.Error{Code: api.CodeNotFound, Message: err.Error()}
	case errors.Is(err, runtime.ErrNotTerminal):
		return &api.Error{Code: api.CodeNotTerminal, Message: err.Error()}
	case errors.Is(err, runtime.ErrPayloadTooLarge):
		return &api.Error{Code: api.CodePayloadTooLarge, Message: err.Error()}
	case errors.Is(err, runtime.ErrNotRegistered):
		return &api.Error{Code: api.CodeUnknownOrchestration, Message: err.Error()}
	case errors.Is(err, errStopping), errors.Is(err, provider.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &api.Error{Code: api.CodeUnavailable, Message: err.Error()}
	}
	return &api.Error{Code: api.CodeInternal, Message: err.Error()}
}
