package api

import (
	"crypto/rand"
	"fmt"
	"time"
)

// The start and control vocabulary shared by both clients: the in-process
// one (package runtime/control, over a provider) and the NATS one (package client).
// Each client re-exports these names, so a caller writes the same options
// whichever it holds, and options built for one work with the other.

// StartOption configures a start.
type StartOption func(*startOptions)

type startOptions struct {
	id        string
	version   string
	at        time.Time
	reuse     ReusePolicy
	retention time.Duration
}

// WithID sets the instance id (default: a new random UUID).
func WithID(id string) StartOption { return func(o *startOptions) { o.id = id } }

// WithVersion starts a registered version of the orchestration instead of
// the latest.
func WithVersion(version string) StartOption {
	return func(o *startOptions) { o.version = version }
}

// WithStartAt delays the start until t (the instance is [StatusScheduled]
// until then).
func WithStartAt(t time.Time) StartOption { return func(o *startOptions) { o.at = t } }

// WithReusePolicy sets what happens when the id is already in use (default
// [ReuseReject]).
func WithReusePolicy(p ReusePolicy) StartOption { return func(o *startOptions) { o.reuse = p } }

// WithRetention keeps the instance for d after it finishes (and each of its
// executions for d after it continued as new) instead of the server's
// retention; d must be from [MinRetention] to [MaxRetention].
func WithRetention(d time.Duration) StartOption { return func(o *startOptions) { o.retention = d } }

// NewStartRequest is the start of name with input and opts applied, as a
// request value. Its ID is empty when no [WithID] was given.
func NewStartRequest(name string, input []byte, opts ...StartOption) StartRequest {
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	r := StartRequest{Name: name, ID: o.id, Version: o.version, Input: input, StartAt: o.at, Reuse: o.reuse}
	if o.retention != 0 {
		r.Retention = o.retention.String()
	}
	return r
}

// RequestOption configures one raise, terminate, suspend or resume.
type RequestOption func(*requestOptions)

type requestOptions struct {
	requestID string
}

// WithRequestID makes a raise, terminate, suspend or resume idempotent: it
// is recorded once per instance, kind of request and request id, however
// often it is sent (see [ValidateRequestID] for the allowed ids). Reuse a
// request id only for a retry of the same request.
func WithRequestID(id string) RequestOption {
	return func(o *requestOptions) { o.requestID = id }
}

// RequestIDOf is the request id opts set, or "" when none did.
func RequestIDOf(opts []RequestOption) string {
	var o requestOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o.requestID
}

// NewUUID returns a random UUID (version 4): the id of a start given none,
// and the request id the Go client draws for a request given none.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
