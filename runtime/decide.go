package runtime

import (
	"fmt"
	"time"

	"github.com/reprise/reprise/provider"
)

// decide assigns the next decision number to ev. While replaying it checks
// ev against the recorded decision at that number and records nothing; live,
// it records ev. It returns the pending call registered for the decision.
// A mismatch panics with a nondeterminismPanic (recovered by the coroutine or
// the engine), since the code can no longer be trusted to continue.
func (inst *Instance) decide(ev *Event, kind EventKind) (*pendingCall, bool) {
	ev.Kind = kind
	ev.Decision = inst.nextDecision
	inst.nextDecision++
	live := !inst.replaying
	if !live {
		inst.matchRecorded(ev)
	} else {
		inst.record(ev)
	}
	call := &pendingCall{kind: kind, f: inst.newFuture(), name: ev.Name, instanceID: ev.InstanceID, queue: ev.Queue}
	inst.pending[ev.Decision] = call
	d := ev.Decision
	call.f.cancel = func() { inst.cancelCall(d) }
	return call, live
}

func (inst *Instance) matchRecorded(ev *Event) {
	d := ev.Decision
	if d >= uint64(len(inst.decisionIndex)) {
		panic(nondeterminismPanic{&NondeterminismError{Seq: d, EventIndex: -1, Call: ev.describe()}})
	}
	idx := inst.decisionIndex[d]
	rec := &inst.history[idx]
	if rec.Kind != ev.Kind || rec.Name != ev.Name || rec.InstanceID != ev.InstanceID {
		panic(nondeterminismPanic{&NondeterminismError{Seq: d, EventIndex: idx, Recorded: rec.describe(), Call: ev.describe()}})
	}
}

// checkCall applies the per-call limits; a non-nil result is the failed
// future to return instead of making the call.
func (inst *Instance) checkCall(what string, payload []byte) *future {
	if len(payload) > inst.e.limits.MaxPayloadBytes {
		return inst.failedFuture(payloadError(what, len(payload), inst.e.limits.MaxPayloadBytes))
	}
	if len(inst.pending) >= inst.e.limits.MaxPendingFutures {
		return inst.failedFuture(&Error{Type: typeTooManyPending, NonRetryable: true,
			Message: fmt.Sprintf("%s: the instance has %d pending calls, the limit is %d", what, len(inst.pending), inst.e.limits.MaxPendingFutures)})
	}
	return nil
}

// cancelCall withdraws an outstanding decision. Live, it records the
// cancellation and undoes the work: a pending timer or activity task message
// is removed, a child is terminated.
func (inst *Instance) cancelCall(d uint64) {
	call := inst.pending[d]
	if call == nil {
		return
	}
	delete(inst.pending, d)
	if inst.replaying || inst.terminal {
		return
	}
	inst.record(&Event{Kind: KindCancelRequested, Decision: d})
	switch call.kind {
	case KindTimerCreated:
		inst.cancelMessage(provider.MessageRef{Queue: inst.e.orchestratorQueue, ID: messageID(inst.id, inst.partition, idTimer, d)})
	case KindActivityScheduled:
		inst.cancelMessage(provider.MessageRef{Queue: call.queue, ID: messageID(inst.id, inst.partition, idActivity, d)})
	case KindSubOrchestrationScheduled:
		if !inst.unsend(provider.MessageRef{Queue: inst.e.orchestratorQueue, ID: messageID(inst.id, inst.partition, idChild, d)}) {
			inst.send = append(inst.send, inst.terminateMessage(call.instanceID, idCancel, d, "cancelled by parent"))
		}
	}
}

// cancelMessage removes a message sent by an earlier turn (Commit.Cancel) or
// drops it from this turn's outgoing messages (a provider applies Cancel
// before Send, so cancelling a message sent in the same commit would miss).
func (inst *Instance) cancelMessage(ref provider.MessageRef) {
	if !inst.unsend(ref) {
		inst.cancels = append(inst.cancels, ref)
	}
}

// unsend removes ref from this turn's outgoing messages, if it is there.
func (inst *Instance) unsend(ref provider.MessageRef) bool {
	for i := len(inst.send) - 1; i >= 0; i-- {
		if inst.send[i].Message.ID == ref.ID && inst.send[i].Queue == ref.Queue {
			inst.send = append(inst.send[:i], inst.send[i+1:]...)
			return true
		}
	}
	return false
}

// createTimer schedules a durable timer.
func (inst *Instance) createTimer(d time.Duration) *future {
	if f := inst.checkCall("timer", nil); f != nil {
		return f
	}
	ev := Event{Time: inst.now.Add(d)}
	call, live := inst.decide(&ev, KindTimerCreated)
	if live {
		inst.send = append(inst.send, provider.Outgoing{Queue: inst.e.orchestratorQueue, Message: provider.Message{
			ID:        messageID(inst.id, inst.partition, idTimer, ev.Decision),
			Entity:    inst.id,
			NotBefore: ev.Time,
			// The due time lets the dispatcher measure the timer's lateness.
			Data: encodeEnvelope(&envelope{kind: msgTimerFired, partition: inst.partition, ev: Event{Decision: ev.Decision, Time: ev.Time}}),
		}})
	}
	return call.f
}

// scheduleActivity makes one activity attempt (without retry).
func (inst *Instance) scheduleActivity(name string, input []byte, o *callOptions, attempt int) *future {
	if f := inst.checkCall(fmt.Sprintf("input of activity %q", name), input); f != nil {
		return f
	}
	queue := o.queue
	if queue == "" {
		queue = inst.e.activityQueue
	}
	ev := Event{Name: name, Payload: input, Attempt: attempt, Timeout: o.timeout}
	if queue != inst.e.activityQueue {
		ev.Queue = queue
	}
	call, live := inst.decide(&ev, KindActivityScheduled)
	call.queue = queue
	if live {
		inst.send = append(inst.send, provider.Outgoing{Queue: queue, Message: provider.Message{
			ID:     messageID(inst.id, inst.partition, idActivity, ev.Decision),
			Entity: inst.id,
			// Time is the schedule time, for the schedule-to-start latency.
			Data: encodeEnvelope(&envelope{kind: msgActivityTask, partition: inst.partition,
				ev: Event{Decision: ev.Decision, Name: name, Payload: input, Attempt: attempt, Timeout: o.timeout, Time: inst.now}}),
		}})
	}
	return inst.withTimeout(call.f, o.timeout, fmt.Sprintf("activity %q attempt %d", name, attempt))
}

// scheduleChild makes one sub-orchestration attempt (without retry).
func (inst *Instance) scheduleChild(name string, input []byte, o *callOptions, attempt int) *future {
	if f := inst.checkCall(fmt.Sprintf("input of sub-orchestration %q", name), input); f != nil {
		return f
	}
	id := o.instanceID
	if id == "" {
		id = fmt.Sprintf("%s:%d:%d", inst.id, inst.partition, inst.nextDecision)
	}
	if attempt > 1 {
		id = fmt.Sprintf("%s#%d", id, attempt)
	}
	if err := provider.ValidateEntity(id); err != nil {
		return inst.failedFuture(NewNonRetryableError("InvalidInstanceID", err.Error()))
	}
	ev := Event{Name: name, Version: o.version, InstanceID: id, Payload: input, Attempt: attempt}
	call, live := inst.decide(&ev, KindSubOrchestrationScheduled)
	if live {
		inst.send = append(inst.send, provider.Outgoing{Queue: inst.e.orchestratorQueue, Message: provider.Message{
			ID:     messageID(inst.id, inst.partition, idChild, ev.Decision),
			Entity: id,
			Data: encodeEnvelope(&envelope{kind: msgStart, ev: Event{Name: name, Version: o.version, Payload: input,
				Parent: &ParentRef{InstanceID: inst.id, Partition: inst.partition, Decision: ev.Decision}}}),
		}})
	}
	return inst.withTimeout(call.f, o.timeout, fmt.Sprintf("sub-orchestration %q attempt %d", name, attempt))
}

// startOrchestration starts an independent instance (fire and forget).
func (inst *Instance) startOrchestration(name, id string, input []byte) error {
	if f := inst.checkCall(fmt.Sprintf("input of orchestration %q", name), input); f != nil {
		return f.err
	}
	if err := provider.ValidateEntity(id); err != nil {
		return fmt.Errorf("runtime: StartOrchestration %q: %w", name, err)
	}
	ev := Event{Name: name, InstanceID: id, Payload: input}
	call, live := inst.decide(&ev, KindOrchestrationStarted)
	// Nothing answers a fire-and-forget start.
	delete(inst.pending, ev.Decision)
	call.f.cancel = nil
	if live {
		inst.send = append(inst.send, provider.Outgoing{Queue: inst.e.orchestratorQueue, Message: provider.Message{
			ID:     messageID(inst.id, inst.partition, idStart, ev.Decision),
			Entity: id,
			Data:   encodeEnvelope(&envelope{kind: msgStart, ev: Event{Name: name, Payload: input}}),
		}})
	}
	return nil
}

// withTimeout races f against a durable timer of d (no timer when d <= 0).
func (inst *Instance) withTimeout(f *future, d time.Duration, what string) *future {
	if d <= 0 || f.done {
		return f
	}
	t := inst.createTimer(d)
	out := inst.newFuture()
	timedOut := false
	out.cancel = func() { f.Cancel(); t.Cancel() }
	f.onDone(func() {
		t.Cancel()
		if timedOut {
			out.resolve(nil, &Error{Type: typeTimeout, Message: fmt.Sprintf("%s timed out after %s", what, d)})
			return
		}
		out.resolve(f.payload, f.err)
	})
	t.onDone(func() {
		if !f.done && t.err == nil {
			timedOut = true
			f.Cancel()
		}
	})
	return out
}

// withRetry runs attempt(1), attempt(2), ... with backoff timers between
// failed attempts while policy allows.
func (inst *Instance) withRetry(policy *RetryPolicy, attempt func(n int) *future) *future {
	first := attempt(1)
	if policy == nil || policy.MaxAttempts <= 1 {
		return first
	}
	out := inst.newFuture()
	var current *future
	var try func(n int, f *future)
	try = func(n int, f *future) {
		current = f
		f.onDone(func() {
			if out.done {
				return
			}
			if f.err == nil || !policy.retryable(f.err, n) {
				out.resolve(f.payload, f.err)
				return
			}
			t := inst.createTimer(policy.delay(n))
			current = t
			t.onDone(func() {
				if out.done || t.err != nil {
					return
				}
				try(n+1, attempt(n+1))
			})
		})
	}
	out.cancel = func() {
		if current != nil {
			current.Cancel()
		}
	}
	try(1, first)
	return out
}
