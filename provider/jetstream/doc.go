// Package jetstream is the production provider: messages travel through NATS
// JetStream with ack-based peek-lock, every commit is one record in a
// JetStream log, and history, metadata and consumed-message ids are
// materialized from that log into a local Pebble store
// (provider/pebble). JetStream is the source of truth; the store can be
// rebuilt from the log.
//
// The package owns the streams, subjects and consumers below, the commit
// record and message envelope encodings, the commit protocol, dispatch,
// recovery and the in-memory batching of entity-locked queues. Like every
// provider it must not know what events, metadata or messages mean: they are
// opaque bytes, and the target of a message is an envelope field.
//
// # Streams, subjects, consumers
//
// <p> is Options.Prefix (default "reprise"), <shard> the entity's shard
// (FNV-32a of the entity modulo Options.Shards), <e> and <id> fixed-length
// tokens of the entity and message id (base64url of 128 bits of SHA-256:
// raw user strings never appear in subjects; the real values travel in the
// payloads).
//
//	stream <p>_log   Limits retention, file storage, Options.Replicas
//	  <p>.log.<shard>.<e>            one commit record per commit of entity e,
//	                                 or a deletion tombstone
//	stream <p>_work  WorkQueue retention, file storage, AllowMsgSchedules,
//	                 duplicate window Options.DuplicateWindow (default 10 min)
//	  <p>.q.<queue>.<shard>.<e>      messages of an entity-locked queue for e
//	  <p>.w.<queue>.<e>.<id>         message id of a work queue, owned by e
//	                                 (the id token lets Commit.Cancel purge
//	                                 a queued work message)
//	  <p>.s.<queue>.<id>.<e>         one pending delayed message (a message
//	                                 schedule, "@at <RFC3339Nano>", whose
//	                                 target is the q or w subject)
//	stream <p>_snap  Limits retention, file storage, Options.Replicas
//	  <p>.snap.<shard>.c.<id>        the chunks of one snapshot of the shard
//	  <p>.snap.<shard>.head          the shard's current snapshot (rolled up)
//	consumer <p>_q_<queue>_<shard>   durable pull, filter <p>.q.<queue>.<shard>.>,
//	                                 AckWait = Topology.LockTimeout, one per
//	                                 shard of each entity-locked queue, pulled
//	                                 by the provider owning the shard
//	consumer <p>_w_<queue>           durable pull, filter <p>.w.<queue>.>,
//	                                 AckWait = Topology.LockTimeout, shared by
//	                                 every process fetching the work queue
//
// Filters never overlap, as WorkQueue retention requires. Every message in
// the work stream carries an envelope (version, flags, id, entity,
// dead-letter origin, data) and a deterministic Nats-Msg-Id derived from
// (queue, entity, id), so a re-sent or re-dispatched message within the
// duplicate window is stored once; the server strips Nats-Msg-Id when a
// schedule fires, which is why the id lives in the envelope. The log has no
// limits: records leave it only by trimming under a snapshot (below), and a
// deleted entity's log subject is purged down to its tombstone.
//
// # Locks
//
// An entity-locked queue's lock is the un-acked delivery. The provider
// pulls each owned shard's consumer, buffers deliveries per entity in memory
// (renewing them with InProgress so that waiting does not count as an
// attempt), and FetchEntity hands out one unlocked entity with every message
// delivered for it, waiting for those still on their way that this provider
// sent (their sequences are known from the PubAcks; new messages arrive in
// stream order) and for redeliveries it expects; a message another process
// stores meanwhile comes with a later fetch. RenewEntityLock sends InProgress,
// AbandonEntity NakWithDelay; Message.Attempt is the server's delivery count.
// Work queues are pulled through one subscription per queue and provider
// (workpull.go): its pull requests ask for about as many messages as
// fetches are waiting, and a delivery whose fetch gave up goes to the next
// fetch or, when none comes within a third of the lock timeout or the
// provider closes, back to the server with Nak (which counts as a delivery).
// The peek-lock is the un-acked delivery; its deadline runs from the pull
// request's sending (or the reception less a margin), so it never outlives
// the server's ack wait, and no InProgress is sent. A work message fetched
// Topology.MaxDeliveries times that is abandoned or whose lock expires is
// copied to the dead-letter entity queue (DeadLettered set, same id, entity
// and data) and acked.
//
// # Commit protocol
//
//  1. Under the entity's stripe lock: the fetch's lock must be live, the
//     entity's last log sequence in the store must equal the one read at
//     fetch, the partition must not go down, no event Seq may exist. The
//     encoded record must fit the server's max_payload (less 1 KiB for
//     headers); a larger one fails with provider.ErrTooLarge and nothing is
//     written.
//  2. Publish one record (events, metadata changes, partition, outgoing
//     messages, cancels, consumed message ids) to <p>.log.<shard>.<e> with
//     Nats-Expected-Last-Subject-Sequence = that last sequence (0: no
//     message yet) and a deterministic Nats-Msg-Id. A wrong last sequence
//     (10071, or 10164 on replicated streams) means another writer — a
//     process that took over the shard, a deletion — got there first: the
//     commit fails with ErrLockLost and acks nothing. This is the
//     durability point.
//  3. Apply the record to Pebble in one batch.
//  4. Dispatch: purge the schedules of the cancelled messages, publish the
//     outgoing messages (delayed ones as schedules). The record is settled.
//  5. Ack the consumed deliveries, without waiting for a server reply (a
//     lost ack brings a delivery back, then acked as consumed); QueueDepth
//     first confirms the acks made before it (ackbarrier.go). With
//     Options.Durable the acks wait for the record's sync, and the entity's
//     lock is released before that wait (durable.go).
//
// # Exactly once: settled records and dispatch marks
//
// A record is settled once it is applied to the store and dispatched. Which
// records are settled is known from the log itself, not from what a process
// believes it wrote:
//
//   - The tailer (tail.go), one ordered consumer over the owned shards' log
//     subjects with headers only (started over when they change), delivers
//     every record of those shards in log order, whoever wrote it. A record
//     it delivers stays pending in its shard until settled: by the commit
//     that wrote it, or else by the completer.
//   - The completer (complete.go) settles, in the background and within
//     milliseconds, what no commit of this process is settling: records whose
//     commit failed after publishing (a publish timeout, a stream leader
//     change, a failed apply or dispatch) and records another process wrote
//     to these shards. It reads the record, catches the entity's store up to
//     its log, dispatches what was not dispatched, and acks the entity's
//     buffered deliveries that turn out consumed. Nothing needs to read the
//     entity; a read or a fetch of it before that does the same first.
//   - Every record carries its writer (header Reprise-Writer: a random name
//     per provider instance), and every dispatch mark its writer's own mark
//     (Reprise-Own-Mark: below it, everything that writer wrote to the shard
//     is dispatched). A record another writer wrote is applied at once and
//     settled when that writer's own mark passes it; the completer dispatches
//     it itself only if that has not happened within 3 s (the writer died
//     between publishing and dispatching). Two processes that own a shard at
//     once therefore do not send each other's messages again.
//   - A shard's watermark is the log sequence below which every record of
//     the shard is settled: the tailer's position, held below the oldest
//     pending record. Every Options.MarkInterval (50 ms) each shard whose
//     watermark moved writes it as its dispatch mark, one message on
//     <p>.log.<shard>._mark with Nats-Rollup: sub (the server keeps only the
//     latest), and into the store as the shard's log watermark.
//
// The dispatch mark lives in the log: it is as durable and replicated as
// the records, and whoever owns the shard next — this process restarted,
// another pod, a store rebuilt from nothing — reads it. Correctness does not
// depend on the work stream's duplicate window, nor on the server
// remembering message ids across a restart.
//
// Crash points and what completes them (CommitSteps names them; tests in
// this package crash at each and restart):
//
//	before-publish   nothing happened; the deliveries come back
//	before-apply     the record is in the log: the completer (or recovery
//	                 after a crash) applies and dispatches it
//	before-dispatch  applied: the completer dispatches it; after a crash,
//	mid-dispatch     recovery does (it is above the dispatch mark)
//	before-ack       done: the deliveries come back after the lock timeout
//	                 and are acked without being returned, because the store
//	                 records their ids as consumed
//	recovery         replaying is idempotent (a record at or below the
//	                 entity's last log sequence is not applied twice)
//
// What a crash can send twice is exactly the records above the dispatch mark
// that had been dispatched: those settled in the last MarkInterval before
// the crash, plus those whose dispatch had begun. Recovery sends their
// messages again (RecoveryReport counts them); a copy the server still
// remembers within its duplicate window (an external NATS that kept
// running) is dropped by its Nats-Msg-Id, and a message to an entity queue
// that its entity already consumed is dropped by the consumed ids. Only a
// re-sent work message (an activity task) whose first copy was already
// consumed and whose id the server no longer remembers (the embedded server
// died with the process, or the window passed) runs twice.
//
// # Recovery
//
// New reads, for each owned shard, the dispatch mark and the store's log
// watermark, and replays the log from min(watermark, mark)+1 to its end:
// records above the entity's last log sequence in the store are applied
// (whoever wrote them), records above the mark are dispatched again (a
// tombstone's dispatch is its purges, bounded by the work-stream sequence it
// recorded, so messages sent after a deletion survive). It then writes the
// mark and starts the tailer where the log ended when recovery began. A
// delivery whose id the store records as consumed for its entity is acked
// and dropped. Options.Shards is fixed for a deployment (the store records
// it). A log without dispatch marks (written by an earlier version) uses the
// store's old dispatch watermark once.
//
// # Snapshots and trimming
//
// Each shard's log is compacted under a snapshot of the shard's
// materialised state, so that a new owner, or a store rebuilt from nothing,
// restores the snapshot and replays only the records above it.
//
// A snapshot is logical (pebble.Store.WriteSnapshot): the state records,
// history, metadata and consumed ids of the shard's entities, read from one
// consistent Pebble view, s2-compressed. Not a Pebble checkpoint: a
// checkpoint holds the whole database, every shard's keys interleaved, so
// it could neither be taken per shard nor restored into a store that holds
// other shards. Index entries are not stored; the restoring store derives
// them from the metadata with its own indexed keys.
//
// The owner takes one (snapshot.go) when the shard's log holds
// Options.SnapshotRecords records or SnapshotBytes bytes above the latest
// snapshot, or holds any and the latest is older than SnapshotInterval:
//
//  1. S = the shard's dispatch mark as written to the log. Every record at
//     or below S is settled (applied here and dispatched) and no dispatch
//     will ever need it again, whoever wrote it (two owners at once
//     included: a record of another writer is settled once its writer's own
//     mark passes it). The Pebble view is opened after S is read, so it
//     holds every record at or below S, and possibly some above; each
//     entity's state is the one after a prefix of its records, with its
//     last log sequence, so replaying the records above S later skips what
//     the snapshot already holds (a record at or below an entity's log
//     sequence is not applied twice).
//  2. The chunks go to <p>.snap.<shard>.c.<id>, then the head (S, id, the
//     first chunk's stream sequence, sizes) to <p>.snap.<shard>.head with
//     Nats-Expected-Last-Subject-Sequence = the head read at the start: of
//     two processes snapshotting one shard, the second fails
//     (ErrSnapshotSuperseded), and a head never moves back to a lower S.
//     Chunks below the new head's first chunk — older snapshots, and
//     attempts that crashed before their head — are purged.
//  3. Trimming: for each entity with records above the head's Trimmed
//     point, purge its log subject below min(its last log sequence, S+1):
//     every record at or below S except the entity's last one goes. The
//     tombstones at or below S of deleted entities older than
//     Options.TombstoneGrace go too, in log order, and the store forgets
//     those entities (below). Then the head is written again with Trimmed
//     = S and TombsTrimmed = the sequence below the first tombstone still
//     too young.
//
// Why each entity keeps its last record: the commit protocol fences with
// Nats-Expected-Last-Subject-Sequence, and the server compares it with the
// subject's last stored message — a subject purged empty fences as a
// subject that never had one (0; TestPurgedSubjectFencesAsEmpty). A kept
// last record leaves the fence exactly as it was: a stale writer still
// names a superseded sequence and fails, and a deleted entity's tombstone
// still refuses a commit under a lock taken before the deletion. So the
// trimmed log holds one record per live entity, the tombstones younger than
// the grace, and the records above the snapshots; expiring finished
// entities (retention) bounds the live ones.
//
// A tombstone may go once no lock taken before the deletion can still be
// live: the grace is at least twice the lock timeout, a commit checks its
// lock before publishing, and a paused owner's shard lapses (ownership.go).
// Its subject is then purged empty and the store forgets the entity, so
// that a new entity of the same id commits expecting 0 — exactly how the
// emptied subject fences. A store that still holds the tombstone (a crash
// between the purge and the forgetting, a store restored from a snapshot
// taken before) meets the empty subject at its first commit: the commit is
// fenced once, catchUp finds the subject empty and forgets the entity, and
// the redelivered message commits. Dispatch marks are untouched (their
// subject is rolled up), and the tailer is never behind S.
//
// Recovery of a shard (New, AcquireShard) reads the head first: when the
// store has not applied everything it covers (its log watermark is below
// S: a new, deleted or stale Pebble directory), the store's state of the
// shard's entities is replaced by the snapshot (pebble.Store.RestoreSnapshot:
// the watermark is set to 0 in the first batch and to S in the last, so an
// interrupted restore is simply done again), and the replay starts above S
// (the dispatch mark counts as at least S). A restore whose chunks a newer
// snapshot purged meanwhile starts again from the new head.
//
// Crash points: before the head (chunks stored, no head) nothing changed —
// the previous head and its trimming stand, and the next snapshot purges
// the orphaned chunks; after the head, during trimming, the head says the
// trimming is unfinished (Trimmed < S), the snapshot is complete, and the
// next snapshot pass finishes the trimming before anything else
// (TestCrashInTheMiddleOfASnapshot, TestCrashInTheMiddleOfTrimming).
//
// # Durability
//
// On a 3-replica stream an acknowledged commit survives the loss of a node;
// on a single server it survives a process crash, and power loss only with
// the server's sync_always or with Options.Durable: the provider then syncs
// (a group commit shared by concurrent callers) before every
// acknowledgement it gives and every message it lets go; durable.go lists
// each point and why it is enough. Pebble writes without fsync: it is
// rebuilt from the log above its watermarks, or from nothing. After a
// power loss it may even be ahead of the log (a commit applies its record
// while the record's sync runs); with Options.Durable, recovery finds such
// a shard and rebuilds it from its snapshot and the log
// (resetIfAheadOfLog).
package jetstream
