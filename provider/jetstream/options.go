package jetstream

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/reprise/reprise/liveness"
	"github.com/reprise/reprise/provider"
)

// Names of the provider's background loops in Options.Liveness.
const (
	// LoopMaintenance keeps buffered deliveries alive and expires stale
	// locks.
	LoopMaintenance = "jetstream maintenance"
	// LoopMarks writes the owned shards' dispatch marks.
	LoopMarks = "jetstream dispatch marks"
	// LoopCompleter sends the messages of records whose dispatch failed.
	LoopCompleter = "jetstream completer"
	// LoopSnapshots takes the owned shards' snapshots and trims the log.
	LoopSnapshots = "jetstream snapshots"
)

// Defaults of [Options].
const (
	DefaultPrefix          = "reprise"
	DefaultShards          = 16
	DefaultDuplicateWindow = 10 * time.Minute
	DefaultMaxAckPending   = 10000
	DefaultPullBatch       = 256
	DefaultMarkInterval    = 50 * time.Millisecond
	DefaultExpiryInterval  = time.Second

	DefaultSnapshotRecords  = 50000
	DefaultSnapshotBytes    = 64 << 20
	DefaultSnapshotInterval = time.Hour
	DefaultTombstoneGrace   = 2 * time.Minute
)

// Options configures [New]. The zero value is usable.
type Options struct {
	// Prefix names every stream, subject and consumer of the provider
	// (default DefaultPrefix); letters, digits, '-' and '_'. Providers with
	// different prefixes share a NATS server without seeing each other.
	Prefix string
	// Shards is the number of shards entities hash to (default
	// DefaultShards). It is fixed for the life of a deployment: New refuses
	// a store built with another count.
	Shards int
	// OwnedShards lists the shards whose entity-locked queues this provider
	// consumes and whose log it replays on start (default, when nil: all).
	// Reads (History, Metadata, ...) answer from the local store, which holds
	// only owned shards. An empty, non-nil list owns none: New then accepts
	// a nil store (a stateless process).
	OwnedShards []int
	// Replicas of both streams (default 1; 3 on a 3-node cluster).
	Replicas int
	// MemoryStorage keeps both streams in server memory instead of files.
	// Everything is lost when the server stops; for tests only.
	MemoryStorage bool
	// DuplicateWindow is the work stream's Nats-Msg-Id window (default
	// DefaultDuplicateWindow): a message id sent again within it is dropped.
	DuplicateWindow time.Duration
	// MaxAckPending bounds the unacknowledged (buffered, locked or
	// abandoned-with-delay) messages of one consumer (default
	// DefaultMaxAckPending).
	MaxAckPending int
	// PullBatch is how many messages each entity-queue consumer keeps
	// requested from the server (default DefaultPullBatch).
	PullBatch int
	// VerifyStreams makes New check the streams and consumers instead of
	// creating or updating them, for a process without stream
	// administration rights (a stateless worker, a front end): New
	// waits for a missing stream or consumer (created by a process that
	// administers them) until ctx ends, and fails with ErrStreamMismatch,
	// naming the setting, when one differs from this process's settings
	// (replicas, storage, lock timeout, ...). A process that administers
	// streams (false) creates them and updates what differs, but refuses
	// too (ErrStreamMismatch) to change an existing stream's replicas,
	// storage or retention.
	VerifyStreams bool
	// WorkQueues are the work queues whose consumers New creates (or, with
	// VerifyStreams, checks) before it returns; other work queues get
	// theirs on first use. A deployment whose workers only verify lists
	// their queues here on the processes that administer streams.
	WorkQueues []string
	// Logger receives the provider's logs (default slog.Default()).
	Logger *slog.Logger
	// Liveness, when set, is told when each pass of the provider's
	// background loops (LoopMaintenance, LoopMarks, LoopCompleter) begins
	// and ends, so that a liveness probe can tell a wedged provider from
	// an idle one.
	Liveness *liveness.Monitor

	// Durable, when set, is synced before the provider acknowledges
	// anything (Send, SendNew, CompleteWork, the acks of a commit's
	// consumed deliveries) and before it lets a stored message go (marks,
	// trimming, dead-lettering, purges): what it acknowledged then
	// survives a power loss of a single server (durable.go lists every
	// point). Nil: acknowledged means stored by the server, which survives
	// a process crash, and a power loss only with the server's own sync
	// settings or replicas.
	Durable Durability

	// MarkInterval is how often each owned shard's dispatch mark is
	// written to the log (default 50 ms): the records settled since the
	// last mark are the ones a successor would dispatch again after a
	// crash (see the package documentation, "Exactly once").
	MarkInterval time.Duration
	// ExpiryInterval is how often the owned shards' due expiries are
	// carried out (default 1 s; expire.go).
	ExpiryInterval time.Duration

	// SnapshotRecords, SnapshotBytes and SnapshotInterval decide when an
	// owned shard's snapshot is taken, after which its log is trimmed (see
	// the package documentation, "Snapshots and trimming"): once the
	// shard's log holds SnapshotRecords records (default
	// DefaultSnapshotRecords) or SnapshotBytes bytes (default
	// DefaultSnapshotBytes) above its latest snapshot, or holds any and
	// the latest is older than SnapshotInterval (default
	// DefaultSnapshotInterval). A negative SnapshotRecords turns the
	// background snapshots off (SnapshotShard still takes one).
	SnapshotRecords  int
	SnapshotBytes    int64
	SnapshotInterval time.Duration
	// TombstoneGrace is how old a deleted entity's tombstone must be
	// before trimming removes it and the store forgets the entity
	// (default DefaultTombstoneGrace, at least twice the lock timeout):
	// until then a commit under a lock taken before the deletion is
	// refused by the tombstone.
	TombstoneGrace time.Duration

	// recoveryFault, set by tests of this package, makes recovery fail
	// after replaying that many records (0: never); noCompleter keeps the
	// completer from settling failed commits, so that they are left to
	// the next recovery.
	recoveryFault int
	noCompleter   bool
	// snapshotCheck is how often the snapshot loop looks for due shards
	// (default 1 s); snapshotFault stops snapshots at a fault point.
	snapshotCheck time.Duration
	snapshotFault string
}

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if err := provider.ValidateQueueName(o.Prefix); err != nil {
		return o, fmt.Errorf("%w: prefix %q must be 1 to %d letters, digits, '-' or '_'",
			provider.ErrInvalidArgument, o.Prefix, provider.MaxQueueNameLen)
	}
	if o.Shards == 0 {
		o.Shards = DefaultShards
	}
	if o.Shards < 1 || o.Shards > 4096 {
		return o, fmt.Errorf("%w: %d shards, want 1 to 4096", provider.ErrInvalidArgument, o.Shards)
	}
	if o.OwnedShards == nil {
		o.OwnedShards = make([]int, o.Shards)
		for i := range o.OwnedShards {
			o.OwnedShards[i] = i
		}
	}
	seen := map[int]bool{}
	for _, s := range o.OwnedShards {
		if s < 0 || s >= o.Shards || seen[s] {
			return o, fmt.Errorf("%w: owned shard %d is out of range or repeated", provider.ErrInvalidArgument, s)
		}
		seen[s] = true
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	for _, q := range o.WorkQueues {
		if err := provider.ValidateQueueName(q); err != nil {
			return o, fmt.Errorf("work queue %q: %w", q, err)
		}
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.MaxAckPending == 0 {
		o.MaxAckPending = DefaultMaxAckPending
	}
	if o.PullBatch == 0 {
		o.PullBatch = DefaultPullBatch
	}
	if o.MarkInterval == 0 {
		o.MarkInterval = DefaultMarkInterval
	}
	if o.ExpiryInterval == 0 {
		o.ExpiryInterval = DefaultExpiryInterval
	}
	if o.ExpiryInterval < time.Millisecond {
		return o, fmt.Errorf("%w: expiry interval %v, want at least 1ms", provider.ErrInvalidArgument, o.ExpiryInterval)
	}
	if o.MarkInterval < time.Millisecond {
		return o, fmt.Errorf("%w: mark interval %v, want at least 1ms", provider.ErrInvalidArgument, o.MarkInterval)
	}
	if o.SnapshotRecords == 0 {
		o.SnapshotRecords = DefaultSnapshotRecords
	}
	if o.SnapshotBytes == 0 {
		o.SnapshotBytes = DefaultSnapshotBytes
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = DefaultSnapshotInterval
	}
	if o.SnapshotBytes < 0 || o.SnapshotInterval < 0 {
		return o, fmt.Errorf("%w: snapshot bytes %d and interval %v must not be negative",
			provider.ErrInvalidArgument, o.SnapshotBytes, o.SnapshotInterval)
	}
	if o.TombstoneGrace == 0 {
		o.TombstoneGrace = DefaultTombstoneGrace
	}
	if o.snapshotCheck == 0 {
		o.snapshotCheck = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// RecordHeaderRoom is what a commit record's headers and subject take at
// most besides its data.
const RecordHeaderRoom = 1 << 10

// MaxRecordBytes is the largest commit record a server whose max_payload is
// maxPayload accepts (NATS's default 1 MiB when unknown): larger commits
// fail with provider.ErrTooLarge.
func MaxRecordBytes(maxPayload int64) int {
	if maxPayload <= 0 {
		maxPayload = 1 << 20
	}
	return int(maxPayload) - RecordHeaderRoom
}
