package runtime

import (
	"fmt"
	"time"
)

// EventKind is the kind of a history [Event].
type EventKind uint8

// History event kinds. Values are part of the stored format: never renumber.
const (
	// KindTurnStarted opens every turn and records the turn's time, which
	// [OrchestrationContext.Now] returns.
	KindTurnStarted EventKind = 1
	// KindExecutionStarted starts an execution (the first real event of a
	// partition): name, version, input, parent.
	KindExecutionStarted EventKind = 2
	// KindExecutionCompleted ends an execution with an output.
	KindExecutionCompleted EventKind = 3
	// KindExecutionFailed ends an execution with a failure.
	KindExecutionFailed EventKind = 4
	// KindExecutionTerminated ends an execution by terminate.
	KindExecutionTerminated EventKind = 5
	// KindContinuedAsNew ends a partition; the next partition starts with the
	// recorded input and the carried events.
	KindContinuedAsNew EventKind = 6
	// KindActivityScheduled records a CallActivity decision.
	KindActivityScheduled EventKind = 10
	// KindActivityCompleted records an activity result.
	KindActivityCompleted EventKind = 11
	// KindActivityFailed records an activity failure.
	KindActivityFailed EventKind = 12
	// KindTimerCreated records a CreateTimer decision.
	KindTimerCreated EventKind = 13
	// KindTimerFired records a timer firing.
	KindTimerFired EventKind = 14
	// KindSubOrchestrationScheduled records a CallSubOrchestration decision.
	KindSubOrchestrationScheduled EventKind = 15
	// KindSubOrchestrationCompleted records a child's output.
	KindSubOrchestrationCompleted EventKind = 16
	// KindSubOrchestrationFailed records a child's failure.
	KindSubOrchestrationFailed EventKind = 17
	// KindOrchestrationStarted records a fire-and-forget StartOrchestration
	// decision.
	KindOrchestrationStarted EventKind = 18
	// KindCancelRequested records the cancellation of a pending decision.
	KindCancelRequested EventKind = 19
	// KindEventRaised records an external event.
	KindEventRaised EventKind = 20
	// KindSuspended records a suspend: deliveries are held until resume.
	KindSuspended EventKind = 21
	// KindResumed records a resume.
	KindResumed EventKind = 22
)

var kindNames = [...]string{
	KindTurnStarted:               "TurnStarted",
	KindExecutionStarted:          "ExecutionStarted",
	KindExecutionCompleted:        "ExecutionCompleted",
	KindExecutionFailed:           "ExecutionFailed",
	KindExecutionTerminated:       "ExecutionTerminated",
	KindContinuedAsNew:            "ContinuedAsNew",
	KindActivityScheduled:         "ActivityScheduled",
	KindActivityCompleted:         "ActivityCompleted",
	KindActivityFailed:            "ActivityFailed",
	KindTimerCreated:              "TimerCreated",
	KindTimerFired:                "TimerFired",
	KindSubOrchestrationScheduled: "SubOrchestrationScheduled",
	KindSubOrchestrationCompleted: "SubOrchestrationCompleted",
	KindSubOrchestrationFailed:    "SubOrchestrationFailed",
	KindOrchestrationStarted:      "OrchestrationStarted",
	KindCancelRequested:           "CancelRequested",
	KindEventRaised:               "EventRaised",
	KindSuspended:                 "Suspended",
	KindResumed:                   "Resumed",
}

// known reports whether k is a kind this version of the engine defines.
func (k EventKind) known() bool {
	return int(k) < len(kindNames) && kindNames[k] != ""
}

// String returns the kind's name.
func (k EventKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// isDecision reports kinds that record a call made by orchestration code;
// replay matches them against the code's calls by Decision number.
func (k EventKind) isDecision() bool {
	switch k {
	case KindActivityScheduled, KindTimerCreated, KindSubOrchestrationScheduled, KindOrchestrationStarted:
		return true
	}
	return false
}

// Event is one decoded history event. Which fields are set depends on Kind.
type Event struct {
	Kind EventKind
	// Decision is the decision sequence number a decision event records or
	// a completion event answers.
	Decision uint64
	// Time is the turn time (TurnStarted) or the fire time (TimerCreated).
	Time time.Time
	// Name is the orchestration, activity or external event name.
	Name string
	// Version is the orchestration version (ExecutionStarted,
	// SubOrchestrationScheduled, OrchestrationStarted).
	Version string
	// InstanceID is the child or started instance.
	InstanceID string
	// Payload is an input, a result, an output or an event's data, encoded
	// with the worker's [Codec].
	Payload []byte
	// Failure is set by failure events.
	Failure *Error
	// Parent is the parent of a sub-orchestration (ExecutionStarted).
	Parent *ParentRef
	// Queue is the worker queue of an activity.
	Queue string
	// Reason explains a terminate, suspend or resume.
	Reason string
	// Attempt is the 1-based retry attempt of an activity or child.
	Attempt int
	// Timeout is the per-attempt timeout of an activity.
	Timeout time.Duration
	// Carried are the unconsumed external events a ContinuedAsNew hands to
	// the next partition.
	Carried []CarriedEvent
}

// ParentRef names the decision in a parent instance that a child answers.
type ParentRef struct {
	InstanceID string `json:"instanceId"`
	Partition  uint64 `json:"partition,omitempty"`
	Decision   uint64 `json:"decision,omitempty"`
}

// CarriedEvent is an external event carried across continue-as-new.
type CarriedEvent struct {
	Name    string
	Payload []byte
}

// describe renders a decision event for nondeterminism errors.
func (e *Event) describe() string {
	switch e.Kind {
	case KindActivityScheduled:
		return fmt.Sprintf("CallActivity(%q)", e.Name)
	case KindTimerCreated:
		return "CreateTimer"
	case KindSubOrchestrationScheduled:
		return fmt.Sprintf("CallSubOrchestration(%q, id %q)", e.Name, e.InstanceID)
	case KindOrchestrationStarted:
		return fmt.Sprintf("StartOrchestration(%q, id %q)", e.Name, e.InstanceID)
	}
	return e.Kind.String()
}
