package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
)

// Defaults of the [Option]s.
const (
	// DefaultRequestTimeout bounds one request that is not a wait.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultWaitInterval is how long one wait request asks the server to
	// hold before answering "not yet"; [Client.Wait] repeats it until its
	// context ends. It is short so that a wait held by an orchestrator that
	// died is re-asked of another one within seconds.
	DefaultWaitInterval = 5 * time.Second
)

// Client drives a Reprise deployment over a NATS connection. It is safe for
// concurrent use; it does not own the connection (closing it is the
// caller's business).
type Client struct {
	nc             *nats.Conn
	prefix         string
	requestTimeout time.Duration
	waitInterval   time.Duration
	retries        int
}

// Option configures a [Client].
type Option func(*Client)

// WithPrefix sets the subject prefix the server was configured with
// (default "reprise").
func WithPrefix(prefix string) Option {
	return func(c *Client) {
		if prefix != "" {
			c.prefix = prefix
		}
	}
}

// WithRequestTimeout bounds each request that is not a wait (default
// [DefaultRequestTimeout]); a shorter context deadline wins.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.requestTimeout = d
		}
	}
}

// WithWaitInterval sets how long each wait request asks the server to hold
// (default [DefaultWaitInterval]).
func WithWaitInterval(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.waitInterval = d
		}
	}
}

// New returns a client using nc.
func New(nc *nats.Conn, opts ...Option) *Client {
	c := &Client{nc: nc, prefix: api.DefaultPrefix, requestTimeout: DefaultRequestTimeout, waitInterval: DefaultWaitInterval, retries: DefaultRetries}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Prefix returns the subject prefix the client uses.
func (c *Client) Prefix() string { return c.prefix }

// call sends req to the verb's subject and decodes the success reply into
// out (nil to discard). timeout bounds the request unless ctx ends sooner.
func (c *Client) call(ctx context.Context, verb api.Verb, req, out any, timeout time.Duration) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("client: %s: encode request: %w", verb, err)
	}
	subject := api.Subject(c.prefix, verb)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(rctx, subject, body)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("client: %s: %w", verb, ctx.Err())
		case errors.Is(err, nats.ErrNoResponders):
			return fmt.Errorf("client: %s: no orchestrator answers on %s (is it running with prefix %q?): %w", verb, subject, c.prefix, ErrUnavailable)
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			return fmt.Errorf("client: %s: no reply on %s within %s: %w", verb, subject, timeout, ErrTimeout)
		case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining):
			return fmt.Errorf("client: %s: %w: %w", verb, ErrUnavailable, err)
		}
		return fmt.Errorf("client: %s: request on %s: %w", verb, subject, err)
	}
	return decodeReply(string(verb), msg.Data, out)
}

// decodeReply decodes a reply that is either an error body or the verb's
// success body. A reply whose bytes do not hold the error member's name is
// decoded once, into out.
func decodeReply(verb string, data []byte, out any) error {
	if out != nil && !bytes.Contains(data, []byte(`"error"`)) {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("client: %s: malformed reply %q: %w", verb, truncate(data), err)
		}
		return nil
	}
	var probe struct {
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return fmt.Errorf("client: %s: malformed reply %q: %w", verb, truncate(data), err)
	}
	// A status object has "error" too, as a string; only an object is an
	// error reply.
	if e := bytes.TrimSpace(probe.Error); len(e) > 0 && e[0] == '{' {
		var body api.Error
		if err := json.Unmarshal(e, &body); err != nil || body.Code == "" {
			return fmt.Errorf("client: %s: malformed error reply %q", verb, truncate(data))
		}
		return &APIError{Verb: verb, Code: body.Code, Message: body.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("client: %s: malformed reply %q: %w", verb, truncate(data), err)
	}
	return nil
}

// truncate shortens a reply quoted in an error message.
func truncate(b []byte) string {
	const n = 200
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}

// encodePayload encodes a user value as JSON; nil stays absent. A
// json.RawMessage is sent as is and must be valid JSON.
func encodePayload(what string, v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("client: %s is not valid JSON: %w", what, ErrBadRequest)
		}
		return raw, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("client: encode %s: %w", what, err)
	}
	return b, nil
}
