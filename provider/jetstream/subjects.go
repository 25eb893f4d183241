package jetstream

import (
	"crypto/sha256"
	"encoding/base64"
	"hash/fnv"
	"hash/maphash"
	"strconv"
	"sync/atomic"
)

// names derives every stream, subject and consumer name of one provider from
// its prefix. Entity ids and message ids never appear raw in a subject: they
// are replaced by fixed-length hash tokens (see tokenOf); the real values
// travel in the record or message payload.
type names struct {
	prefix string
	shards int
	// tokens remembers entity tokens (nil: none are remembered).
	tokens *tokenCache
}

// tokenOf returns a subject-safe token for an arbitrary string: the first 128
// bits of its SHA-256, base64url-encoded without padding (22 characters from
// [A-Za-z0-9_-]). Distinct strings collide with probability ~2^-64 at four
// billion strings, which the commit protocol accepts (a collision would merge
// two entities' log subjects and fail commits with ErrLockLost, not corrupt
// data: records carry the real entity).
func tokenOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// tokenCacheSlots is the size of a tokenCache: a few times the instances
// a process runs at once.
const tokenCacheSlots = 4096

// tokenCache remembers the tokens of recently used entities: a turn
// derives its entity's token several times (the subjects of its record and
// of the messages to it, the record's message id), each time a SHA-256.
// Direct-mapped and lock-free: a slot holds the last entity hashed to it.
type tokenCache struct {
	seed  maphash.Seed
	slots [tokenCacheSlots]atomic.Pointer[cachedToken]
}

type cachedToken struct{ key, token string }

func newTokenCache() *tokenCache { return &tokenCache{seed: maphash.MakeSeed()} }

// entityToken is tokenOf(entity), remembered.
func (n names) entityToken(entity string) string {
	c := n.tokens
	if c == nil {
		return tokenOf(entity)
	}
	slot := &c.slots[maphash.String(c.seed, entity)%tokenCacheSlots]
	if e := slot.Load(); e != nil && e.key == entity {
		return e.token
	}
	t := tokenOf(entity)
	slot.Store(&cachedToken{key: entity, token: t})
	return t
}

// shardOf maps an entity to its shard: FNV-32a of the entity bytes modulo the
// shard count. The mapping must never change for a deployment; New refuses a
// Pebble directory built with another shard count.
func shardOf(entity string, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(entity))
	return int(h.Sum32() % uint32(shards))
}

func (n names) shardOf(entity string) int { return shardOf(entity, n.shards) }

// logStream is the Limits-retention stream holding commit records.
func (n names) logStream() string { return n.prefix + "_log" }

// workStream is the WorkQueue-retention stream holding queued and scheduled
// messages.
func (n names) workStream() string { return n.prefix + "_work" }

// logSubjects is the subject space of the log stream.
func (n names) logSubjects() []string { return []string{n.prefix + ".log.>"} }

// workSubjects is the subject space of the work stream.
func (n names) workSubjects() []string {
	return []string{n.prefix + ".q.>", n.prefix + ".w.>", n.prefix + ".s.>"}
}

// logSubject is the log subject of one entity: <prefix>.log.<shard>.<entity-token>.
func (n names) logSubject(entity string) string {
	return n.prefix + ".log." + strconv.Itoa(n.shardOf(entity)) + "." + n.entityToken(entity)
}

// logShardFilter selects the records of one shard.
func (n names) logShardFilter(shard int) string {
	return n.prefix + ".log." + strconv.Itoa(shard) + ".>"
}

// entitySubject is where messages of an entity-locked queue wait for one
// entity: <prefix>.q.<queue>.<shard>.<entity-token>.
func (n names) entitySubject(queue, entity string) string {
	return n.prefix + ".q." + queue + "." + strconv.Itoa(n.shardOf(entity)) + "." + n.entityToken(entity)
}

// entityShardFilter selects one shard of an entity-locked queue.
func (n names) entityShardFilter(queue string, shard int) string {
	return n.prefix + ".q." + queue + "." + strconv.Itoa(shard) + ".>"
}

// workSubject is where one message of a work queue owned by an entity
// waits: <prefix>.w.<queue>.<entity-token>.<id-token>. The id is in the
// subject so that Commit.Cancel, which names a queue and an id, can purge a
// message that is still queued (workIDFilter).
func (n names) workSubject(queue, entity, id string) string {
	return n.prefix + ".w." + queue + "." + n.entityToken(entity) + "." + tokenOf(id)
}

// workIDFilter selects the queued messages with this id in this work queue,
// whatever their entity.
func (n names) workIDFilter(queue, id string) string {
	return n.prefix + ".w." + queue + ".*." + tokenOf(id)
}

// workFilter selects every message of a work queue.
func (n names) workFilter(queue string) string { return n.prefix + ".w." + queue + ".>" }

// scheduleSubject holds the one pending delayed message with this id for this
// entity in this queue: <prefix>.s.<queue>.<id-token>.<entity-token>.
func (n names) scheduleSubject(queue, id, entity string) string {
	return n.prefix + ".s." + queue + "." + tokenOf(id) + "." + n.entityToken(entity)
}

// scheduleIDFilter selects the delayed messages with this id in this queue,
// whatever their entity (Commit.Cancel names queue and id only).
func (n names) scheduleIDFilter(queue, id string) string {
	return n.prefix + ".s." + queue + "." + tokenOf(id) + ".*"
}

// queueFilter selects everything stored for a queue in the work stream:
// queued, locked and delayed messages.
func (n names) queueFilter(queue string) string { return n.prefix + ".*." + queue + ".>" }

// entityPurgeFilters select every message stored for an entity in any queue.
func (n names) entityPurgeFilters(entity string) []string {
	tok := n.entityToken(entity)
	return []string{
		n.prefix + ".q.*." + strconv.Itoa(n.shardOf(entity)) + "." + tok,
		n.prefix + ".w.*." + tok,
		n.prefix + ".w.*." + tok + ".*",
		n.prefix + ".s.*.*." + tok,
	}
}

// entityConsumer is the durable pull consumer of one shard of an
// entity-locked queue.
func (n names) entityConsumer(queue string, shard int) string {
	return n.prefix + "_q_" + queue + "_" + strconv.Itoa(shard)
}

// workConsumer is the durable pull consumer shared by every process fetching
// from a work queue.
func (n names) workConsumer(queue string) string { return n.prefix + "_w_" + queue }

// logWatermark names, in the Pebble store, the shard's log sequence up to
// which every record is applied.
func logWatermark(shard int) string { return "jetstream.log." + strconv.Itoa(shard) }

// legacyDispatchWatermark names the store's dispatch watermark written by
// earlier versions of this package; recovery reads it for a shard whose log
// has no dispatch mark yet.
func legacyDispatchWatermark(shard int) string { return "jetstream.dispatch." + strconv.Itoa(shard) }

// markToken is the last token of a shard's dispatch mark subject; entity
// tokens are 22 characters long, so it cannot be one.
const markToken = "_mark"

// markSubject is the subject of the shard's dispatch mark in the log.
func (n names) markSubject(shard int) string {
	return n.prefix + ".log." + strconv.Itoa(shard) + "." + markToken
}

// shardCountWatermark records the shard count the store was built with.
const shardCountWatermark = "jetstream.shards"

// consumedID is the id under which a consumed message is remembered for its
// entity in the store. Dead-lettered copies are remembered apart from a
// regular message with the same id.
func consumedID(queue string, env envelope) string {
	id := queue + "\x00" + env.ID
	if env.DeadLettered {
		id += "\x00d"
	}
	return id
}

// sendMsgID is the Nats-Msg-Id of an outgoing message, the same for an
// immediate and a delayed send, so re-dispatch and repeated sends of one
// (queue, entity, id) are dropped by the stream's duplicate window.
func sendMsgID(queue, entity, id string) string {
	return "m" + tokenOf(queue+"\x00"+entity+"\x00"+id)
}

// deadLetterMsgID is the Nats-Msg-Id of the dead-letter copy of the work
// message stored at seq.
func deadLetterMsgID(origin string, seq uint64) string {
	return "d" + tokenOf(origin+"\x00"+strconv.FormatUint(seq, 10))
}

// recordMsgID is the Nats-Msg-Id of a commit record: the entity, the log
// sequence it was based on and the lock it was committed under.
func (n names) recordMsgID(entity string, base uint64, token string) string {
	return "l" + n.entityToken(entity) + "." + strconv.FormatUint(base, 10) + "." + token
}
