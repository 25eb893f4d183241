package runtime

import (
	"errors"
	"fmt"

	"github.com/reprise/reprise/provider"
)

// decodeHistory decodes a partition's stored events.
func decodeHistory(history []provider.Event) ([]Event, error) {
	evs := make([]Event, len(history))
	for i := range history {
		ev, err := DecodeEvent(history[i].Data)
		if err != nil {
			return nil, fmt.Errorf("history event %d (seq %d): %w", i, history[i].Seq, err)
		}
		evs[i] = ev
	}
	return evs, nil
}

// startedEvent returns the ExecutionStarted event of a decoded partition.
func startedEvent(evs []Event) *Event {
	for i := range evs {
		if evs[i].Kind == KindExecutionStarted {
			return &evs[i]
		}
	}
	return nil
}

// replay rebuilds a running instance by re-executing its code against the
// decoded history of its current partition. The code's calls are matched
// against the recorded decisions; a divergence leaves inst.failure set to a
// *NondeterminismError. It returns ErrNotRegistered (wrapped) when the
// recorded name and version have no registered function.
func (e *Engine) replay(id string, partition uint64, evs []Event) (*Instance, error) {
	started := startedEvent(evs)
	if started == nil {
		return nil, fmt.Errorf("%w: partition %d of %q has no ExecutionStarted event", errCorrupt, partition, id)
	}
	fn, _, ok := e.reg.orchestration(started.Name, started.Version, false)
	if !ok {
		return nil, fmt.Errorf("%w: orchestration %q version %q", ErrNotRegistered, started.Name, started.Version)
	}
	inst := e.newInstance(id, partition)
	inst.fn = fn
	inst.history = evs
	for i := range evs {
		if evs[i].Kind.isDecision() {
			if evs[i].Decision != uint64(len(inst.decisionIndex)) {
				return nil, fmt.Errorf("%w: history event %d records decision %d, expected %d", errCorrupt, i, evs[i].Decision, len(inst.decisionIndex))
			}
			inst.decisionIndex = append(inst.decisionIndex, i)
		}
	}
	inst.replaying = true
	for i := range evs {
		inst.safeApply(&evs[i], i)
		if inst.failure != nil || inst.terminal {
			break
		}
	}
	inst.replaying = false
	inst.histLen = len(evs)
	if inst.failure == nil {
		switch {
		case inst.nextDecision < uint64(len(inst.decisionIndex)):
			idx := inst.decisionIndex[inst.nextDecision]
			inst.fail(&NondeterminismError{Seq: inst.nextDecision, EventIndex: idx, Recorded: evs[idx].describe()})
		case inst.mainDone && !inst.terminal:
			inst.fail(&NondeterminismError{Seq: inst.nextDecision, EventIndex: -1, Call: "a return from the orchestration function"})
		case inst.terminal && !inst.mainDone && (inst.endKind == KindExecutionCompleted || inst.endKind == KindContinuedAsNew):
			inst.fail(&NondeterminismError{Seq: inst.nextDecision, EventIndex: inst.endIndex,
				Recorded: "a return from the orchestration function (" + inst.endKind.String() + ")"})
		}
	}
	inst.history, inst.decisionIndex = nil, nil
	for i := range evs {
		inst.size += int64(len(evs[i].Payload)) / 4
	}
	return inst, nil
}

// safeApply applies ev, turning a nondeterminism panic raised outside a
// coroutine (in a retry or timeout callback) into the instance's failure.
func (inst *Instance) safeApply(ev *Event, idx int) {
	defer func() {
		if r := recover(); r != nil {
			nd, ok := r.(nondeterminismPanic)
			if !ok {
				panic(r)
			}
			inst.fail(nd.err)
		}
	}()
	inst.apply(ev, idx)
}

// Replay re-executes an orchestration against a recorded history (one
// partition, as the control client's History returns it) using the functions in reg,
// and reports the first divergence as a *NondeterminismError (errors.Is
// ErrNondeterminism). A panic in the code is returned as an *Error of type
// "Panic". It runs no activities and sends nothing. It is the engine behind
// package replaytest.
func Replay(reg *Registry, history []Event, opts ...ReplayOption) error {
	cfg := replayConfig{codec: JSONCodec{}, id: "replay"}
	for _, o := range opts {
		o(&cfg)
	}
	e := &Engine{reg: reg, codec: cfg.codec, limits: Limits{}.withDefaults(), logger: discardLogger(),
		orchestratorQueue: DefaultOrchestratorQueue, activityQueue: DefaultActivityQueue}
	evs := append([]Event(nil), history...)
	inst, err := e.replay(cfg.id, cfg.partition, evs)
	if err != nil {
		return err
	}
	defer inst.stop()
	if inst.failure != nil {
		var nd *NondeterminismError
		if errors.As(inst.failure, &nd) {
			return nd
		}
		return inst.failure
	}
	return nil
}

// ReplayOption configures [Replay].
type ReplayOption func(*replayConfig)

type replayConfig struct {
	codec     Codec
	id        string
	partition uint64
}

// WithReplayInstance sets the instance id and partition the history was
// recorded under (sub-orchestration ids derived from them are compared).
func WithReplayInstance(id string, partition uint64) ReplayOption {
	return func(r *replayConfig) { r.id, r.partition = id, partition }
}

// WithReplayCodec sets the codec the recorded payloads were written with.
func WithReplayCodec(c Codec) ReplayOption { return func(r *replayConfig) { r.codec = c } }
