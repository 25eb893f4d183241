package runtime

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/reprise/reprise/provider"
)

// Instance is the in-memory state of one execution (one partition) of an
// orchestration. Only the goroutine holding its control touches it: the
// dispatcher between turns, the engine during a turn, or one coroutine.
type Instance struct {
	e         *Engine
	id        string
	partition uint64
	name      string
	version   string
	input     []byte
	parent    *ParentRef
	createdAt time.Time
	fn        orchestrationFunc
	ctx       *OrchestrationContext
	logger    *slog.Logger

	// Scheduling (coroutine.go).
	ready     []*coroutine
	readyHead int
	running   *coroutine
	yield     chan struct{}
	kill      chan struct{}
	killed    bool
	wg        sync.WaitGroup

	// Replay. decisionIndex[d] is the history index of recorded decision d.
	replaying     bool
	history       []Event
	decisionIndex []int
	histLen       int
	now           time.Time
	nextDecision  uint64
	uuidSeq       uint64

	pending   map[uint64]*pendingCall
	waiters   map[string][]*future
	buffered  map[string][]bufferedEvent
	eventSeq  uint64
	suspended bool
	held      []Event

	// Output of the current turn.
	turnNow  time.Time
	turnOpen bool
	out      []provider.Event
	send     []provider.Outgoing
	cancels  []provider.MessageRef

	// Outcome.
	status       Status
	terminal     bool
	mainDone     bool
	mainOut      []byte
	mainErr      error
	failure      *Error
	output       []byte
	customStatus string
	can          *continueRequest
	// endKind and endIndex locate the recorded end of a replayed history.
	endKind  EventKind
	endIndex int
	// approximate retained bytes, for the cache.
	size int64
}

// pendingCall is an outstanding decision awaiting its completion.
type pendingCall struct {
	kind       EventKind
	f          *future
	name       string
	instanceID string
	queue      string
}

type bufferedEvent struct {
	seq     uint64
	payload []byte
}

func (e *Engine) newInstance(id string, partition uint64) *Instance {
	inst := &Instance{
		e:         e,
		id:        id,
		partition: partition,
		yield:     make(chan struct{}),
		kill:      make(chan struct{}),
		pending:   make(map[uint64]*pendingCall),
		waiters:   make(map[string][]*future),
		buffered:  make(map[string][]bufferedEvent),
		status:    StatusRunning,
	}
	inst.ctx = &OrchestrationContext{inst: inst, codec: e.codec}
	return inst
}

// beginTurn resets the per-turn output.
func (inst *Instance) beginTurn(now time.Time) {
	inst.turnNow, inst.turnOpen = now, false
	inst.out, inst.send, inst.cancels = nil, nil, nil
}

// record appends ev to the turn's new events, opening the turn with a
// TurnStarted event first.
func (inst *Instance) record(ev *Event) {
	if !inst.turnOpen {
		inst.turnOpen = true
		inst.now = inst.turnNow
		ts := Event{Kind: KindTurnStarted, Time: inst.turnNow}
		inst.appendEvent(&ts)
	}
	inst.appendEvent(ev)
}

func (inst *Instance) appendEvent(ev *Event) {
	data := appendEvent(make([]byte, 0, 16+len(ev.Payload)+len(ev.Name)), ev)
	inst.out = append(inst.out, provider.Event{Seq: uint64(inst.histLen), Data: data})
	inst.histLen++
	inst.size += int64(len(data)) / 4
}

// fail marks the instance failed; the first failure wins.
func (inst *Instance) fail(err error) {
	if inst.failure == nil {
		inst.failure = toError(err)
	}
}

// apply applies one event, recorded or live, and runs the code it unblocks.
// idx is the event's index in the partition's history.
func (inst *Instance) apply(ev *Event, idx int) {
	switch ev.Kind {
	case KindTurnStarted:
		inst.now = ev.Time
	case KindExecutionStarted:
		inst.start(ev)
	case KindActivityCompleted, KindActivityFailed, KindTimerFired,
		KindSubOrchestrationCompleted, KindSubOrchestrationFailed, KindEventRaised:
		if inst.suspended {
			inst.held = append(inst.held, *ev)
			return
		}
		inst.deliver(ev)
	case KindSuspended:
		inst.suspended = true
		inst.status = StatusSuspended
	case KindResumed:
		inst.suspended = false
		inst.status = StatusRunning
		held := inst.held
		inst.held = nil
		for i := range held {
			inst.deliver(&held[i])
			if inst.failure != nil || inst.mainDone {
				return
			}
		}
	case KindExecutionCompleted, KindExecutionFailed, KindExecutionTerminated, KindContinuedAsNew:
		// Only replay (replaytest) meets these: the instance ended here.
		inst.terminal = true
		inst.endKind, inst.endIndex = ev.Kind, idx
	}
}

// start begins the execution: the main coroutine runs the orchestration.
func (inst *Instance) start(ev *Event) {
	inst.name, inst.version, inst.input, inst.parent = ev.Name, ev.Version, ev.Payload, ev.Parent
	if inst.createdAt.IsZero() {
		inst.createdAt = inst.now
	}
	fn := inst.fn
	if fn == nil {
		inst.fail(&Error{Type: typeNotRegistered, Message: fmt.Sprintf("orchestration %q version %q is not registered", ev.Name, ev.Version)})
		return
	}
	input := ev.Payload
	inst.spawn(func() {
		out, err := fn(inst.ctx, input)
		inst.mainDone, inst.mainOut, inst.mainErr = true, out, err
	})
	inst.run()
}

// deliver resolves what a completion or event answers, then runs the code.
func (inst *Instance) deliver(ev *Event) {
	if ev.Kind == KindEventRaised {
		inst.deliverEvent(ev.Name, ev.Payload)
		inst.run()
		return
	}
	call := inst.pending[ev.Decision]
	if call == nil {
		return
	}
	delete(inst.pending, ev.Decision)
	switch ev.Kind {
	case KindActivityCompleted, KindTimerFired, KindSubOrchestrationCompleted:
		call.f.resolve(ev.Payload, nil)
	case KindActivityFailed:
		call.f.resolve(nil, fmt.Errorf("activity %q failed: %w", call.name, failureOrUnknown(ev.Failure)))
	case KindSubOrchestrationFailed:
		call.f.resolve(nil, fmt.Errorf("sub-orchestration %q (%s) failed: %w", call.name, call.instanceID, failureOrUnknown(ev.Failure)))
	}
	inst.run()
}

func failureOrUnknown(f *Error) *Error {
	if f == nil {
		return &Error{Message: "unknown failure"}
	}
	return f
}

func (inst *Instance) deliverEvent(name string, payload []byte) {
	ws := inst.waiters[name]
	for len(ws) > 0 {
		w := ws[0]
		ws[0] = nil
		ws = ws[1:]
		if !w.done {
			if len(ws) == 0 {
				delete(inst.waiters, name)
			} else {
				inst.waiters[name] = ws
			}
			w.resolve(payload, nil)
			return
		}
	}
	delete(inst.waiters, name)
	inst.buffered[name] = append(inst.buffered[name], bufferedEvent{seq: inst.eventSeq, payload: payload})
	inst.eventSeq++
}

// unconsumedEvents returns the buffered external events in arrival order.
func (inst *Instance) unconsumedEvents() []CarriedEvent {
	type item struct {
		name string
		ev   bufferedEvent
	}
	var all []item
	for name, q := range inst.buffered {
		for _, b := range q {
			all = append(all, item{name, b})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ev.seq < all[j].ev.seq })
	out := make([]CarriedEvent, len(all))
	for i, it := range all {
		out[i] = CarriedEvent{Name: it.name, Payload: it.ev.payload}
	}
	// Events held while suspended were never delivered: carry them too.
	for _, h := range inst.held {
		if h.Kind == KindEventRaised {
			out = append(out, CarriedEvent{Name: h.Name, Payload: h.Payload})
		}
	}
	return out
}

// finish records the end of the execution after the code returned or
// failed. It must only run live (not while replaying).
func (inst *Instance) finish() {
	if inst.terminal {
		return
	}
	inst.terminal = true
	switch {
	case inst.failure != nil:
		inst.failWith(inst.failure)
		return
	case inst.can != nil && inst.can.err == nil:
		ev := Event{Kind: KindContinuedAsNew, Payload: inst.can.input, Carried: inst.unconsumedEvents()}
		if inst.can.versionSet {
			ev.Version = inst.can.version
			ev.Attempt = 1 // marks Version as explicit
		}
		inst.record(&ev)
		inst.status = StatusContinuedAsNew
		inst.cancelOutstandingTimers()
		inst.send = append(inst.send, provider.Outgoing{Queue: inst.e.orchestratorQueue, Message: provider.Message{
			ID:     messageID(inst.id, inst.partition+1, idContinue, 0),
			Entity: inst.id,
			Data:   encodeEnvelope(&envelope{kind: msgContinue, partition: inst.partition + 1}),
		}})
		return
	case inst.can != nil:
		inst.failWith(toError(inst.can.err))
		return
	case inst.mainErr != nil:
		inst.failWith(toError(inst.mainErr))
		return
	}
	if len(inst.mainOut) > inst.e.limits.MaxPayloadBytes {
		inst.failWith(payloadError("output", len(inst.mainOut), inst.e.limits.MaxPayloadBytes))
		return
	}
	inst.output = inst.mainOut
	inst.status = StatusCompleted
	inst.record(&Event{Kind: KindExecutionCompleted, Payload: inst.mainOut})
	inst.cancelOutstandingTimers()
	inst.notifyParent(inst.mainOut, nil)
}

func (inst *Instance) failWith(f *Error) {
	inst.terminal = true
	inst.failure = f
	inst.status = StatusFailed
	inst.record(&Event{Kind: KindExecutionFailed, Failure: f})
	inst.cancelOutstandingTimers()
	inst.notifyParent(nil, f)
}

// terminate ends the execution by terminate, cascading to running children.
func (inst *Instance) terminate(reason string) {
	if inst.terminal && inst.status != StatusContinuedAsNew {
		return
	}
	inst.terminal = true
	f := &Error{Type: typeTerminated, Message: "terminated: " + reason}
	inst.failure = f
	inst.status = StatusTerminated
	inst.record(&Event{Kind: KindExecutionTerminated, Reason: reason})
	for _, d := range inst.pendingDecisions() {
		call := inst.pending[d]
		if call.kind == KindSubOrchestrationScheduled {
			inst.send = append(inst.send, inst.terminateMessage(call.instanceID, idCascade, d, "parent terminated: "+reason))
		}
	}
	inst.cancelOutstandingTimers()
	inst.notifyParent(nil, f)
}

// pendingDecisions returns the outstanding decisions in ascending order, so
// that anything derived from them is deterministic.
func (inst *Instance) pendingDecisions() []uint64 {
	ds := make([]uint64, 0, len(inst.pending))
	for d := range inst.pending {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}

func (inst *Instance) cancelOutstandingTimers() {
	for _, d := range inst.pendingDecisions() {
		if inst.pending[d].kind == KindTimerCreated {
			inst.cancelMessage(provider.MessageRef{Queue: inst.e.orchestratorQueue, ID: messageID(inst.id, inst.partition, idTimer, d)})
		}
	}
}

func (inst *Instance) terminateMessage(child string, tag byte, d uint64, reason string) provider.Outgoing {
	return provider.Outgoing{Queue: inst.e.orchestratorQueue, Message: provider.Message{
		ID:     messageID(inst.id, inst.partition, tag, d),
		Entity: child,
		// The parent decision that started the child: the child ignores a
		// terminate meant for another execution with its id (one that was
		// already running when this parent's start was rejected, or one
		// started after).
		Data: encodeEnvelope(&envelope{kind: msgTerminate, ev: Event{Reason: reason,
			Parent: &ParentRef{InstanceID: inst.id, Partition: inst.partition, Decision: d}}}),
	}}
}

// terminateMeantForMe reports whether a terminate message addresses this
// execution: one from a client (no parent named) always does, one from a
// parent only if this execution is the child that parent decision started.
func (inst *Instance) terminateMeantForMe(ev *Event) bool {
	if ev.Parent == nil {
		return true
	}
	if inst.parent == nil || *inst.parent != *ev.Parent {
		inst.e.logger.Info("ignoring a terminate from a parent that did not start this execution",
			"instance", inst.id, "from", ev.Parent.InstanceID, "reason", ev.Reason)
		return false
	}
	return true
}

// notifyParent sends a child's outcome to the parent decision it answers.
func (inst *Instance) notifyParent(output []byte, failure *Error) {
	if inst.parent == nil {
		return
	}
	env := envelope{kind: msgChildDone, partition: inst.parent.Partition, ev: Event{Decision: inst.parent.Decision, Payload: output, Failure: failure}}
	if failure != nil {
		env.flags |= flagFailed
	}
	inst.send = append(inst.send, provider.Outgoing{Queue: inst.e.orchestratorQueue, Message: provider.Message{
		ID:     messageID(inst.id, inst.partition, idDone, 0),
		Entity: inst.parent.InstanceID,
		Data:   encodeEnvelope(&env),
	}})
}

func payloadError(what string, n, limit int) *Error {
	return &Error{Type: typePayloadTooLarge, NonRetryable: true,
		Message: fmt.Sprintf("%s is %d bytes, the limit is %d", what, n, limit)}
}
