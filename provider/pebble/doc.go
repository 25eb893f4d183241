// Package pebble is the local materialized store that a log-based provider
// (provider/jetstream) applies its commit records to: per-entity history in
// numbered partitions, metadata with a secondary index on declared keys, the
// ids of consumed messages, per-entity state, and named watermarks, all kept
// in one Pebble database (cockroachdb/pebble v2, FormatNewest).
//
// The store owns the key layout and the invariants below. It knows nothing of
// what events, metadata, message ids or watermark names mean, nor of queues,
// locks or the log it is rebuilt from: every payload is opaque bytes.
//
// # Key layout
//
// Every key starts with a one-byte table tag. Entity names, metadata keys and
// values are arbitrary bytes (NUL and '/' included), so every component that
// is followed by another one is written length-prefixed (uvarint length, then
// the bytes); the last component is written raw. Numbers are big-endian
// uint64, so byte order is numeric order.
//
//	'h' | len(entity) entity | partition | seq     -> event data
//	'm' | len(entity) entity | key                 -> metadata value
//	'i' | len(key) key | len(value) value | entity -> empty (index of indexed keys)
//	'c' | len(entity) entity | id                  -> partition consumed in (consumed message ids; empty
//	                                                  when written before partitions were recorded: 0)
//	's' | entity                                   -> entity state
//	'w' | name                                     -> watermark value
//	'k' | "indexed-keys"                           -> the indexed key set the index was built for
//	'x' | at | len(entity) entity | below          -> empty (due index of expiries; expiry.go)
//	'y' | len(entity) entity | below               -> at (the entity's expiries)
//	'l' | len(entity) entity                       -> the lowest partition not expired
//
// Because the entity is length-prefixed, the keys of entity "a" never share a
// prefix with those of entity "ab": one entity's history, metadata or
// consumed ids are a single contiguous key range, read with bounded iterators
// and purged key by key (range tombstones in the memtable slow every new
// iterator until they are flushed, and expiry purges entities all the time). Index entries of one key=value pair are a
// contiguous range sorted by entity, which gives List its ascending order and
// cursor.
//
// # Invariants
//
//   - Every write is one Pebble batch: [Store.Apply] validates and writes all
//     of its updates and watermarks in one indexed batch, or writes nothing.
//   - Apply calls are serialized, so the duplicate-sequence and partition
//     checks see every earlier Apply; reads never block on Apply.
//   - An index entry exists exactly when the entity's metadata holds that
//     value for an indexed key. Index maintenance reads the old value through
//     the batch, so earlier updates of the same call are accounted for. When
//     the set of indexed keys changes between Open calls, Open rebuilds the
//     index for added keys and drops it for removed ones.
//   - Every entity that has any key also has a state record; a purge starts
//     from the state record.
//
// # Durability
//
// By default batches are committed without fsync (Options.Sync false): the
// log the store is materialized from is the source of truth, and a crash may
// lose a suffix of applied batches, which the caller replays from the log
// above the recorded watermark. With Options.Sync every Apply waits for the
// WAL fsync; concurrent Apply calls then share fsyncs (group commit) because
// the store releases its write lock before waiting.
package pebble
