package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/provider"
)

// Client starts and controls orchestration instances through a provider.
// It is the in-process API that services and the Go client build on. Safe
// for concurrent use.
type Client struct {
	p        provider.Provider
	codec    Codec
	queue    string
	notifier *Notifier
	maxBytes int
}

// ClientOptions configure a [Client]. Zero fields take the defaults.
type ClientOptions struct {
	// OrchestratorQueue must match the workers' (default
	// [DefaultOrchestratorQueue]).
	OrchestratorQueue string
	// Codec must match the workers' (default [JSONCodec]).
	Codec Codec
	// Notifier, shared with an in-process [worker.Worker], wakes Wait without
	// polling.
	Notifier *Notifier
	// MaxPayloadBytes rejects larger inputs and events early (default
	// 2 MiB, as [Limits]).
	MaxPayloadBytes int
}

// NewClient returns a client over p.
func NewClient(p provider.Provider, opts ClientOptions) *Client {
	if opts.OrchestratorQueue == "" {
		opts.OrchestratorQueue = DefaultOrchestratorQueue
	}
	if opts.Codec == nil {
		opts.Codec = JSONCodec{}
	}
	if opts.MaxPayloadBytes <= 0 {
		opts.MaxPayloadBytes = Limits{}.withDefaults().MaxPayloadBytes
	}
	return &Client{p: p, codec: opts.Codec, queue: opts.OrchestratorQueue, notifier: opts.Notifier, maxBytes: opts.MaxPayloadBytes}
}

// StartOption configures [Client.Start]: [WithID], [WithVersion],
// [WithStartAt], [WithReusePolicy]. The NATS client (package client) speaks
// the same vocabulary (package api holds it), and its options work here too.
type StartOption interface{ AsStartOption() api.StartOption }

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
func WithID(id string) api.StartOption { return api.WithID(id) }

// WithStartAt delays the start until t.
func WithStartAt(t time.Time) api.StartOption { return api.WithStartAt(t) }

// WithReusePolicy sets what happens when the id is already in use (default
// [ReuseReject]).
func WithReusePolicy(p ReusePolicy) api.StartOption { return api.WithReusePolicy(p) }

// Start starts the orchestration name with input and returns the instance
// id ([WithID], or a new random one). It fails with ErrInstanceExists if
// the id is in use (see [WithReusePolicy]). On a provider that implements
// [provider.DedupSender], that includes a start of the same id (and
// generation) that is still queued or was just run: of several concurrent
// Starts of one id, exactly one succeeds. On other providers a second Start
// before the first one ran is accepted and dropped.
func (c *Client) Start(ctx context.Context, name string, input any, opts ...StartOption) (string, error) {
	apiOpts := make([]api.StartOption, len(opts))
	for i, o := range opts {
		apiOpts[i] = o.AsStartOption()
	}
	req := api.NewStartRequest(name, nil, apiOpts...)
	if req.ID == "" {
		req.ID = api.NewUUID()
	}
	return req.ID, c.start(ctx, req, input)
}

func (c *Client) start(ctx context.Context, o api.StartRequest, input any) error {
	name, id := o.Name, o.ID
	if name == "" {
		return fmt.Errorf("runtime: start: empty orchestration name")
	}
	if err := provider.ValidateEntity(id); err != nil {
		return fmt.Errorf("runtime: start %q: %w", name, err)
	}
	if !o.Reuse.Valid() {
		return fmt.Errorf("runtime: start %q: unknown reuse policy %q", id, o.Reuse)
	}
	data, err := c.payload("input", input)
	if err != nil {
		return err
	}
	partition := uint64(0)
	env := envelope{kind: msgStart, ev: Event{Name: name, Version: o.Version, Payload: data}}
	md, err := c.p.Metadata(ctx, id)
	switch {
	case errors.Is(err, provider.ErrNotFound):
	case err != nil:
		return fmt.Errorf("runtime: start %q: %w", id, err)
	case md[MetaStatus] != "":
		st := Status(md[MetaStatus])
		if o.Reuse != ReuseReplaceFinished || !st.IsTerminal() {
			return refuse(ErrInstanceExists, "%q is %s", id, st)
		}
		cur, err := c.p.CurrentPartition(ctx, id)
		if err != nil {
			return fmt.Errorf("runtime: start %q: %w", id, err)
		}
		partition = cur + 1
		env.flags |= flagReuse
		env.partition = partition
	}
	msg := provider.Outgoing{Queue: c.queue, Message: provider.Message{
		ID: messageID(id, partition, idClientNew, 0), Entity: id, Data: encodeEnvelope(&env), NotBefore: o.StartAt,
	}}
	dedup, ok := provider.As[provider.DedupSender](c.p)
	if !ok {
		if err := c.p.Send(ctx, msg); err != nil {
			return fmt.Errorf("runtime: send %s to %q: %w", env.kind, id, err)
		}
		return nil
	}
	// The start message's ID is deterministic per id and partition, so a
	// concurrent or repeated start of the same generation is dropped by
	// the provider, which tells us.
	enqueued, err := dedup.SendNew(ctx, msg)
	if err != nil {
		return fmt.Errorf("runtime: send %s to %q: %w", env.kind, id, err)
	}
	if !enqueued {
		return refuse(ErrInstanceExists, "%q was started already (its start is queued or was just run)", id)
	}
	return nil
}

// RequestOption configures one raise, terminate, suspend or resume: the
// vocabulary of package api, which the NATS client speaks too.
type RequestOption = api.RequestOption

// WithRequestID makes a request idempotent: the message it sends takes its
// identity from the instance, the kind of request and requestID, so a
// retried request (same instance, kind and requestID) is recorded once —
// within the provider's duplicate window by message-id dedup, and after it
// because the instance remembers the ids of the messages it consumed. A
// request id is 1 to [MaxRequestIDLen] bytes of ASCII letters, digits, '-',
// '_', '.' and ':'; anything else fails with [ErrInvalidRequestID]. Reuse
// a request id only for a retry of the same request: a different event or
// reason under a used id is dropped as a duplicate.
func WithRequestID(requestID string) RequestOption { return api.WithRequestID(requestID) }

// MaxRequestIDLen is the longest request id, in bytes.
const MaxRequestIDLen = 128

// ErrInvalidRequestID reports a request id that breaks [WithRequestID]'s
// rule.
var ErrInvalidRequestID = errors.New("runtime: invalid request id")

// requestMessageID is the message id of a client request to instance id of
// kind tag: derived from the request id when there is one, random
// otherwise. The two forms cannot collide: request ids have no '+'.
func requestMessageID(id string, tag byte, opts []RequestOption) (string, error) {
	requestID := api.RequestIDOf(opts)
	if requestID == "" {
		return randomID(id, tag), nil
	}
	if len(requestID) > MaxRequestIDLen {
		return "", fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidRequestID, len(requestID), MaxRequestIDLen)
	}
	for i := 0; i < len(requestID); i++ {
		c := requestID[i]
		if !(c == '-' || c == '_' || c == '.' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", fmt.Errorf("%w: %q has the character %q at byte %d", ErrInvalidRequestID, requestID, c, i)
		}
	}
	return messageID(id, 0, tag, 0) + "+" + requestID, nil
}

// RaiseEvent delivers an external event to instance id. Events to an id
// that was never started are dropped. See [WithRequestID] for retries.
func (c *Client) RaiseEvent(ctx context.Context, id, name string, payload any, opts ...RequestOption) error {
	data, err := c.payload("event "+name, payload)
	if err != nil {
		return err
	}
	return c.request(ctx, id, 'e', &envelope{kind: msgEventRaised, ev: Event{Name: name, Payload: data}}, opts)
}

// Terminate ends instance id with reason, cascading to its running
// sub-orchestrations. See [WithRequestID] for retries.
func (c *Client) Terminate(ctx context.Context, id, reason string, opts ...RequestOption) error {
	return c.request(ctx, id, 'T', &envelope{kind: msgTerminate, ev: Event{Reason: reason}}, opts)
}

// Suspend holds instance id: completions and events are recorded but not
// delivered to its code until Resume. See [WithRequestID] for retries.
func (c *Client) Suspend(ctx context.Context, id, reason string, opts ...RequestOption) error {
	return c.request(ctx, id, 'P', &envelope{kind: msgSuspend, ev: Event{Reason: reason}}, opts)
}

// Resume delivers what a suspended instance held and lets it run again.
// See [WithRequestID] for retries.
func (c *Client) Resume(ctx context.Context, id, reason string, opts ...RequestOption) error {
	return c.request(ctx, id, 'R', &envelope{kind: msgResume, ev: Event{Reason: reason}}, opts)
}

// request sends a client request of kind tag to instance id.
func (c *Client) request(ctx context.Context, id string, tag byte, env *envelope, opts []RequestOption) error {
	msgID, err := requestMessageID(id, tag, opts)
	if err != nil {
		return fmt.Errorf("runtime: %s: %w", env.kind, err)
	}
	return c.send(ctx, id, msgID, env, time.Time{})
}

func (c *Client) payload(what string, v any) ([]byte, error) {
	data, err := encodeValue(c.codec, v)
	if err != nil {
		return nil, err
	}
	if len(data) > c.maxBytes {
		return nil, refuse(ErrPayloadTooLarge, "%s is %d bytes, the limit is %d", what, len(data), c.maxBytes)
	}
	return data, nil
}

func (c *Client) send(ctx context.Context, id, msgID string, env *envelope, at time.Time) error {
	if err := provider.ValidateEntity(id); err != nil {
		return fmt.Errorf("runtime: %s: %w", env.kind, err)
	}
	err := c.p.Send(ctx, provider.Outgoing{Queue: c.queue, Message: provider.Message{
		ID: msgID, Entity: id, Data: encodeEnvelope(env), NotBefore: at,
	}})
	if err != nil {
		return fmt.Errorf("runtime: send %s to %q: %w", env.kind, id, err)
	}
	return nil
}

// InstanceStatus is an instance's state as its metadata records it.
type InstanceStatus struct {
	ID      string
	Name    string
	Version string
	Status  Status
	// Partition is the current partition: 0 for the first execution, one
	// more after each continue-as-new or restart of a finished id.
	Partition uint64
	Parent    string
	CreatedAt time.Time
	UpdatedAt time.Time
	// CustomStatus, Output are encoded with the codec; see DecodeOutput and
	// DecodeCustomStatus.
	CustomStatus []byte
	Output       []byte
	// Error is the failure of a failed or terminated instance.
	Error string

	codec Codec
}

// DecodeOutput decodes the output of a completed instance into out.
func (s *InstanceStatus) DecodeOutput(out any) error { return decodeValue(s.codec, s.Output, out) }

// DecodeCustomStatus decodes the custom status into out.
func (s *InstanceStatus) DecodeCustomStatus(out any) error {
	return decodeValue(s.codec, s.CustomStatus, out)
}

// Status returns the state of instance id, or ErrInstanceNotFound if it has
// not run yet (or was purged). Name, status, output and partition come from
// one metadata read, so they always belong to the same commit.
func (c *Client) Status(ctx context.Context, id string) (*InstanceStatus, error) {
	md, err := c.p.Metadata(ctx, id)
	if errors.Is(err, provider.ErrNotFound) || (err == nil && md[MetaStatus] == "") {
		return nil, refuse(ErrInstanceNotFound, "%q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("runtime: status of %q: %w", id, err)
	}
	s := &InstanceStatus{
		ID: id, Name: md[MetaName], Version: md[MetaVersion], Status: Status(md[MetaStatus]), Parent: md[MetaParent],
		Error: md[MetaError], codec: c.codec,
	}
	s.CreatedAt, _ = time.Parse(time.RFC3339Nano, md[MetaCreatedAt])
	s.UpdatedAt, _ = time.Parse(time.RFC3339Nano, md[MetaUpdatedAt])
	if v := md[MetaCustomStatus]; v != "" {
		s.CustomStatus = []byte(v)
	}
	if v := md[MetaOutput]; v != "" {
		s.Output = []byte(v)
	}
	if v, ok := md[MetaPartition]; ok {
		p, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("runtime: status of %q: partition %q: %w", id, v, err)
		}
		s.Partition = p
	} else if s.Partition, err = c.p.CurrentPartition(ctx, id); err != nil {
		// Metadata written before the partition key existed.
		return nil, fmt.Errorf("runtime: status of %q: %w", id, err)
	}
	return s, nil
}

// Wait blocks until instance id is finished (completed, failed or
// terminated) and returns its final status. With a [Notifier] it wakes on
// commits; otherwise it polls with backoff (up to 1 s apart).
func (c *Client) Wait(ctx context.Context, id string) (*InstanceStatus, error) {
	var notes <-chan Status
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
		if err != nil && !errors.Is(err, ErrInstanceNotFound) {
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
	Status Status
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
		pq.Key, pq.Value = MetaStatus, string(q.Status)
		n++
	}
	if q.Name != "" {
		pq.Key, pq.Value = MetaName, q.Name
		n++
	}
	if q.Parent != "" {
		pq.Key, pq.Value = MetaParent, q.Parent
		n++
	}
	if n != 1 {
		return ListPage{}, errors.New("runtime: list: set exactly one of Status, Name, Parent")
	}
	page, err := c.p.ListEntities(ctx, pq)
	if err != nil {
		return ListPage{}, fmt.Errorf("runtime: list: %w", err)
	}
	return ListPage{IDs: page.Entities, NextCursor: page.NextCursor}, nil
}

// History returns the decoded events of the current partition of instance
// id (the current execution).
func (c *Client) History(ctx context.Context, id string) ([]Event, error) {
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
		return 0, refuse(ErrInstanceNotFound, "%q", id)
	}
	if err != nil {
		return 0, fmt.Errorf("runtime: partition of %q: %w", id, err)
	}
	return p, nil
}

// PartitionHistory returns the decoded events of one partition (one
// execution before a continue-as-new) of instance id.
func (c *Client) PartitionHistory(ctx context.Context, id string, partition uint64) ([]Event, error) {
	raw, err := c.p.History(ctx, id, partition)
	if err != nil {
		return nil, fmt.Errorf("runtime: history of %q: %w", id, err)
	}
	evs, err := decodeHistory(raw)
	if err != nil {
		return nil, fmt.Errorf("runtime: history of %q: %w", id, err)
	}
	return evs, nil
}

// Purge deletes a finished instance: history, metadata and pending
// messages. It fails with ErrNotTerminal for an instance still running.
func (c *Client) Purge(ctx context.Context, id string) error {
	s, err := c.Status(ctx, id)
	if err != nil {
		return err
	}
	if !s.Status.IsTerminal() {
		return refuse(ErrNotTerminal, "%q is %s", id, s.Status)
	}
	if err := c.p.DeleteEntity(ctx, id); err != nil {
		return fmt.Errorf("runtime: purge %q: %w", id, err)
	}
	return nil
}
