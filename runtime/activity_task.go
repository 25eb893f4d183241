package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/reprise/reprise/provider"
)

// ActivityTask is a decoded activity task: what a worker runs. The worker
// does the I/O (fetch, lock renewal, completion); the core decodes the task,
// runs the registered function and builds the result message.
type ActivityTask struct {
	// Instance is the id of the instance that scheduled the call.
	Instance string
	// Name is the activity's registered name; Input its encoded input.
	Name  string
	Input []byte
	// Timeout bounds each attempt (0: none).
	Timeout time.Duration
	// ScheduledAt is when the call was scheduled (zero if unknown).
	ScheduledAt time.Time

	env envelope
}

// DecodeActivityTask decodes an activity task message; an error reports a
// message that is none (the worker drops it).
func DecodeActivityTask(m *provider.Message) (*ActivityTask, error) {
	env, err := decodeEnvelope(m.Data)
	if err != nil {
		return nil, err
	}
	if env.kind != msgActivityTask {
		return nil, fmt.Errorf("runtime: message %q is %s, not an activity task", m.ID, env.kind)
	}
	return &ActivityTask{
		Instance: m.Entity, Name: env.ev.Name, Input: env.ev.Payload, Timeout: env.ev.Timeout, ScheduledAt: env.ev.Time,
		env: env,
	}, nil
}

// HasActivity reports whether the activity name is registered.
func (e *Engine) HasActivity(name string) bool {
	_, ok := e.reg.activity(name)
	return ok
}

// RunActivity runs the task's registered function with the engine's codec;
// a panic becomes a failure, an unregistered name ([Engine.HasActivity])
// ErrNotRegistered.
func (e *Engine) RunActivity(ctx context.Context, t *ActivityTask) ([]byte, error) {
	fn, ok := e.reg.activity(t.Name)
	if !ok {
		return nil, fmt.Errorf("%w: activity %q", ErrNotRegistered, t.Name)
	}
	return callActivity(ctx, fn, e.codec, t.Input)
}

func callActivity(ctx context.Context, fn activityFunc, codec Codec, input []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Type: typePanic, Message: fmt.Sprintf("panic: %v", r), Stack: string(debug.Stack())}
		}
	}()
	return fn(ctx, codec, input)
}

// ActivityReply is the message that answers t with what [Engine.RunActivity]
// returned, and the outcome to report: the output, or the failure runErr (a
// deadline of the task's own Timeout is a timeout; a result over the
// payload limit fails the call).
func (e *Engine) ActivityReply(t *ActivityTask, out []byte, runErr error) (provider.Outgoing, ActivityOutcome) {
	var failure *Error
	outcome := OutcomeSuccess
	if runErr != nil {
		failure, outcome = toError(runErr), OutcomeFailure
		if errors.Is(runErr, context.DeadlineExceeded) && t.Timeout > 0 {
			failure, outcome = &Error{Type: typeTimeout, Message: fmt.Sprintf("activity %q exceeded its %s timeout: %v", t.Name, t.Timeout, runErr)}, OutcomeTimeout
		}
	} else if len(out) > e.limits.MaxPayloadBytes {
		failure, outcome = payloadError(fmt.Sprintf("result of activity %q", t.Name), len(out), e.limits.MaxPayloadBytes), OutcomeFailure
		out = nil
	}
	return e.activityResult(t, out, failure), outcome
}

// UnregisteredActivityReply fails t: no worker that received it (attempts
// deliveries) has its activity registered.
func (e *Engine) UnregisteredActivityReply(t *ActivityTask, attempts int) provider.Outgoing {
	return e.activityResult(t, nil, &Error{Type: typeNotRegistered, NonRetryable: true,
		Message: fmt.Sprintf("activity %q is not registered on any worker that received it (%d deliveries)", t.Name, attempts)})
}

func (e *Engine) activityResult(t *ActivityTask, out []byte, failure *Error) provider.Outgoing {
	task := &t.env
	res := envelope{kind: msgActivityResult, partition: task.partition, ev: Event{Decision: task.ev.Decision, Payload: out}}
	if failure != nil {
		res.flags |= flagFailed
		res.ev.Failure = failure
		res.ev.Payload = nil
	}
	return provider.Outgoing{Queue: e.orchestratorQueue, Message: provider.Message{
		ID:     messageID(t.Instance, task.partition, idResult, task.ev.Decision),
		Entity: t.Instance,
		Data:   encodeEnvelope(&res),
	}}
}
