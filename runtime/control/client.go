package control

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
)

// Client starts and controls orchestration instances through a provider.
// It is the in-process API that services (services/apiserver) build on.
// Safe for concurrent use.
type Client struct {
	p        provider.Provider
	codec    runtime.Codec
	queue    string
	notifier *runtime.Notifier
	maxBytes int
}

// Options configure a [Client]. Zero fields take the defaults.
type Options struct {
	// OrchestratorQueue must match the workers' (default
	// [runtime.DefaultOrchestratorQueue]).
	OrchestratorQueue string
	// Codec must match the workers' (default [runtime.JSONCodec]).
	Codec runtime.Codec
	// Notifier, shared with an in-process worker (package runtime/worker),
	// wakes Wait without polling.
	Notifier *runtime.Notifier
	// MaxPayloadBytes rejects larger inputs and events early (default
	// [runtime.DefaultMaxPayloadBytes], as runtime.Limits).
	MaxPayloadBytes int
}

// New returns a client over p.
func New(p provider.Provider, opts Options) *Client {
	if opts.OrchestratorQueue == "" {
		opts.OrchestratorQueue = runtime.DefaultOrchestratorQueue
	}
	if opts.Codec == nil {
		opts.Codec = runtime.JSONCodec{}
	}
	if opts.MaxPayloadBytes <= 0 {
		opts.MaxPayloadBytes = runtime.DefaultMaxPayloadBytes
	}
	return &Client{p: p, codec: opts.Codec, queue: opts.OrchestratorQueue, notifier: opts.Notifier, maxBytes: opts.MaxPayloadBytes}
}

// StartOption configures [Client.Start]: [WithID], [WithVersion],
// [WithStartAt], [WithReusePolicy]. It is the NATS client's (package
// client) type too: package api holds the one vocabulary both speak.
type StartOption = api.StartOption

// ReusePolicy says what a start does when its instance id is in use.
type ReusePolicy = api.ReusePolicy

// Reuse policies.
const (
	// ReuseReject (the default) fails the start with ErrInstanceExists.
	ReuseReject = api.ReuseReject
	// ReuseReplaceFinished starts afresh, in a new partition, over an
	// instance that finished (completed, failed or terminated); a running
	// one is still ErrInstanceExists.
	ReuseReplaceFinished = api.ReuseReplaceFinished
)

// WithID sets the instance id (default: a new random UUID).
func WithID(id string) StartOption { return api.WithID(id) }

// WithVersion starts a registered version instead of the latest.
func WithVersion(version string) StartOption { return api.WithVersion(version) }

// WithStartAt delays the start until t: the instance is Scheduled until
// then (see runtime.StatusScheduled).
func WithStartAt(t time.Time) StartOption { return api.WithStartAt(t) }

// WithReusePolicy sets what happens when the id is already in use (default
// [ReuseReject]).
func WithReusePolicy(p ReusePolicy) StartOption { return api.WithReusePolicy(p) }

// WithRetention keeps the instance for d after it finishes instead of the
// engine's retention.
func WithRetention(d time.Duration) StartOption { return api.WithRetention(d) }

// Start starts the orchestration name with input and returns the instance
// id ([WithID], or a new random one). It fails with
// runtime.ErrInstanceExists if the id is in use (see [WithReusePolicy]). On
// a provider with [provider.DedupSender], that includes a start of the same
// id (and generation) that is still queued or was just run: of several
// concurrent Starts of one id, exactly one succeeds. On other providers a
// second Start before the first one ran is accepted and dropped.
func (c *Client) Start(ctx context.Context, name string, input any, opts ...StartOption) (string, error) {
	req := api.NewStartRequest(name, nil, opts...)
	if req.ID == "" {
		req.ID = api.NewUUID()
	}
	return req.ID, c.start(ctx, req, input)
}

func (c *Client) start(ctx context.Context, o api.StartRequest, input any) error {
	name, id := o.Name, o.ID
	if name == "" {
		return fmt.Errorf("control: start: empty orchestration name")
	}
	if err := provider.ValidateEntity(id); err != nil {
		return fmt.Errorf("control: start %q: %w", name, err)
	}
	if !o.Reuse.Valid() {
		return fmt.Errorf("control: start %q: unknown reuse policy %q", id, o.Reuse)
	}
	data, err := c.payload("input", input)
	if err != nil {
		return err
	}
	partition, reuse, err := c.startPartition(ctx, id, o.Reuse)
	if err != nil {
		return err
	}
	retention, err := o.RetentionDuration()
	if err != nil {
		return fmt.Errorf("control: start %q: %w", id, err)
	}
	msg := runtime.StartMessageRetained(c.queue, id, partition, reuse, name, o.Version, data, o.StartAt, retention)
	dedup, ok := provider.As[provider.DedupSender](c.p)
	if !ok {
		if err := c.p.Send(ctx, msg); err != nil {
			return fmt.Errorf("control: send start to %q: %w", id, err)
		}
		return nil
	}
	// The start message's ID is deterministic per id and partition, so a
	// concurrent or repeated start of the same generation is dropped by
	// the provider, which tells us.
	enqueued, err := dedup.SendNew(ctx, msg)
	if err != nil {
		return fmt.Errorf("control: send start to %q: %w", id, err)
	}
	if !enqueued {
		return refuse(runtime.ErrInstanceExists, "%q was started already (its start is queued or was just run)", id)
	}
	return nil
}

// startPartition is the partition a start of id begins: 0 for a new id,
// the next one (reuse) over a finished instance the policy lets it replace.
func (c *Client) startPartition(ctx context.Context, id string, policy ReusePolicy) (partition uint64, reuse bool, err error) {
	md, err := c.p.Metadata(ctx, id)
	switch {
	case errors.Is(err, provider.ErrNotFound):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("control: start %q: %w", id, err)
	case md[runtime.MetaStatus] == "":
		return 0, false, nil
	}
	st := runtime.Status(md[runtime.MetaStatus])
	if policy != ReuseReplaceFinished || !st.IsTerminal() {
		return 0, false, refuse(runtime.ErrInstanceExists, "%q is %s", id, st)
	}
	cur, err := c.p.CurrentPartition(ctx, id)
	if err != nil {
		return 0, false, fmt.Errorf("control: start %q: %w", id, err)
	}
	return cur + 1, true, nil
}

// refuse is the runtime.RequestError of kind with a formatted detail.
func refuse(kind error, format string, args ...any) error {
	return &runtime.RequestError{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// RequestOption configures one raise, terminate, suspend or resume: the
// NATS client's type too (package api holds the vocabulary).
type RequestOption = api.RequestOption

// WithRequestID makes a request idempotent: a retried request (same
// instance, kind and requestID) is recorded once (see runtime.RaiseMessage
// for how, and for the allowed ids; anything else fails with
// runtime.ErrInvalidRequestID). Reuse a request id only for a retry of the
// same request: a different event or reason under a used id is dropped as a
// duplicate.
func WithRequestID(requestID string) RequestOption { return api.WithRequestID(requestID) }

// RaiseEvent delivers an external event to instance id. Events to an id
// that was never started are dropped. See [WithRequestID] for retries.
func (c *Client) RaiseEvent(ctx context.Context, id, name string, payload any, opts ...RequestOption) error {
	data, err := c.payload("event "+name, payload)
	if err != nil {
		return err
	}
	return c.send(ctx, id, "event raised")(runtime.RaiseMessage(c.queue, id, api.RequestIDOf(opts), name, data))
}

// Terminate ends instance id with reason, cascading to its running
// sub-orchestrations; a Scheduled instance ends without running. See
// [WithRequestID] for retries.
func (c *Client) Terminate(ctx context.Context, id, reason string, opts ...RequestOption) error {
	return c.send(ctx, id, "terminate")(runtime.TerminateMessage(c.queue, id, api.RequestIDOf(opts), reason))
}

// Suspend holds instance id: completions and events are recorded but not
// delivered to its code until Resume. See [WithRequestID] for retries.
func (c *Client) Suspend(ctx context.Context, id, reason string, opts ...RequestOption) error {
	return c.send(ctx, id, "suspend")(runtime.SuspendMessage(c.queue, id, api.RequestIDOf(opts), reason))
}

// Resume delivers what a suspended instance held and lets it run again.
// See [WithRequestID] for retries.
func (c *Client) Resume(ctx context.Context, id, reason string, opts ...RequestOption) error {
	return c.send(ctx, id, "resume")(runtime.ResumeMessage(c.queue, id, api.RequestIDOf(opts), reason))
}

// send returns the function that sends a request message built for id (or
// returns the error building it).
func (c *Client) send(ctx context.Context, id, what string) func(provider.Outgoing, error) error {
	return func(msg provider.Outgoing, err error) error {
		if err != nil {
			return err
		}
		if err := c.p.Send(ctx, msg); err != nil {
			return fmt.Errorf("control: send %s to %q: %w", what, id, err)
		}
		return nil
	}
}

func (c *Client) payload(what string, v any) ([]byte, error) {
	data, err := runtime.EncodeValue(c.codec, v)
	if err != nil {
		return nil, err
	}
	if len(data) > c.maxBytes {
		return nil, refuse(runtime.ErrPayloadTooLarge, "%s is %d bytes, the limit is %d", what, len(data), c.maxBytes)
	}
	return data, nil
}

// InstanceStatus is an instance's state as its metadata records it.
type InstanceStatus struct {
	ID      string
	Name    string
	Version string
	Status  runtime.Status
	// Partition is the current partition: 0 for the first execution, one
	// more after each continue-as-new or restart of a finished id.
	Partition uint64
	Parent    string
	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpiresAt is when a finished instance is deleted (zero while it
	// runs).
	ExpiresAt time.Time
	// CustomStatus, Output are encoded with the codec; see DecodeOutput and
	// DecodeCustomStatus.
	CustomStatus []byte
	Output       []byte
	// Error is the failure of a failed or terminated instance.
	Error string
	// ScheduledAt is when a Scheduled instance starts (zero otherwise).
	ScheduledAt time.Time

	codec runtime.Codec
}

// DecodeOutput decodes the output of a completed instance into out.
func (s *InstanceStatus) DecodeOutput(out any) error {
	return runtime.DecodeValue(s.codec, s.Output, out)
}

// DecodeCustomStatus decodes the custom status into out.
func (s *InstanceStatus) DecodeCustomStatus(out any) error {
	return runtime.DecodeValue(s.codec, s.CustomStatus, out)
}

// Status returns the state of instance id, or ErrInstanceNotFound if it has
// not run yet (or was purged). Name, status, output and partition come from
// one metadata read, so they always belong to the same commit.
func (c *Client) Status(ctx context.Context, id string) (*InstanceStatus, error) {
	md, err := c.p.Metadata(ctx, id)
	if errors.Is(err, provider.ErrNotFound) || (err == nil && md[runtime.MetaStatus] == "") {
		return nil, refuse(runtime.ErrInstanceNotFound, "%q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("control: status of %q: %w", id, err)
	}
	return c.statusOf(ctx, id, md)
}

// StatusFromMetadata is the status of instance id whose metadata is md
// (runtime.StatusChange's Metadata, say), read from the provider only for
// what md lacks (the partition, in metadata written by an early version).
// It returns ErrInstanceNotFound when md records no status.
func (c *Client) StatusFromMetadata(ctx context.Context, id string, md provider.Metadata) (*InstanceStatus, error) {
	if md[runtime.MetaStatus] == "" {
		return nil, refuse(runtime.ErrInstanceNotFound, "%q", id)
	}
	return c.statusOf(ctx, id, md)
}

// statusOf decodes the metadata md of instance id.
func (c *Client) statusOf(ctx context.Context, id string, md provider.Metadata) (*InstanceStatus, error) {
	var err error
	s := &InstanceStatus{
		ID: id, Name: md[runtime.MetaName], Version: md[runtime.MetaVersion], Status: runtime.Status(md[runtime.MetaStatus]), Parent: md[runtime.MetaParent],
		Error: md[runtime.MetaError], codec: c.codec,
	}
	s.CreatedAt, _ = time.Parse(time.RFC3339Nano, md[runtime.MetaCreatedAt])
	s.UpdatedAt, _ = time.Parse(time.RFC3339Nano, md[runtime.MetaUpdatedAt])
	if s.Status == runtime.StatusScheduled {
		s.ScheduledAt, _ = time.Parse(time.RFC3339Nano, md[runtime.MetaScheduledAt])
	}
	s.ExpiresAt, _ = time.Parse(time.RFC3339Nano, md[runtime.MetaExpiresAt])
	if v := md[runtime.MetaCustomStatus]; v != "" {
		s.CustomStatus = []byte(v)
	}
	if v := md[runtime.MetaOutput]; v != "" {
		s.Output = []byte(v)
	}
	if v, ok := md[runtime.MetaPartition]; ok {
		p, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("control: status of %q: partition %q: %w", id, v, err)
		}
		s.Partition = p
	} else if s.Partition, err = c.p.CurrentPartition(ctx, id); err != nil {
		// Metadata written before the partition key existed.
		return nil, fmt.Errorf("control: status of %q: %w", id, err)
	}
	return s, nil
}

// Wait blocks until instance id is finished (completed, failed or
// terminated) and returns its final status. With a [runtime.Notifier] it wakes on
// commits; otherwise it polls with backoff (up to 1 s apart).
func (c *Client) Wait(ctx context.Context, id string) (*InstanceStatus, error) {
	var notes <-chan runtime.Status
	if c.notifier != nil {
		ch, unsubscribe := c.notifier.Subscribe(id)
		defer unsubscribe()
		notes = ch
	}
	delay := 5 * time.Millisecond
	if notes != nil {
		delay = time.Second // a safety net only
	}
	for {
		s, err := c.Status(ctx, id)
		if err == nil && s.Status.IsTerminal() {
			return s, nil
		}
		if err != nil && !errors.Is(err, runtime.ErrInstanceNotFound) {
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-notes:
		case <-t.C:
		}
		t.Stop()
		if notes == nil {
			delay = min(delay*2, time.Second)
		}
	}
}

// ListQuery selects instances by status, name or parent (exactly one).
type ListQuery struct {
	Status runtime.Status
	Name   string
	Parent string
	// Cursor continues from a previous page's NextCursor.
	Cursor string
	// Limit caps the page size (default 100).
	Limit int
}

// ListPage is one page of instance ids, in ascending order.
type ListPage struct {
	IDs        []string
	NextCursor string
}

// List pages through instances with the given status, name or parent.
func (c *Client) List(ctx context.Context, q ListQuery) (ListPage, error) {
	pq := provider.ListQuery{Cursor: q.Cursor, Limit: q.Limit}
	n := 0
	if q.Status != "" {
		pq.Key, pq.Value = runtime.MetaStatus, string(q.Status)
		n++
	}
	if q.Name != "" {
		pq.Key, pq.Value = runtime.MetaName, q.Name
		n++
	}
	if q.Parent != "" {
		pq.Key, pq.Value = runtime.MetaParent, q.Parent
		n++
	}
	if n != 1 {
		return ListPage{}, errors.New("control: list: set exactly one of Status, Name, Parent")
	}
	page, err := c.p.ListEntities(ctx, pq)
	if err != nil {
		return ListPage{}, fmt.Errorf("control: list: %w", err)
	}
	return ListPage{IDs: page.Entities, NextCursor: page.NextCursor}, nil
}

// History returns the decoded events of the current partition of instance
// id (the current execution).
func (c *Client) History(ctx context.Context, id string) ([]runtime.Event, error) {
	p, err := c.Partition(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.PartitionHistory(ctx, id, p)
}

// Partition returns the current partition of instance id: 0 for its first
// execution, one more after each continue-as-new or reuse.
func (c *Client) Partition(ctx context.Context, id string) (uint64, error) {
	p, err := c.p.CurrentPartition(ctx, id)
	if errors.Is(err, provider.ErrNotFound) {
		return 0, refuse(runtime.ErrInstanceNotFound, "%q", id)
	}
	if err != nil {
		return 0, fmt.Errorf("control: partition of %q: %w", id, err)
	}
	return p, nil
}

// PartitionHistory returns the decoded events of one partition (one
// execution before a continue-as-new) of instance id.
func (c *Client) PartitionHistory(ctx context.Context, id string, partition uint64) ([]runtime.Event, error) {
	raw, err := c.p.History(ctx, id, partition)
	if err != nil {
		return nil, fmt.Errorf("control: history of %q: %w", id, err)
	}
	evs, err := runtime.DecodeHistory(raw)
	if err != nil {
		return nil, fmt.Errorf("control: history of %q: %w", id, err)
	}
	return evs, nil
}

// Purge deletes a finished or Scheduled instance: history, metadata and
// pending messages (a Scheduled instance's delayed start with them, so it
// never runs). It fails with ErrNotTerminal for an instance still running.
func (c *Client) Purge(ctx context.Context, id string) error {
	s, err := c.Status(ctx, id)
	if err != nil {
		return err
	}
	if !s.Status.IsTerminal() && s.Status != runtime.StatusScheduled {
		return refuse(runtime.ErrNotTerminal, "%q is %s", id, s.Status)
	}
	if err := c.p.DeleteEntity(ctx, id); err != nil {
		return fmt.Errorf("control: purge %q: %w", id, err)
	}
	return nil
}
