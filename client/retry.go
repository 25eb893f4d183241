package client

import (
	"context"
	"errors"
	"time"

	"github.com/reprise/reprise/api"
)

// Retry defaults (see [WithRetries]).
const (
	// DefaultRetries is how many times a request answered "unavailable"
	// (or, when repeating it is safe, not answered at all) is sent again.
	DefaultRetries = 5
	// retryFirstDelay and retryMaxDelay bound the backoff between tries.
	retryFirstDelay = 100 * time.Millisecond
	retryMaxDelay   = 2 * time.Second
)

// WithRetries sets how many times a request is sent again after the server
// answered unavailable, or no server answered (default [DefaultRetries]; 0
// or less: never). Requests that are safe to repeat — reads, and raise,
// terminate, suspend and resume, which carry a request id — are also sent
// again after a lost reply. Tries are spaced by a backoff from 100 ms
// doubling up to 2 s; the context bounds them all.
func WithRetries(n int) Option {
	return func(c *Client) { c.retries = max(n, 0) }
}

// retryWhen says which failures of a request may be retried.
type retryWhen int

const (
	// retryUnavailable: the server said it could not serve the request,
	// or none answered; the request was not carried out.
	retryUnavailable retryWhen = iota
	// retryLostReply: also when the reply did not come; the request may
	// have been carried out, and repeating it is harmless.
	retryLostReply
)

// callRetry is call, repeated with backoff per when.
func (c *Client) callRetry(ctx context.Context, verb api.Verb, req, out any, timeout time.Duration, when retryWhen) error {
	delay := retryFirstDelay
	for attempt := 0; ; attempt++ {
		err := c.call(ctx, verb, req, out, timeout)
		if err == nil || attempt >= c.retries || !retryable(err, when) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, retryMaxDelay)
	}
}

func retryable(err error, when retryWhen) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == api.CodeUnavailable
	}
	// Local failures: no server answered (ErrUnavailable), or the reply
	// was lost (ErrTimeout, only when repeating is harmless).
	return errors.Is(err, ErrUnavailable) || (when == retryLostReply && errors.Is(err, ErrTimeout))
}

// RequestOption configures one [Client.RaiseEvent], [Client.Terminate],
// [Client.Suspend] or [Client.Resume]; the same options configure
// the in-process client's (runtime/control; package api holds the vocabulary).
type RequestOption = api.RequestOption

// WithRequestID sets the request id that makes a raise, terminate, suspend
// or resume idempotent: the server records a request once per instance,
// kind and request id, however often it is sent, including after a restart
// and long after the first try. Without it the client draws a random one
// per call (and uses it for the call's own retries); pass your own to make
// retries across calls or processes safe. A request id is 1 to 128 ASCII
// letters, digits, '-', '_', '.' and ':'.
func WithRequestID(id string) RequestOption { return api.WithRequestID(id) }

// requestID returns the request id of opts, or a new random one.
func requestID(opts []RequestOption) string {
	if id := api.RequestIDOf(opts); id != "" {
		return id
	}
	return NewRequestID()
}

// NewRequestID returns a random request id (a UUID, version 4), as the
// client draws for a request given none; the CLI prints it so that a
// retried command can reuse it.
func NewRequestID() string { return api.NewUUID() }

// validator is a request that checks its own fields (the api rules the
// server applies too).
type validator interface{ Validate() error }

// validate checks req locally, so a request the server would refuse fails
// the same way without a round trip.
func validate(verb api.Verb, req validator) error {
	if err := req.Validate(); err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return &APIError{Verb: string(verb), Code: ae.Code, Message: ae.Message}
		}
		return err
	}
	return nil
}
