package runtime

import "github.com/reprise/reprise/provider"

// Status is the lifecycle state of an orchestration instance, stored in the
// instance's metadata under [MetaStatus].
type Status string

// Instance statuses.
const (
	// StatusPending: accepted but not run yet. The engine never writes it;
	// clients may report it for a start they sent.
	StatusPending Status = "Pending"
	// StatusScheduled: started with a start time still ahead; no code has
	// run. The engine writes it when it takes the start and replaces it
	// when the start time comes (Running, ...) or a terminate ends the
	// instance first (Terminated).
	StatusScheduled Status = "Scheduled"
	// StatusRunning: started and not finished.
	StatusRunning Status = "Running"
	// StatusCompleted: returned an output.
	StatusCompleted Status = "Completed"
	// StatusFailed: returned an error, panicked, diverged from its history,
	// hit a limit or was poisoned.
	StatusFailed Status = "Failed"
	// StatusTerminated: ended by terminate.
	StatusTerminated Status = "Terminated"
	// StatusSuspended: deliveries are held until resume.
	StatusSuspended Status = "Suspended"
	// StatusContinuedAsNew: the current partition ended with continue-as-new
	// and the next one starts on the next turn.
	StatusContinuedAsNew Status = "ContinuedAsNew"
)

// StatusChange is what [worker.Options.OnStatusChange] is told after a
// commit that changed an instance's status.
type StatusChange struct {
	// ID and Name are the instance id and its orchestration name.
	ID, Name string
	// Status is the status the commit recorded.
	Status Status
	// Partition is the instance's current partition after the commit.
	Partition uint64
	// Metadata is the instance's metadata as the commit left it (the
	// batch's metadata with the commit's changes applied): what a status
	// read right after the commit returns, without the read. The receiver
	// may keep it.
	Metadata provider.Metadata
}

// IsTerminal reports whether the instance has finished for good.
func (s Status) IsTerminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusTerminated
}

// Metadata keys the runtime writes. Status, name and parent are indexed (see
// [Topology]).
const (
	MetaStatus       = "status"
	MetaName         = "name"
	MetaVersion      = "version"
	MetaParent       = "parent"
	MetaCreatedAt    = "createdAt"
	MetaUpdatedAt    = "updatedAt"
	MetaCustomStatus = "customStatus"
	MetaOutput       = "output"
	MetaError        = "error"
	// MetaPartition is the instance's current partition (decimal), written
	// with the status so that one metadata read gives a consistent view.
	MetaPartition = "partition"
	// MetaScheduledAt is a Scheduled instance's start time (RFC 3339).
	MetaScheduledAt = "scheduledAt"
	// MetaScheduledMessage is the id of the delayed message that runs a
	// Scheduled instance: only that message starts it, and a terminate
	// cancels it.
	MetaScheduledMessage = "scheduledMessage"
)
