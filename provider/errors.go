package provider

import "errors"

// Sentinel errors. Implementations wrap them with %w and add context; callers
// test them with errors.Is.
var (
	// ErrLockLost reports that a lock expired, was taken by another fetch,
	// or was already released.
	ErrLockLost = errors.New("provider: lock lost")
	// ErrDuplicateEvent reports a commit appending an event whose Seq already
	// exists in the partition.
	ErrDuplicateEvent = errors.New("provider: duplicate event sequence")
	// ErrStalePartition reports a commit naming a partition lower than the
	// entity's current one.
	ErrStalePartition = errors.New("provider: partition lower than current")
	// ErrNotFound reports an entity that has never committed.
	ErrNotFound = errors.New("provider: not found")
	// ErrInvalidQueue reports a queue name that is malformed, or used as the
	// wrong kind of queue.
	ErrInvalidQueue = errors.New("provider: invalid queue")
	// ErrInvalidArgument reports a malformed argument (empty entity, empty
	// message ID, unindexed list key, ...).
	ErrInvalidArgument = errors.New("provider: invalid argument")
	// ErrTooLarge reports a commit or message larger than the provider can
	// store in one piece. Nothing of it was stored; retrying cannot help.
	ErrTooLarge = errors.New("provider: too large")
	// ErrClosed reports use of a closed provider.
	ErrClosed = errors.New("provider: closed")
	// ErrInjectedFault is returned by a commit failed on purpose through
	// [FaultInjector].
	ErrInjectedFault = errors.New("provider: injected fault")
)
