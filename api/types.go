package api

import (
	"encoding/base64"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// ReusePolicy says what a start does with an instance id that is in use.
type ReusePolicy string

// Reuse policies.
const (
	// ReuseReject (the default) rejects a start of an id in use with
	// [CodeAlreadyExists].
	ReuseReject ReusePolicy = "reject"
	// ReuseReplaceFinished restarts an id whose instance finished
	// (Completed, Failed, Terminated) as a new execution; a running one is
	// still rejected.
	ReuseReplaceFinished ReusePolicy = "replace_finished"
)

// Valid reports whether p is empty (the server's default) or a known policy.
func (p ReusePolicy) Valid() bool {
	return p == "" || p == ReuseReject || p == ReuseReplaceFinished
}

// StartRequest starts an orchestration, on [VerbStart] (reply [StartReply])
// or by a plain publish to [SubmitSubject].
type StartRequest struct {
	// Name is the registered orchestration name (required).
	Name string `json:"name"`
	// ID is the instance id; the server generates one when empty.
	ID string `json:"id,omitempty"`
	// Input is the orchestration's input, any JSON value (absent: none).
	Input json.RawMessage `json:"input,omitempty"`
	// Version starts a registered version instead of the latest.
	Version string `json:"version,omitempty"`
	// StartAt delays the start until this time (RFC 3339): until then the
	// instance is [StatusScheduled].
	StartAt time.Time `json:"start_at,omitzero"`
	// Reuse overrides the server's reuse policy for this start.
	Reuse ReusePolicy `json:"reuse,omitempty"`
	// Retention overrides, for this instance, how long it is kept after it
	// finishes (and each of its executions after it continued as new): a
	// Go duration such as "72h" or "30m", from [MinRetention] to
	// [MaxRetention]. Absent: the server's -retention.
	Retention string `json:"retention,omitempty"`
}

// StartReply answers a [StartRequest] once the start is durably queued.
type StartReply struct {
	ID string `json:"id"`
}

// RaiseRequest delivers an external event to an instance ([VerbRaise]).
type RaiseRequest struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	// Payload is the event's data, any JSON value (absent: none).
	Payload json.RawMessage `json:"payload,omitempty"`
	// RequestID makes the request idempotent (see [ValidateRequestID]).
	RequestID string `json:"request_id,omitempty"`
}

// TerminateRequest ends an instance and its running children
// ([VerbTerminate]).
type TerminateRequest struct {
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"`
	// RequestID makes the request idempotent (see [ValidateRequestID]).
	RequestID string `json:"request_id,omitempty"`
}

// SuspendRequest holds an instance until resumed ([VerbSuspend]).
type SuspendRequest struct {
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"`
	// RequestID makes the request idempotent (see [ValidateRequestID]).
	RequestID string `json:"request_id,omitempty"`
}

// ResumeRequest resumes a suspended instance ([VerbResume]).
type ResumeRequest struct {
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"`
	// RequestID makes the request idempotent (see [ValidateRequestID]).
	RequestID string `json:"request_id,omitempty"`
}

// Empty is the success reply of raise, terminate, suspend, resume and purge:
// {}.
type Empty struct{}

// StatusRequest asks for an instance's status ([VerbStatus]); the reply is
// an [InstanceStatus].
type StatusRequest struct {
	ID string `json:"id"`
}

// WaitRequest waits until an instance finishes ([VerbWait]); the reply is
// its terminal [InstanceStatus], or [CodeTimeout] if it did not finish
// within TimeoutMS.
type WaitRequest struct {
	ID string `json:"id"`
	// TimeoutMS bounds the wait in milliseconds (0: [DefaultWaitTimeout];
	// larger than [MaxWaitTimeout]: capped). Keep it below the client's
	// request timeout.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// Wait bounds.
const (
	DefaultWaitTimeout = 30 * time.Second
	MaxWaitTimeout     = 5 * time.Minute
)

// Timeout returns the effective wait timeout of r.
func (r WaitRequest) Timeout() time.Duration {
	if r.TimeoutMS <= 0 {
		return DefaultWaitTimeout
	}
	// Compare in milliseconds: a huge TimeoutMS would overflow a Duration.
	if r.TimeoutMS < MaxWaitTimeout.Milliseconds() {
		return time.Duration(r.TimeoutMS) * time.Millisecond
	}
	return MaxWaitTimeout
}

// ListRequest pages through instances ([VerbList]). Filters combine with
// AND; with none, every instance is listed. A page may hold fewer than Limit
// instances (even none) while NextCursor is not empty: keep paging until it
// is empty.
type ListRequest struct {
	Status Status `json:"status,omitempty"`
	Name   string `json:"name,omitempty"`
	Parent string `json:"parent,omitempty"`
	// Cursor continues from a previous reply's NextCursor; it is opaque.
	Cursor string `json:"cursor,omitempty"`
	// Limit caps the page (0: [DefaultListLimit]; at most [MaxListLimit]).
	Limit int `json:"limit,omitempty"`
}

// List bounds.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// ListReply is one page of instances.
type ListReply struct {
	Instances  []InstanceStatus `json:"instances"`
	NextCursor string           `json:"next_cursor"`
	// UnreachableShards lists the shards whose orchestrator could not be
	// reached (none owns it now, or it did not answer): their instances
	// are missing from this page. Listing again later includes them.
	UnreachableShards []int `json:"unreachable_shards,omitempty"`
}

// HistoryRequest asks for the decoded history of one execution of an
// instance ([VerbHistory]).
type HistoryRequest struct {
	ID string `json:"id"`
	// Partition selects the execution (each continue-as-new starts the next
	// one); null or absent selects the current one.
	Partition *uint64 `json:"partition,omitempty"`
	// FromSeq is the first event to return (1-based; 0 or absent: 1).
	FromSeq uint64 `json:"from_seq,omitempty"`
	// Limit caps the events of the page (0: [DefaultHistoryLimit]; at
	// most [MaxHistoryLimit]). A page also ends before the reply would
	// outgrow the connection's message size.
	Limit int `json:"limit,omitempty"`
}

// History page bounds.
const (
	DefaultHistoryLimit = 1000
	MaxHistoryLimit     = 10_000
)

// HistoryReply lists events of one execution in order: one page.
type HistoryReply struct {
	Partition uint64         `json:"partition"`
	Events    []HistoryEvent `json:"events"`
	// NextSeq, when not zero, is the from_seq of the next page: the
	// history has more events.
	NextSeq uint64 `json:"next_seq,omitempty"`
}

// HistoryEvent is one decoded history event, for people and debugging
// tools; its shape is not a storage format.
type HistoryEvent struct {
	// Seq is the 1-based position in the execution.
	Seq uint64 `json:"seq"`
	// Kind is the event kind, e.g. ExecutionStarted, ActivityCompleted.
	Kind string `json:"kind"`
	// Name is the orchestration, activity or external event name.
	Name string `json:"name,omitempty"`
	// Timestamp is the time of the turn that recorded the event.
	Timestamp time.Time `json:"timestamp,omitzero"`
	// Data is the event's payload (input, result, output, event data), as
	// JSON when it is JSON and as a JSON string otherwise.
	Data json.RawMessage `json:"data,omitempty"`
	// Decision is the decision number a scheduling event records or a
	// completion answers.
	Decision *uint64 `json:"decision,omitempty"`
	// InstanceID is the child or started instance.
	InstanceID string `json:"instance_id,omitempty"`
	Version    string `json:"version,omitempty"`
	// FireAt is when a timer fires (TimerCreated).
	FireAt time.Time `json:"fire_at,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// Attempt is the retry attempt of an activity or child.
	Attempt int `json:"attempt,omitempty"`
	// Failure is set by failure events.
	Failure *Failure `json:"failure,omitempty"`
	// DataOmitted is the size of Data when it was left out because the
	// event alone would not fit in a reply.
	DataOmitted int `json:"data_omitted,omitempty"`
}

// Failure is a recorded error.
type Failure struct {
	Type         string `json:"type,omitempty"`
	Message      string `json:"message"`
	NonRetryable bool   `json:"non_retryable,omitempty"`
}

// PurgeRequest deletes a finished instance ([VerbPurge]).
type PurgeRequest struct {
	ID string `json:"id"`
}

// Status is an instance's lifecycle state.
type Status string

// Instance statuses.
const (
	StatusPending Status = "Pending"
	// StatusScheduled: started with a start_at still ahead; no code has
	// run. Not finished: the id is in use (reuse replace_finished refuses
	// it too). Terminate ends it as Terminated without running it; purge
	// deletes it.
	StatusScheduled      Status = "Scheduled"
	StatusRunning        Status = "Running"
	StatusCompleted      Status = "Completed"
	StatusFailed         Status = "Failed"
	StatusTerminated     Status = "Terminated"
	StatusSuspended      Status = "Suspended"
	StatusContinuedAsNew Status = "ContinuedAsNew"
)

// Statuses returns every status, in lifecycle order.
func Statuses() []Status {
	return []Status{StatusPending, StatusScheduled, StatusRunning, StatusSuspended, StatusContinuedAsNew,
		StatusCompleted, StatusFailed, StatusTerminated}
}

// IsTerminal reports whether s is final: Completed, Failed or Terminated.
func (s Status) IsTerminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusTerminated
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, k := range Statuses() {
		if s == k {
			return true
		}
	}
	return false
}

// InstanceStatus is the status object: the reply of status and wait, the
// items of list, and the body of a notification.
type InstanceStatus struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Status  Status `json:"status"`
	// Output is a completed instance's output (JSON; absent otherwise).
	Output json.RawMessage `json:"output,omitempty"`
	// Error is a failed or terminated instance's error.
	Error string `json:"error,omitempty"`
	// CustomStatus is the value the orchestration last set (JSON).
	CustomStatus json.RawMessage `json:"custom_status,omitempty"`
	// Parent is the parent instance of a sub-orchestration.
	Parent    string    `json:"parent,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// Partition is the current execution (incremented by continue-as-new
	// and by a reuse start).
	Partition uint64 `json:"partition"`
	// ScheduledAt is when a Scheduled instance starts (its start_at);
	// absent for any other status.
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
	// ExpiresAt is when a finished instance is deleted (its finish plus
	// its retention); absent while it runs.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// DeadLetter is published on [DeadLetterSubject] for an invalid submission.
type DeadLetter struct {
	Reason *Error `json:"reason"`
	// Original is the submitted message body, verbatim, when it is valid
	// UTF-8 (JSON strings cannot carry other bytes).
	Original string `json:"original,omitempty"`
	// OriginalBase64 is the submitted body, standard base64, when it is not
	// valid UTF-8; then Original is empty.
	OriginalBase64 string `json:"original_base64,omitempty"`
}

// NewDeadLetter builds the dead letter of body refused for reason, keeping
// every byte of body.
func NewDeadLetter(reason *Error, body []byte) DeadLetter {
	if utf8.Valid(body) {
		return DeadLetter{Reason: reason, Original: string(body)}
	}
	return DeadLetter{Reason: reason, OriginalBase64: base64.StdEncoding.EncodeToString(body)}
}

// ClusterRequest asks which orchestrator runs which shard ([VerbCluster]).
// It has no members: send {}.
type ClusterRequest struct{}

// Sharing modes of [ClusterReply].
const (
	// ClusterLeases: the orchestrators share the shards by leases.
	ClusterLeases = "leases"
	// ClusterPinned: each orchestrator runs the shards its flags name; the
	// answering one knows only its own.
	ClusterPinned = "pinned"
)

// ClusterReply says who runs which shard, as the orchestrator that
// answered sees it.
type ClusterReply struct {
	// Mode is [ClusterLeases] or [ClusterPinned].
	Mode string `json:"mode"`
	// Shards is the deployment's shard count.
	Shards int `json:"shards"`
	// AnsweredBy is the member id of the orchestrator that answered (with
	// leases).
	AnsweredBy string `json:"answered_by,omitempty"`
	// Members are the live orchestrators (with leases; pinned: the one
	// that answered) and the shards each holds.
	Members []ClusterMember `json:"members"`
	// UnownedShards lists the shards no lease holds now (with leases):
	// their instances wait for an owner.
	UnownedShards []int `json:"unowned_shards,omitempty"`
}

// ClusterMember is one orchestrator of a [ClusterReply].
type ClusterMember struct {
	ID     string `json:"id"`
	Shards []int  `json:"shards"`
}
