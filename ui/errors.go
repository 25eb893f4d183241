package ui

import (
	"errors"
	"net/http"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
)

// apiMessage states an error as the API did: "<code>: <message>" for an
// error reply, the client's message otherwise (no orchestrator answering, a
// request timing out).
func apiMessage(err error) string {
	var e *client.APIError
	if errors.As(err, &e) {
		return string(e.Code) + ": " + e.Message
	}
	return err.Error()
}

// errorStatus is the HTTP status a page answers with when the API failed.
func errorStatus(err error) int {
	var e *client.APIError
	if !errors.As(err, &e) {
		if errors.Is(err, client.ErrBadRequest) {
			return http.StatusBadRequest
		}
		return http.StatusBadGateway
	}
	switch e.Code {
	case api.CodeBadRequest, api.CodeInvalidInstanceID, api.CodePayloadTooLarge, api.CodeUnknownOrchestration:
		return http.StatusBadRequest
	case api.CodeNotFound:
		return http.StatusNotFound
	case api.CodeAlreadyExists, api.CodeNotTerminal:
		return http.StatusConflict
	case api.CodeUnavailable, api.CodeTimeout:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}
