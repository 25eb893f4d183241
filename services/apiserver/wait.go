package apiserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime"
)

// wait answers once the instance is terminal, or with CodeTimeout. It
// subscribes to the instance's notification subject before reading the
// status, so a change committed between the read and the wait is not
// missed, and reads the status again on each notification; it never polls.
func (s *Server) wait(ctx context.Context, data []byte) (any, error) {
	var req api.WaitRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	timeout := req.Timeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	notes := make(chan *nats.Msg, 16)
	sub, err := s.nc.ChanSubscribe(api.NotifySubject(s.opts.Prefix, req.ID), notes)
	if err != nil {
		return nil, fmt.Errorf("apiserver: subscribe to notifications of %q: %w", req.ID, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The server must know the subscription before the status is read.
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return nil, s.waitEnded(ctx, req.ID, timeout, fmt.Errorf("apiserver: flush: %w", err))
	}
	for {
		st, err := statusObject(ctx, s.client, req.ID)
		switch {
		case err == nil && st.Status.IsTerminal():
			return st, nil
		case err != nil && !errors.Is(err, runtime.ErrInstanceNotFound):
			return nil, s.waitEnded(ctx, req.ID, timeout, err)
		}
		// Not started yet (a start may be queued) or still running: wait
		// for the next status change.
		select {
		case <-ctx.Done():
			return nil, s.waitEnded(ctx, req.ID, timeout, ctx.Err())
		case <-notes:
			// Read the status again rather than trust the notification,
			// which may lack the store's details (see Notifier).
		}
	}
}

// waitEnded classifies the end of a wait that did not see a terminal
// status: the request's own timeout, a shutdown, or a failure.
func (s *Server) waitEnded(ctx context.Context, id string, timeout time.Duration, err error) error {
	switch {
	case s.ctx.Err() != nil:
		return errStopping
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return api.Errorf(api.CodeTimeout, "instance %q did not finish within %s", id, timeout)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		// This server's connection is going (a shutdown, a NATS server
		// lost): another replica can answer.
		return api.Errorf(api.CodeUnavailable, "waiting for %q: this orchestrator lost its NATS connection; retry", id)
	}
	return err
}
