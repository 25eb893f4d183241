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
// schedule fires, which is why the id lives in the envelope. The log keeps
// every record (no limits): recovery and repair read it. A deleted entity's
// log subject is purged down to its tombstone.
//
// # Locks
//
// An entity-locked queue's lock is the un-acked delivery. The provider
// pulls each owned shard's consumer, buffers deliveries per entity in memory
// (renewing them with InProgress so that waiting does not count as an
// attempt), and FetchEntity hands out one unlocked entity with every message
// stored for it (it checks the subject's last stream sequence and waits for
// deliveries still on their way). RenewEntityLock sends InProgress,
// AbandonEntity NakWithDelay; Message.Attempt is the server's delivery count.
// Work queues are fetched one message per pull request; their peek-lock is
// the same un-acked delivery. A work message fetched Topology.MaxDeliveries
// times that is abandoned or whose lock expires is copied to the dead-letter
// entity queue (DeadLettered set, same id, entity and data) and acked.
//
// # Commit protocol
//
//  1. Under the entity's stripe lock: the fetch's lock must be live, the
//     entity's last log sequence in the store must equal the one read at
//     fetch, the partition must not go down, no event Seq may exist.
//  2. Publish one record (events, metadata changes, partition, outgoing
//     messages, cancels, consumed message ids) to <p>.log.<shard>.<e> with
//     Nats-Expected-Last-Subject-Sequence = that last sequence (0: no
//     message yet) and a deterministic Nats-Msg-Id. A wrong last sequence
//     (10071, or 10164 on replicated streams) means another writer — a
//     process that took over the shard, a deletion — got there first: the
//     commit fails with ErrLockLost and acks nothing. This is the
//     durability point.
//  3. Apply the record to Pebble in one batch with the shard's log
//     watermark.
//  4. Dispatch: purge the schedules of the cancelled messages, publish the
//     outgoing messages (delayed ones as schedules), then advance the
//     shard's dispatch watermark. It reaches the store with the shard's
//     next record (step 3's batch) or within a maintenance tick; until
//     then recovery merely dispatches the record again.
//  5. Ack the consumed deliveries (the last one with a server reply).
//
// Watermarks are safe lower bounds: a record's stage counts as done only
// once every record of this provider in the shard that may precede it in the
// log has done it too (see seqTracker).
//
// Crash points and what completes them (CommitSteps names them; tests in
// this package crash at each and restart):
//
//	before-publish   nothing happened; the deliveries come back
//	before-apply     the record is in the log: recovery (or the next use of
//	                 the entity in this process) applies and dispatches it
//	before-dispatch  applied: recovery re-dispatches records above the
//	mid-dispatch     dispatch watermark; duplicates are dropped by Msg-Id
//	                 and by the consumed check below
//	before-ack       done: the deliveries come back after the lock timeout
//	                 and are acked without being returned, because the store
//	                 records their ids as consumed
//	recovery         replaying is idempotent (a record at or below the
//	                 entity's last log sequence is not applied twice)
//
// # Recovery
//
// New replays, for each owned shard, the log from min(log, dispatch
// watermark)+1 to its end: records above the entity's last log sequence are
// applied, records above the dispatch watermark are dispatched again (a
// tombstone's dispatch is its purges, bounded by the work-stream sequence it
// recorded, so messages sent after a deletion survive). A delivery whose id
// the store records as consumed for its entity is acked and dropped.
// Options.Shards is fixed for a deployment (the store records it).
//
// # Durability
//
// On a 3-replica stream an acknowledged commit survives the loss of a node;
// on a single server it survives a process crash, and power loss only with
// the server's sync_always. Pebble writes without fsync: it is rebuilt from
// the log above its watermarks.
package jetstream
