package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/reprise/reprise/provider"
)

// turnResult is everything one turn decided, like etcd raft's Ready: the
// dispatcher applies commit (or abandons the batch) and caches inst.
type turnResult struct {
	commit provider.Commit
	// abandon asks the dispatcher to abandon the batch for delay instead of
	// committing (an unregistered orchestration during a rolling deploy, or
	// an internal error).
	abandon bool
	delay   time.Duration
	reason  string
	// inst is the live instance to keep in the cache once the commit
	// succeeds; nil when the instance finished or must not be cached.
	inst *Instance
	// status is the instance's status after the commit ("" if unknown).
	status Status
	// name is the instance's orchestration name.
	name string
	// statusChanged is set when the commit changes the instance's status
	// or starts a new execution (partition) of it.
	statusChanged bool
	// stats is what the dispatcher reports to the [Observer].
	stats turnStats
	// fresh is set when the turn started an execution from a start
	// message; retention is that start's own retention (0: none).
	fresh     bool
	retention time.Duration
}

// inbound is one fetched message with its decoded envelope.
type inbound struct {
	msg *provider.Message
	env envelope
}

// turn computes the commit for one fetched batch. cached is the instance the
// cache held for this entity (nil on a miss); turn owns it from here on.
//
// The steps, in order:
//
//  1. Fence the cache (fenceCache): a cached instance is reused only if it
//     is exactly the state the batch's history describes (same partition,
//     same number of events) and not finished; otherwise it is dropped and
//     the history replayed.
//  2. Poison: a message delivered more often than maxDeliveries fails a
//     running instance without running any code.
//  3. Enter (enter): find the live instance the messages apply to, in one
//     of five cases — a finished instance (only a reuse start begins a new
//     execution in the next partition; anything else is dropped), a
//     continued-as-new one (the next execution starts in the next
//     partition, with the events it carries), no history yet (the first
//     start message starts it; no start: the messages are dropped), a cache
//     hit (the cached instance goes on), a cache miss (replay the history).
//     An unregistered orchestration is abandoned with backoff, then failed.
//  4. Apply (applyMessages): each message becomes history (or is dropped)
//     and runs the code it unblocks; an instance whose code returned or
//     failed is finished.
//  5. Limit: a partition with more than MaxEventsPerPartition events fails.
//  6. Result (result): the commit (new events, messages to send, timers to
//     cancel, changed metadata), the status, and the instance to cache.
//
// Invariants: turn performs no I/O and reads no clock but now, so its
// result depends only on its arguments: a cached turn and a replayed turn
// of the same batch produce the same commit (sim_test checks). Every
// instance turn does not return in the result (cached included) is stopped,
// so no orchestration goroutine outlives it. A panic abandons the batch with
// backoff: a partial turn is never committed.
func (e *Engine) turn(cached *Instance, b *provider.EntityBatch, now time.Time) turnResult {
	res := e.decide(cached, b, now)
	e.retain(&res, b, now)
	return res
}

// decide is turn without the expiries (retention.go).
func (e *Engine) decide(cached *Instance, b *provider.EntityBatch, now time.Time) (res turnResult) {
	// st is filled along the way and attached to whatever result is
	// returned (this defer runs last, after the panic handler below).
	st := turnStats{name: b.Metadata[MetaName]}
	defer func() { res.stats = st }()
	var inst *Instance
	defer func() {
		if r := recover(); r != nil {
			e.logger.Error("turn panicked", "instance", b.Lock.Entity, "panic", r, "stack", string(debug.Stack()))
			res = turnResult{abandon: true, delay: e.backoff(maxAttempt(b.Messages)), reason: fmt.Sprintf("internal error: %v", r)}
			if inst != nil {
				inst.stop()
			}
			if cached != nil {
				cached.stop()
			}
		}
	}()
	msgs := e.decodeMessages(b)
	prior := Status(b.Metadata[MetaStatus])
	cached = fenceCache(cached, b)
	if poisoned := e.poisoned(msgs); poisoned != nil && !prior.IsTerminal() {
		if cached != nil {
			cached.stop()
		}
		return e.poisonTurn(b.Lock.Entity, b, msgs, poisoned, now, &st)
	}
	if res, ok := e.scheduleTurn(b, msgs, prior, now); ok {
		if cached != nil {
			cached.stop()
		}
		st.name = res.name
		return res
	}
	fresh, early := e.enter(&inst, cached, b, msgs, prior, now, &st)
	if early != nil {
		return *early
	}
	if cached != nil && cached != inst {
		cached.stop()
	}
	e.applyMessages(inst, msgs, now, &st)
	e.limitHistory(inst)
	res = e.result(inst, b, prior, fresh, now, &st)
	if fresh {
		var start *inbound
		switch {
		case prior.IsTerminal():
			start = findReuseStart(msgs)
		case prior == StatusScheduled:
			start = findFire(msgs, b)
		default:
			start = firstStart(msgs)
		}
		res.fresh = true
		if start != nil {
			res.retention = start.env.ev.Timeout
		}
	}
	return res
}

// fenceCache returns cached if it holds the state b's history describes,
// and otherwise stops it and returns nil.
func fenceCache(cached *Instance, b *provider.EntityBatch) *Instance {
	if cached != nil && (cached.partition != b.Partition || cached.histLen != len(b.History) || cached.terminal) {
		cached.stop()
		return nil
	}
	return cached
}

// enter sets *inst to the live instance msgs apply to (step 3 of turn);
// fresh reports a new execution that is not a continuation. A non-nil early
// result ends the turn instead (drop, abandon or corrupt history).
func (e *Engine) enter(inst **Instance, cached *Instance, b *provider.EntityBatch, msgs []inbound, prior Status, now time.Time, st *turnStats) (fresh bool, early *turnResult) {
	id := b.Lock.Entity
	switch {
	case prior.IsTerminal():
		start := findReuseStart(msgs)
		if start == nil {
			res := e.finishedTurn(b, msgs, now)
			return false, &res
		}
		var ab *turnResult
		if *inst, ab = e.newExecution(id, b.Partition+1, &start.env.ev, nil, b, now); ab != nil {
			return false, ab
		}
		return true, nil
	case prior == StatusContinuedAsNew:
		evs, err := decodeHistory(b.History)
		if err != nil {
			res := e.corruptTurn(id, err)
			return false, &res
		}
		startEv, carried := continuation(evs)
		if startEv == nil {
			res := e.corruptTurn(id, fmt.Errorf("%w: status ContinuedAsNew without a ContinuedAsNew event", errCorrupt))
			return false, &res
		}
		var ab *turnResult
		*inst, ab = e.newExecution(id, b.Partition+1, startEv, carried, b, now)
		return false, ab
	case prior == StatusScheduled:
		// scheduleTurn left the turn to us: the schedule's fire is here.
		fire := findFire(msgs, b)
		if fire == nil {
			return false, &turnResult{}
		}
		var ab *turnResult
		if *inst, ab = e.newExecution(id, b.Partition, &fire.env.ev, nil, b, now); ab != nil {
			return false, ab
		}
		return true, nil
	case len(b.History) == 0:
		start := firstStart(msgs)
		if start == nil {
			// Nothing to run: drop the messages (an event for an id never
			// started, a late message to a purged instance).
			return false, &turnResult{}
		}
		var ab *turnResult
		if *inst, ab = e.newExecution(id, b.Partition, &start.env.ev, nil, b, now); ab != nil {
			return false, ab
		}
		return true, nil
	case cached != nil:
		st.cache = CacheHit
		*inst = cached
		cached.beginTurn(now)
		return false, nil
	}
	st.cache = CacheMiss
	return false, e.rebuild(inst, b, now, st)
}

// rebuild sets *inst to the instance replayed from b's history (a cache
// miss). An orchestration the registry lacks is abandoned with backoff,
// then failed without running; a non-nil result ends the turn instead.
func (e *Engine) rebuild(inst **Instance, b *provider.EntityBatch, now time.Time, st *turnStats) *turnResult {
	id := b.Lock.Entity
	evs, err := decodeHistory(b.History)
	if err != nil {
		res := e.corruptTurn(id, err)
		return &res
	}
	*inst, err = e.replay(id, b.Partition, evs)
	switch {
	case errors.Is(err, ErrNotRegistered):
		if ab := e.unregistered(b, err); ab != nil {
			return ab
		}
		// Give up: fail the instance without running it.
		started := startedEvent(evs)
		in := e.newInstance(id, b.Partition)
		*inst = in
		in.histLen = len(evs)
		in.name, in.version, in.parent = started.Name, started.Version, started.Parent
		in.beginTurn(now)
		in.failWith(&Error{Type: typeNotRegistered, NonRetryable: true, Message: err.Error()})
	case err != nil:
		res := e.corruptTurn(id, err)
		return &res
	default:
		st.replayed = len(evs)
		(*inst).beginTurn(now)
		if (*inst).failure != nil {
			(*inst).finish()
		}
	}
	return nil
}

// applyMessages applies msgs in order (step 4 of turn), noting how late
// each timer fired.
func (e *Engine) applyMessages(inst *Instance, msgs []inbound, now time.Time, st *turnStats) {
	for i := range msgs {
		if late, ok := timerLateness(inst, &msgs[i].env, now); ok {
			st.timerLateness = append(st.timerLateness, late)
		}
		e.applyMessage(inst, &msgs[i])
		if !inst.terminal && (inst.failure != nil || inst.mainDone) {
			inst.finish()
		}
	}
}

// limitHistory fails a running instance whose partition outgrew the limit.
func (e *Engine) limitHistory(inst *Instance) {
	if !inst.terminal && inst.histLen > e.limits.MaxEventsPerPartition {
		inst.failWith(&Error{Type: typeHistoryTooLong, NonRetryable: true, Message: fmt.Sprintf(
			"partition %d has %d events, the limit is %d: call ContinueAsNew to continue in a fresh partition",
			inst.partition, inst.histLen, e.limits.MaxEventsPerPartition)})
	}
}

// result builds the turn's result from the instance (step 6 of turn) and
// hands the instance over: to the result to cache, or stopped if finished.
func (e *Engine) result(inst *Instance, b *provider.EntityBatch, prior Status, fresh bool, now time.Time, st *turnStats) turnResult {
	res := turnResult{commit: provider.Commit{
		Partition:   inst.partition,
		Events:      inst.out,
		Send:        inst.send,
		Cancel:      inst.cancels,
		SetMetadata: e.metadata(inst, b.Metadata, fresh, now),
	}}
	if inst.partition != b.Partition || fresh {
		// A new execution: the previous one's results do not carry over.
		for _, k := range []string{MetaOutput, MetaError, MetaCustomStatus, MetaScheduledAt, MetaScheduledMessage} {
			if _, set := res.commit.SetMetadata[k]; !set && b.Metadata[k] != "" {
				res.commit.DeleteMetadata = append(res.commit.DeleteMetadata, k)
			}
		}
	}
	res.status = inst.status
	res.statusChanged = inst.status != prior || inst.partition != b.Partition || fresh
	res.name = inst.name
	st.started = fresh
	st.finish(inst, createdAt(b.Metadata, fresh, now), now)
	inst.out, inst.send, inst.cancels = nil, nil, nil
	if inst.terminal {
		inst.stop()
	} else {
		res.inst = inst
	}
	return res
}

// applyMessage turns one message into history (or drops it) and runs the
// code the new event unblocks.
func (e *Engine) applyMessage(inst *Instance, in *inbound) {
	env := &in.env
	if inst.terminal {
		// After continue-as-new in this turn, events are kept for the next
		// execution and a terminate still ends the instance.
		if inst.status == StatusContinuedAsNew {
			switch env.kind {
			case msgEventRaised:
				inst.record(&Event{Kind: KindEventRaised, Name: env.ev.Name, Payload: env.ev.Payload})
			case msgTerminate:
				if inst.terminateMeantForMe(&env.ev) {
					inst.terminate(env.ev.Reason)
				}
			}
		}
		if env.kind == msgStart {
			e.rejectStart(inst, in)
		}
		return
	}
	switch env.kind {
	case msgStart:
		e.rejectStart(inst, in)
		return
	case msgContinue:
		return
	case msgActivityResult, msgTimerFired, msgChildDone:
		ev, ok := inst.completionEvent(env)
		if !ok {
			return
		}
		inst.record(&ev)
		inst.safeApply(&ev, inst.histLen-1)
	case msgActivityTask:
		if !in.msg.DeadLettered {
			return
		}
		env.kind = msgActivityResult
		env.flags |= flagFailed
		env.ev.Failure = &Error{Type: typeDeadLettered, NonRetryable: true, Message: fmt.Sprintf(
			"activity task dead-lettered from queue %q after %d deliveries", in.msg.DeadLetterQueue, in.msg.Attempt)}
		ev, ok := inst.completionEvent(env)
		if !ok {
			return
		}
		inst.record(&ev)
		inst.safeApply(&ev, inst.histLen-1)
	case msgEventRaised:
		if len(env.ev.Payload) > e.limits.MaxPayloadBytes {
			e.logger.Warn("dropping oversized event", "instance", inst.id, "event", env.ev.Name, "bytes", len(env.ev.Payload))
			return
		}
		ev := Event{Kind: KindEventRaised, Name: env.ev.Name, Payload: env.ev.Payload}
		inst.record(&ev)
		inst.safeApply(&ev, inst.histLen-1)
	case msgTerminate:
		if inst.terminateMeantForMe(&env.ev) {
			inst.terminate(env.ev.Reason)
		}
	case msgSuspend:
		if !inst.suspended {
			ev := Event{Kind: KindSuspended, Reason: env.ev.Reason}
			inst.record(&ev)
			inst.apply(&ev, inst.histLen-1)
		}
	case msgResume:
		if inst.suspended {
			ev := Event{Kind: KindResumed, Reason: env.ev.Reason}
			inst.record(&ev)
			inst.safeApply(&ev, inst.histLen-1)
		}
	}
}

// completionEvent converts a result message into its history event, or
// reports false for a stale (older partition) or duplicate completion.
func (inst *Instance) completionEvent(env *envelope) (Event, bool) {
	if env.partition != inst.partition {
		return Event{}, false
	}
	call := inst.pending[env.ev.Decision]
	if call == nil {
		return Event{}, false
	}
	failed := env.flags&flagFailed != 0
	ev := Event{Decision: env.ev.Decision}
	switch {
	case env.kind == msgActivityResult && call.kind == KindActivityScheduled:
		ev.Kind = KindActivityCompleted
		if failed {
			ev.Kind = KindActivityFailed
		}
	case env.kind == msgTimerFired && call.kind == KindTimerCreated:
		ev.Kind = KindTimerFired
	case env.kind == msgChildDone && call.kind == KindSubOrchestrationScheduled:
		ev.Kind = KindSubOrchestrationCompleted
		if failed {
			ev.Kind = KindSubOrchestrationFailed
		}
	default:
		return Event{}, false
	}
	if failed {
		ev.Failure = failureOrUnknown(env.ev.Failure)
	} else {
		ev.Payload = env.ev.Payload
	}
	return ev, true
}

// rejectStart answers a child start for an id that is already in use.
func (e *Engine) rejectStart(inst *Instance, in *inbound) {
	p := in.env.ev.Parent
	if p == nil || (inst.parent != nil && *inst.parent == *p) {
		return
	}
	env := envelope{kind: msgChildDone, partition: p.Partition, flags: flagFailed, ev: Event{Decision: p.Decision,
		Failure: &Error{Type: "InstanceExists", NonRetryable: true, Message: fmt.Sprintf("instance %q already exists", inst.id)}}}
	inst.send = append(inst.send, provider.Outgoing{Queue: e.orchestratorQueue, Message: provider.Message{
		ID:     in.msg.ID + "/rejected",
		Entity: p.InstanceID,
		Data:   encodeEnvelope(&env),
	}})
}

// newExecution starts an execution at partition from a start event (a start
// message, a reuse start or a continuation) and runs its code until it
// blocks. A non-nil turnResult asks to abandon instead (unregistered name).
func (e *Engine) newExecution(id string, partition uint64, start *Event, carried []CarriedEvent, b *provider.EntityBatch, now time.Time) (*Instance, *turnResult) {
	fn, version, ok := e.reg.orchestration(start.Name, start.Version, start.Version == "")
	inst := e.newInstance(id, partition)
	inst.beginTurn(now)
	ev := Event{Kind: KindExecutionStarted, Name: start.Name, Version: version, Payload: start.Payload, Parent: start.Parent}
	if !ok {
		err := fmt.Errorf("%w: orchestration %q version %q", ErrNotRegistered, start.Name, start.Version)
		if ab := e.unregistered(b, err); ab != nil {
			return nil, ab
		}
		inst.record(&ev)
		inst.name, inst.version, inst.parent = ev.Name, ev.Version, ev.Parent
		inst.createdAt = now
		inst.failWith(&Error{Type: typeNotRegistered, NonRetryable: true, Message: err.Error()})
		return inst, nil
	}
	if len(start.Payload) > e.limits.MaxPayloadBytes {
		inst.record(&ev)
		inst.name, inst.version, inst.parent = ev.Name, ev.Version, ev.Parent
		inst.failWith(payloadError("input", len(start.Payload), e.limits.MaxPayloadBytes))
		return inst, nil
	}
	inst.fn = fn
	inst.record(&ev)
	inst.safeApply(&ev, inst.histLen-1)
	if inst.failure != nil || inst.mainDone {
		inst.finish()
	}
	for _, c := range carried {
		cev := Event{Kind: KindEventRaised, Name: c.Name, Payload: c.Payload}
		switch {
		case !inst.terminal:
			inst.record(&cev)
			inst.safeApply(&cev, inst.histLen-1)
			if inst.failure != nil || inst.mainDone {
				inst.finish()
			}
		case inst.status == StatusContinuedAsNew:
			// Continued again already: carry the rest once more.
			inst.record(&cev)
		}
	}
	return inst, nil
}

// continuation reads a partition that ended with continue-as-new and returns
// the next execution's start event and the external events it carries.
func continuation(evs []Event) (*Event, []CarriedEvent) {
	started := startedEvent(evs)
	canIdx := -1
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == KindContinuedAsNew {
			canIdx = i
			break
		}
	}
	if started == nil || canIdx < 0 {
		return nil, nil
	}
	can := &evs[canIdx]
	start := &Event{Kind: KindExecutionStarted, Name: started.Name, Payload: can.Payload, Parent: started.Parent}
	if can.Attempt == 1 {
		start.Version = can.Version
	}
	carried := append([]CarriedEvent(nil), can.Carried...)
	for _, ev := range evs[canIdx+1:] {
		if ev.Kind == KindEventRaised {
			carried = append(carried, CarriedEvent{Name: ev.Name, Payload: ev.Payload})
		}
	}
	return start, carried
}

// unregistered decides between backing off (returns the abandon result) and
// giving up (returns nil) for an orchestration the registry lacks.
func (e *Engine) unregistered(b *provider.EntityBatch, err error) *turnResult {
	attempt := maxAttempt(b.Messages)
	if attempt >= e.unknownAttempts {
		return nil
	}
	return &turnResult{abandon: true, delay: e.backoff(attempt), reason: err.Error()}
}

func maxAttempt(msgs []provider.Message) int {
	n := 1
	for i := range msgs {
		n = max(n, msgs[i].Attempt)
	}
	return n
}

func (e *Engine) decodeMessages(b *provider.EntityBatch) []inbound {
	out := make([]inbound, 0, len(b.Messages))
	for i := range b.Messages {
		m := &b.Messages[i]
		env, err := decodeEnvelope(m.Data)
		if err != nil {
			e.logger.Warn("dropping undecodable message", "instance", b.Lock.Entity, "message", m.ID, "err", err)
			continue
		}
		out = append(out, inbound{msg: m, env: env})
	}
	return out
}

func (e *Engine) poisoned(msgs []inbound) *inbound {
	if e.maxDeliveries <= 0 {
		return nil
	}
	for i := range msgs {
		if !msgs[i].msg.DeadLettered && msgs[i].msg.Attempt > e.maxDeliveries {
			return &msgs[i]
		}
	}
	return nil
}

// poisonTurn fails the instance because message p was delivered too often,
// without running any code.
func (e *Engine) poisonTurn(id string, b *provider.EntityBatch, msgs []inbound, p *inbound, now time.Time, st *turnStats) turnResult {
	f := &Error{Type: typePoison, NonRetryable: true, Message: fmt.Sprintf(
		"poison: message %q (%s) was delivered %d times, the limit is %d", p.msg.ID, p.env.kind, p.msg.Attempt, e.maxDeliveries)}
	e.logger.Error("poison message fails the instance", "instance", id, "message", p.msg.ID, "kind", p.env.kind.String(), "attempt", p.msg.Attempt)
	st.poisoned = true
	return e.failTurn(id, b, msgs, f, now, st)
}

// tooLargeTurn fails the instance whose turn's commit the provider refused
// as too large (err says the size and the limit), without running any code:
// the turn's decisions are dropped, the instance fails.
func (e *Engine) tooLargeTurn(b *provider.EntityBatch, err error, now time.Time) turnResult {
	id := b.Lock.Entity
	f := &Error{Type: typeCommitTooLarge, NonRetryable: true, Message: fmt.Sprintf(
		"the turn's decisions do not fit in one commit (%v); split the work (e.g. fan out in smaller batches, pass references instead of large payloads)", err)}
	e.logger.Error("commit too large fails the instance", "instance", id, "err", err)
	st := turnStats{name: b.Metadata[MetaName]}
	res := e.failTurn(id, b, e.decodeMessages(b), f, now, &st)
	res.stats = st
	e.retain(&res, b, now)
	return res
}

// failTurn fails the instance with f without running any code.
func (e *Engine) failTurn(id string, b *provider.EntityBatch, msgs []inbound, f *Error, now time.Time, st *turnStats) turnResult {
	evs, err := decodeHistory(b.History)
	if err != nil {
		evs = nil
	}
	inst := e.newInstance(id, b.Partition)
	inst.histLen = len(b.History)
	inst.beginTurn(now)
	fresh := false
	if started := startedEvent(evs); started != nil {
		inst.name, inst.version, inst.parent = started.Name, started.Version, started.Parent
	} else if Status(b.Metadata[MetaStatus]) == StatusScheduled {
		// Failed before its start time: it never runs.
		inst.name, inst.version = b.Metadata[MetaName], b.Metadata[MetaVersion]
		if ref := b.Metadata[MetaScheduledMessage]; ref != "" {
			inst.cancels = append(inst.cancels, provider.MessageRef{Queue: e.orchestratorQueue, ID: ref})
		}
	} else if start := firstStart(msgs); start != nil && len(b.History) == 0 {
		ev := Event{Kind: KindExecutionStarted, Name: start.env.ev.Name, Version: start.env.ev.Version, Parent: start.env.ev.Parent}
		inst.record(&ev)
		inst.name, inst.version, inst.parent = ev.Name, ev.Version, ev.Parent
		inst.createdAt = now
		fresh = true
	}
	inst.failWith(f)
	st.started = fresh
	st.finish(inst, createdAt(b.Metadata, fresh, now), now)
	res := turnResult{
		commit: provider.Commit{Partition: b.Partition, Events: inst.out, Send: inst.send, Cancel: inst.cancels,
			SetMetadata: e.metadata(inst, b.Metadata, fresh, now)},
		status:        StatusFailed,
		statusChanged: true, // only a non-terminal instance is poisoned
		name:          inst.name,
		fresh:         fresh,
	}
	if start := firstStart(msgs); fresh && start != nil {
		res.retention = start.env.ev.Timeout
	}
	inst.stop()
	return res
}

// finishedTurn drops messages to a finished instance (answering child starts
// that collide with it).
func (e *Engine) finishedTurn(b *provider.EntityBatch, msgs []inbound, now time.Time) turnResult {
	inst := e.newInstance(b.Lock.Entity, b.Partition)
	inst.terminal = true
	inst.beginTurn(now)
	for i := range msgs {
		if msgs[i].env.kind == msgStart {
			e.rejectStart(inst, &msgs[i])
		}
	}
	return turnResult{commit: provider.Commit{Partition: b.Partition, Send: inst.send}}
}

func (e *Engine) corruptTurn(id string, err error) turnResult {
	e.logger.Error("cannot decode history", "instance", id, "err", err)
	return turnResult{abandon: true, delay: time.Minute, reason: err.Error()}
}

// firstStart returns the first start message that is not the fire of a
// scheduled start (a fire starts only the schedule that sent it).
func firstStart(msgs []inbound) *inbound {
	for i := range msgs {
		if msgs[i].env.kind == msgStart && !msgs[i].isFire() {
			return &msgs[i]
		}
	}
	return nil
}

func findReuseStart(msgs []inbound) *inbound {
	for i := range msgs {
		if msgs[i].env.kind == msgStart && msgs[i].env.flags&flagReuse != 0 {
			return &msgs[i]
		}
	}
	return nil
}

// metadata computes the keys to upsert: only those whose value changed
// against prior, so that an unchanged turn writes nothing but updatedAt.
func (e *Engine) metadata(inst *Instance, prior provider.Metadata, fresh bool, now time.Time) provider.Metadata {
	set := provider.Metadata{}
	put := func(k, v string) {
		if prior[k] != v || (fresh && v != "") {
			set[k] = v
		}
	}
	put(MetaStatus, string(inst.status))
	put(MetaPartition, strconv.FormatUint(inst.partition, 10))
	put(MetaName, inst.name)
	if inst.version != "" || prior[MetaVersion] != "" {
		put(MetaVersion, inst.version)
	}
	if inst.parent != nil {
		put(MetaParent, inst.parent.InstanceID)
	}
	if fresh || prior[MetaCreatedAt] == "" {
		set[MetaCreatedAt] = now.UTC().Format(time.RFC3339Nano)
	}
	if inst.customStatus != "" {
		put(MetaCustomStatus, inst.customStatus)
	}
	switch inst.status {
	case StatusCompleted:
		put(MetaOutput, string(inst.output))
	case StatusFailed, StatusTerminated:
		if inst.failure != nil {
			put(MetaError, inst.failure.Error())
		}
	}
	if len(set) > 0 || len(inst.out) > 0 {
		set[MetaUpdatedAt] = now.UTC().Format(time.RFC3339Nano)
	}
	if len(set) == 0 {
		return nil
	}
	return set
}

// discardLogger returns a logger that drops everything.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
