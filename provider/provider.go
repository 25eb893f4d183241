// Package provider defines the storage and transport contract that Reprise's
// runtime runs on.
//
// A provider stores opaque events in numbered partitions of string-keyed
// entities, stores opaque key/value metadata per entity, moves opaque messages
// through named queues with peek-lock, and applies one commit atomically. It
// never inspects event or message payloads, never constructs events, and never
// decides what a metadata value means: those are the caller's business.
//
// Two kinds of queue exist:
//
//   - An entity-locked queue (declared in [Topology.EntityQueues]) delivers work
//     per entity: [Provider.FetchEntity] returns one entity with its current
//     partition, that partition's history, its metadata and all of its visible
//     messages, under one exclusive lock. The lock is released by
//     [Provider.Commit] or [Provider.AbandonEntity], or expires.
//   - A work queue (any other valid queue name) delivers one message per
//     [Provider.FetchWork] with peek-lock to competing consumers.
//
// A commit may also schedule the entity's deletion, or that of its earlier
// partitions, at a time the caller chose ([Commit.ExpireAt],
// [Commit.ExpirePartitions]); what the expiry means is the caller's
// business, as everything else.
//
// This package must not know anything about the runtime, its event types or
// its status values. No package under provider/ may import the runtime.
package provider

import (
	"context"
	"time"
)

// Event is one opaque history record of an entity partition. Seq is chosen by
// the caller and must be unique within the partition; Data is never inspected.
type Event struct {
	Seq  uint64
	Data []byte
}

// Metadata is an entity's opaque key/value metadata. The provider stores it
// blindly; keys named in [Topology.IndexedKeys] are additionally indexed for
// [Provider.ListEntities].
type Metadata map[string]string

// Message is an opaque message travelling through a queue.
//
// ID identifies the message within its queue: sending a message whose ID is
// already pending (or was recently delivered) in the same queue is a no-op.
// Entity is the target (for entity-locked queues) or owning entity (for work
// queues); it is an envelope field so the provider never has to parse Data.
type Message struct {
	ID     string
	Entity string
	Data   []byte
	// NotBefore delays visibility until the given time (zero: visible now).
	NotBefore time.Time
	// Attempt is the delivery attempt count, set by the provider on fetch:
	// 1 on the first delivery, incremented on every redelivery (after an
	// abandon or an expired lock). Ignored on send.
	Attempt int
	// DeadLettered is set by the provider when it moved this message to a
	// dead-letter queue after [Topology.MaxDeliveries] attempts (see
	// [Topology.DeadLetterQueue]). Ignored on send.
	DeadLettered bool
	// DeadLetterQueue is the name of the queue the message came from when
	// DeadLettered is set. Ignored on send.
	DeadLetterQueue string
}

// Outgoing is a message addressed to a named queue.
type Outgoing struct {
	Queue   string
	Message Message
}

// MessageRef names a message by queue and ID, for cancelling a pending
// message.
type MessageRef struct {
	Queue string
	ID    string
}

// EntityLock identifies a lock held on one entity of an entity-locked queue.
// Token is opaque and changes with every fetch; a stale token is rejected with
// [ErrLockLost].
type EntityLock struct {
	Queue  string
	Entity string
	Token  string
}

// EntityBatch is what [Provider.FetchEntity] returns: one entity, its current
// partition with its history, its metadata, and every message visible for it
// at fetch time, all under one lock.
type EntityBatch struct {
	Lock EntityLock
	// Partition is the entity's current partition (0 for a new entity).
	Partition uint64
	// History holds the events of Partition in Seq order.
	History []Event
	// Metadata is a copy of the entity's metadata; nil or empty for a new
	// entity.
	Metadata Metadata
	// Messages are the entity's visible messages in arrival order.
	Messages []Message
	// LockedUntil is when the lock expires unless renewed.
	LockedUntil time.Time
}

// Commit is one atomic unit of change for the entity whose lock it is applied
// under. Either every part takes effect or none does.
type Commit struct {
	// Partition is the partition Events are appended to. It must not be lower
	// than the entity's current partition; a higher value makes it the
	// entity's current partition, even when Events is empty.
	Partition uint64
	// Events are appended to Partition. An event whose Seq already exists in
	// the partition (or repeats within Events) fails the commit with
	// [ErrDuplicateEvent].
	Events []Event
	// SetMetadata upserts keys of the entity's metadata.
	SetMetadata Metadata
	// DeleteMetadata removes keys of the entity's metadata. A key both set and
	// deleted is deleted.
	DeleteMetadata []string
	// Send enqueues messages to any queue, for any entity.
	Send []Outgoing
	// Cancel removes messages that are still pending (typically delayed ones).
	// Unknown or already delivered messages are ignored.
	Cancel []MessageRef
	// ExpireAt, when not zero, makes the entity expire at that time (the
	// semantics are under [PartitionExpiry]). Every commit sets the entity's expiry anew:
	// a commit with a zero ExpireAt leaves the entity without one, so a
	// commit made after an expiry was set (under a lock taken before it
	// came due) cancels or moves it.
	ExpireAt time.Time
	// ExpirePartitions, when its Below is not zero, schedules the expiry of
	// the entity's partitions numbered below Below. Below must not exceed
	// Partition: the current partition never expires this way. Scheduled
	// partition expiries accumulate (a later commit does not cancel them);
	// the entity's deletion or expiry drops them.
	ExpirePartitions PartitionExpiry
}

// PartitionExpiry schedules the deletion of an entity's partitions below
// Below at At (see [Commit.ExpirePartitions]).
//
// # Expiry semantics
//
// An entity expires at its [Commit.ExpireAt]: no earlier, and soon after (a
// provider sweeps due expiries periodically; within a few seconds, or at
// its next use). Expiring deletes what [Provider.DeleteEntity] deletes —
// the history of every partition, the metadata and its index entries, and
// the ids of the messages the entity consumed — except the messages still
// queued for it, which stay and are delivered to the entity as a new one
// (it has never committed: partition 0, no history, no metadata). Expiry is
// fenced like a commit: a commit under a lock taken before the entity
// expired either fails with [ErrLockLost] (and the entity is new when
// fetched again) or succeeds before the expiry and sets the entity's expiry
// anew; it never applies to a half-deleted entity. A provider that stores
// state durably keeps expiries across restarts and rebuilds.
//
// A partition expiry deletes, at At or soon after, the history of the
// partitions below Below and the ids of the messages consumed by commits to
// them; the entity, its metadata, its current partition and the partitions
// from Below up are kept. Partitions below the current one are never
// written again, so a partition expiry needs no fencing.
type PartitionExpiry struct {
	Below uint64
	At    time.Time
}

// WorkItem is one message fetched from a work queue under a peek-lock.
type WorkItem struct {
	Lock        WorkLock
	Message     Message
	LockedUntil time.Time
}

// WorkLock identifies the peek-lock held on one work-queue message.
type WorkLock struct {
	Queue string
	ID    string
	Token string
}

// ListQuery selects entities whose indexed metadata key Key equals Value.
type ListQuery struct {
	Key   string
	Value string
	// Cursor continues a previous page (from [ListPage.NextCursor]); empty
	// starts at the beginning. Entities are returned in ascending order.
	Cursor string
	// Limit caps the page size; 0 means a provider default (100).
	Limit int
}

// ListPage is one page of [Provider.ListEntities].
type ListPage struct {
	Entities []string
	// NextCursor is empty when there are no more entities.
	NextCursor string
}

// Topology declares, when a provider is built, which queues are
// entity-locked and which metadata keys are indexed. Any other valid queue
// name is a work queue.
type Topology struct {
	// EntityQueues names the entity-locked queues.
	EntityQueues []string
	// IndexedKeys names the metadata keys that [Provider.ListEntities] can
	// filter on.
	IndexedKeys []string
	// LockTimeout is how long a fetch lock lasts unless renewed (default
	// 30 s).
	LockTimeout time.Duration
	// MaxDeliveries bounds deliveries of a work-queue message (0: unbounded).
	// A message fetched that many times and then abandoned or expired again
	// is moved to DeadLetterQueue.
	MaxDeliveries int
	// DeadLetterQueue, an entity-locked queue, receives work-queue messages
	// that exceeded MaxDeliveries, with [Message.DeadLettered] set and the
	// same ID, Entity and Data, so the owning entity learns of it. Empty
	// means the first of EntityQueues.
	DeadLetterQueue string
}

// Provider is the contract between the runtime and storage/transport. All
// methods are safe for concurrent use.
type Provider interface {
	// FetchEntity blocks until an unlocked entity of the entity-locked queue
	// has at least one visible message, locks it and returns it. It returns
	// ctx.Err() when ctx ends first.
	FetchEntity(ctx context.Context, queue string) (*EntityBatch, error)
	// Commit applies c atomically under lock, acks exactly the messages
	// returned by the fetch that took the lock, and releases the lock.
	// Messages that arrived after the fetch stay queued. It fails with
	// ErrLockLost if the lock expired or was taken, and then changes nothing.
	// A provider that cannot store c in one piece fails with ErrTooLarge,
	// changes nothing and keeps the lock.
	Commit(ctx context.Context, lock EntityLock, c Commit) error
	// RenewEntityLock extends the lock by the lock timeout.
	RenewEntityLock(ctx context.Context, lock EntityLock) (time.Time, error)
	// AbandonEntity releases the lock without acking; the fetched messages
	// become visible again after delay, with their attempt count increased.
	AbandonEntity(ctx context.Context, lock EntityLock, delay time.Duration) error

	// FetchWork blocks until a visible message of the work queue is
	// available, locks it and returns it.
	FetchWork(ctx context.Context, queue string) (*WorkItem, error)
	// CompleteWork acks the locked message and sends replies atomically. It
	// fails with ErrLockLost (sending nothing) if the lock expired or was
	// taken.
	CompleteWork(ctx context.Context, lock WorkLock, replies []Outgoing) error
	// RenewWorkLock extends the peek-lock by the lock timeout.
	RenewWorkLock(ctx context.Context, lock WorkLock) (time.Time, error)
	// AbandonWork releases the peek-lock; the message becomes visible again
	// after delay with its attempt count increased.
	AbandonWork(ctx context.Context, lock WorkLock, delay time.Duration) error

	// Send enqueues messages outside any lock, atomically.
	Send(ctx context.Context, msgs ...Outgoing) error

	// History returns the events of one partition of an entity in Seq order.
	History(ctx context.Context, entity string, partition uint64) ([]Event, error)
	// CurrentPartition returns the entity's current partition; ErrNotFound
	// if the entity has never committed.
	CurrentPartition(ctx context.Context, entity string) (uint64, error)
	// Metadata returns a copy of the entity's metadata; ErrNotFound if the
	// entity has never committed.
	Metadata(ctx context.Context, entity string) (Metadata, error)
	// ListEntities pages through entities by an indexed metadata key.
	ListEntities(ctx context.Context, q ListQuery) (ListPage, error)
	// DeleteEntity removes an entity's history (every partition), metadata
	// and pending messages in every queue. Deleting an unknown entity is not
	// an error.
	DeleteEntity(ctx context.Context, entity string) error
	// QueueDepth returns the number of messages stored in a queue (visible,
	// delayed and locked).
	QueueDepth(ctx context.Context, queue string) (int, error)

	// Close releases resources. Blocked fetches return an error.
	Close() error
}

// FaultInjector is an optional capability, meant for tests: it makes the next
// commit fail at a named internal step so that a test can check that nothing
// partial became visible.
type FaultInjector interface {
	// CommitSteps lists the provider's internal commit steps, in order.
	CommitSteps() []string
	// FailNextCommitAt arranges for the next Commit to fail with
	// ErrInjectedFault at the named step.
	FailNextCommitAt(step string)
}

// DeferredCommitter is an optional capability of a provider whose commits
// become durable some time after they are made, by a flush that serves many
// at once (group commit): the caller can turn to other work meanwhile
// instead of holding its goroutine until the flush.
type DeferredCommitter interface {
	// CommitDeferred is Commit, except that it returns once the commit is
	// made and the lock released, with what is left to wait for: wait
	// returns nil once the commit is durable and its messages acked, or
	// the error Commit would have returned then (the commit may not
	// survive a power loss, and its messages come back). A nil wait means
	// nothing is left. Until wait has returned nil, the commit's effects
	// can be seen (the entity fetched again, its history read), but they
	// must not be reported outside as done. An error from CommitDeferred
	// itself means what an error from Commit means. A provider without
	// the capability behaves as one whose CommitDeferred is Commit with a
	// nil wait.
	CommitDeferred(ctx context.Context, lock EntityLock, c Commit) (wait func(context.Context) error, err error)
}

// DedupSender is an optional capability: it sends one message and reports whether it was enqueued,
// or dropped because a message with the same ID is pending in, or was recently delivered from, its queue.
//
// "Recently" is the provider's deduplication window for the queue. A caller
// uses it to make a send exclusive: of several senders of one ID, exactly one
// learns that its message was enqueued.
type DedupSender interface {
	SendNew(ctx context.Context, o Outgoing) (enqueued bool, err error)
}

// HealthChecker is an optional capability: Healthy reports whether the
// provider can serve requests now (connected to its backend, its storage
// present). It returns nil when healthy and an error saying what is wrong
// otherwise. It is meant for readiness probes: cheap, and bounded by ctx.
type HealthChecker interface {
	Healthy(ctx context.Context) error
}

// DefaultLockTimeout is the lock duration used when [Topology.LockTimeout] is
// zero.
const DefaultLockTimeout = 30 * time.Second

// DefaultListLimit is the page size used when [ListQuery.Limit] is zero.
const DefaultListLimit = 100
