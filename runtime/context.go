package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// OrchestrationContext is what orchestration code uses to act durably. Every
// method must be called from the orchestration's own goroutines (its function
// or a branch started with Go); the context is not safe for use elsewhere.
type OrchestrationContext struct {
	inst  *Instance
	codec Codec
}

// InstanceID returns the instance's id.
func (c *OrchestrationContext) InstanceID() string { return c.inst.id }

// Name returns the orchestration's registered name.
func (c *OrchestrationContext) Name() string { return c.inst.name }

// Version returns the orchestration version the instance runs.
func (c *OrchestrationContext) Version() string { return c.inst.version }

// Now returns the time of the current turn, the same on every replay.
func (c *OrchestrationContext) Now() time.Time { return c.inst.now }

// IsReplaying reports whether the code is re-executing recorded history
// (its calls are then matched against the history, not performed).
func (c *OrchestrationContext) IsReplaying() bool { return c.inst.replaying }

// NewUUID returns a UUID that is the same on every replay.
func (c *OrchestrationContext) NewUUID() string {
	n := c.inst.uuidSeq
	c.inst.uuidSeq++
	return deterministicUUID(c.inst.id, c.inst.partition, n)
}

// Logger returns a logger tagged with the instance that drops records while
// the code replays, so each line is logged once.
func (c *OrchestrationContext) Logger() *slog.Logger {
	if c.inst.logger == nil {
		c.inst.logger = slog.New(replayHandler{inst: c.inst, next: c.inst.e.logger.Handler()}).
			With("instance", c.inst.id, "orchestration", c.inst.name)
	}
	return c.inst.logger
}

// CallActivity schedules the activity name with input and returns its
// future. Options set a retry policy, a per-attempt timeout and the worker
// queue.
func (c *OrchestrationContext) CallActivity(name string, input any, opts ...ActivityOption) Future {
	var o callOptions
	for _, opt := range opts {
		opt.applyActivity(&o)
	}
	data, err := encodeValue(c.codec, input)
	if err != nil {
		return c.inst.failedFuture(err)
	}
	return c.inst.withRetry(o.retry, func(n int) *future { return c.inst.scheduleActivity(name, data, &o, n) })
}

// CallSubOrchestration starts the orchestration name as a child and returns
// a future of its output. The child's id is given with WithInstanceID or
// derived from this instance's id and the call's position.
func (c *OrchestrationContext) CallSubOrchestration(name string, input any, opts ...SubOption) Future {
	var o callOptions
	for _, opt := range opts {
		opt.applySub(&o)
	}
	data, err := encodeValue(c.codec, input)
	if err != nil {
		return c.inst.failedFuture(err)
	}
	return c.inst.withRetry(o.retry, func(n int) *future { return c.inst.scheduleChild(name, data, &o, n) })
}

// StartOrchestration starts an independent orchestration instance id (fire
// and forget: nothing reports back). A start of an id already in use is
// ignored by that instance.
func (c *OrchestrationContext) StartOrchestration(name, id string, input any) error {
	data, err := encodeValue(c.codec, input)
	if err != nil {
		return err
	}
	return c.inst.startOrchestration(name, id, data)
}

// CreateTimer returns a future that completes after d of durable time.
func (c *OrchestrationContext) CreateTimer(d time.Duration) Future {
	return c.inst.createTimer(d)
}

// WaitForEvent returns a future of the next external event called name.
// Events are delivered by name in arrival order; an event raised before
// anyone waits is kept until a wait takes it.
func (c *OrchestrationContext) WaitForEvent(name string, opts ...EventOption) Future {
	var o eventOptions
	for _, opt := range opts {
		opt(&o)
	}
	inst := c.inst
	if q := inst.buffered[name]; len(q) > 0 {
		f := inst.newFuture()
		f.resolve(q[0].payload, nil)
		if len(q) == 1 {
			delete(inst.buffered, name)
		} else {
			inst.buffered[name] = q[1:]
		}
		return f
	}
	f := inst.newFuture()
	inst.waiters[name] = append(inst.waiters[name], f)
	if o.timeout > 0 {
		t := inst.createTimer(o.timeout)
		f.onDone(func() { t.Cancel() })
		t.onDone(func() {
			if t.err == nil {
				f.resolve(nil, &Error{Type: typeTimeout, Message: fmt.Sprintf("event %q did not arrive within %s", name, o.timeout)})
			}
		})
	}
	return f
}

// ContinueAsNew ends this execution once the orchestration function returns
// (its return values are then ignored) and starts a fresh one with input, in
// the instance's next partition, carrying external events that were not
// consumed. By default the new execution runs the latest version.
func (c *OrchestrationContext) ContinueAsNew(input any, opts ...ContinueAsNewOption) {
	data, err := encodeValue(c.codec, input)
	r := &continueRequest{input: data, err: err}
	if err == nil && len(data) > c.inst.e.limits.MaxPayloadBytes {
		r.err = payloadError("continue-as-new input", len(data), c.inst.e.limits.MaxPayloadBytes)
	}
	for _, o := range opts {
		o(r)
	}
	c.inst.can = r
}

// SetCustomStatus publishes v (encoded with the codec) as the instance's
// custom status, visible to clients.
func (c *OrchestrationContext) SetCustomStatus(v any) error {
	data, err := encodeValue(c.codec, v)
	if err != nil {
		return err
	}
	if len(data) > c.inst.e.limits.MaxPayloadBytes {
		return payloadError("custom status", len(data), c.inst.e.limits.MaxPayloadBytes)
	}
	c.inst.customStatus = string(data)
	return nil
}

// Go runs fn as a concurrent branch of the orchestration. Branches run one
// at a time, switching only when the running one awaits, in an order fixed
// by the history. The returned future completes with fn's error.
func (c *OrchestrationContext) Go(fn func(ctx *OrchestrationContext) error) Future {
	f := c.inst.newFuture()
	c.inst.spawn(func() {
		err := fn(c)
		f.resolve(nil, err)
	})
	return f
}

// WhenAll returns a future that completes when all fs have; Await returns
// the first error among fs, in argument order.
func (c *OrchestrationContext) WhenAll(fs ...Future) Future { return c.inst.whenAll(fs) }

// WhenAny returns a future that completes when the first of fs does; Await
// into an *int yields its index.
func (c *OrchestrationContext) WhenAny(fs ...Future) Future { return c.inst.whenAny(fs) }

// replayHandler drops log records while the instance replays.
type replayHandler struct {
	inst *Instance
	next slog.Handler
}

func (h replayHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.inst.replaying && h.next.Enabled(ctx, l)
}

func (h replayHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.inst.replaying {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h replayHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return replayHandler{h.inst, h.next.WithAttrs(as)}
}

func (h replayHandler) WithGroup(name string) slog.Handler {
	return replayHandler{h.inst, h.next.WithGroup(name)}
}
