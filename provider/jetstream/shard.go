package jetstream

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// shardState tracks, for one owned shard, which of its log records are
// settled: applied to the store and dispatched. Its watermark, the highest
// log sequence at or below which every record of the shard is settled, is
// what the shard's dispatch mark (in the log) and the store's log watermark
// record.
//
// The watermark is derived from what the log itself says, not from what this
// process believes it wrote: the tailer (tail.go) reads the headers of every
// record of the owned shards in log order, whoever wrote it. A record the
// tailer has delivered stays pending until it is settled: by the commit that
// wrote it, or, if no commit of this process is in flight on its subject, by
// the completer (complete.go). Records this process settled before the
// tailer reached them wait in settled until it does.
//
// Records another writer (another process, or an earlier life of this one)
// wrote are settled once that writer's own mark — the highest sequence below
// which it dispatched everything it wrote to the shard, carried by its
// dispatch marks — passes them, or, if it never does within foreignGrace (the
// writer died mid-commit), by the completer dispatching them.
type shardState struct {
	id int

	// tailPos is the log sequence up to which the shard's tailer has
	// delivered every record of the shard.
	tailPos atomic.Uint64
	// deadline is when ownership lapses without an extension, on the
	// provider's monotonic clock in nanoseconds (0: never; see
	// ownership.go).
	deadline atomic.Int64
	// serving: caught up and not being released (reads are answered);
	// released: being released (nothing new is fetched).
	serving, released atomic.Bool
	// consumes are the shard's entity-queue subscriptions;
	// Provider.ownMu guards them.
	consumes []natsjs.ConsumeContext

	mu sync.Mutex
	// pending are records the tailer delivered that are not settled yet.
	pending map[uint64]pendingSeq
	// settled are records settled before the tailer delivered them.
	settled map[uint64]struct{}
	// inflight counts the writes (commits, deletions) of this process
	// being published to each log subject: the tailer may deliver the
	// record before the writer learns its sequence.
	inflight map[string]int
	// mark is the watermark: every record of the shard at or below it is
	// settled. It never moves back.
	mark uint64
	// published is the highest mark written to the shard's dispatch mark
	// in the log; stored the highest written to the store.
	published uint64
	stored    uint64
	// publishedOwn is the highest own mark written.
	publishedOwn uint64
	// lastRecord is the highest log sequence of a record (not a dispatch
	// mark) of the shard known here: a watermark that moved only over
	// dispatch marks needs no new mark (else every mark would call for
	// the next).
	lastRecord uint64
	// markSeq is the log sequence of the last dispatch mark this process
	// read or wrote (0: none).
	markSeq uint64
	// owners are the own marks of the writers seen in this shard's
	// dispatch marks.
	owners map[string]uint64

	// snap is the shard's latest snapshot known here (nil: none);
	// acquired is when this process acquired the shard.
	snap     *snapHead
	acquired time.Time
	// tailCount counts the shard's records above snap (snapshot.go).
	tailCount tailCount
}

// pendingSeq is a delivered, unsettled record.
type pendingSeq struct {
	subject string
	writer  string // "" for this process
	seen    time.Time
	// confirmed: the record's writer (another one) says it dispatched it;
	// it is settled once applied here too.
	confirmed bool
}

func newShardState(id int, mark, published uint64) *shardState {
	return &shardState{
		id:        id,
		pending:   map[uint64]pendingSeq{},
		settled:   map[uint64]struct{}{},
		inflight:  map[string]int{},
		mark:      mark,
		published: published,
		stored:    mark,
		owners:    map[string]uint64{},
		acquired:  time.Now(),
	}
}

// beginWrite notes that this process is about to write a record to subject;
func (sh *shardState) beginWrite(subject string) {
	sh.mu.Lock()
	sh.inflight[subject]++
	sh.mu.Unlock()
}

// endWrite closes a beginWrite. seq, when not 0, is the written record,
// settled. It reports whether records of subject are left pending with no
// writer: the completer must settle them.
func (sh *shardState) endWrite(subject string, seq uint64) (orphans bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if seq != 0 {
		sh.settleLocked(seq)
	}
	if sh.inflight[subject]--; sh.inflight[subject] <= 0 {
		delete(sh.inflight, subject)
	}
	for _, ps := range sh.pending {
		if ps.subject == subject {
			return true
		}
	}
	return false
}

// settle notes that the record at seq is applied and dispatched.
func (sh *shardState) settle(seq uint64) {
	sh.mu.Lock()
	sh.settleLocked(seq)
	sh.mu.Unlock()
}

func (sh *shardState) settleLocked(seq uint64) {
	if seq <= sh.mark {
		return
	}
	if _, ok := sh.pending[seq]; ok {
		delete(sh.pending, seq)
		return
	}
	sh.settled[seq] = struct{}{}
}

// pendingInfo returns the delivered, unsettled record at seq.
func (sh *shardState) pendingInfo(seq uint64) (pendingSeq, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ps, ok := sh.pending[seq]
	return ps, ok
}

// delivered notes that the tailer delivered the record at seq on subject,
// written by writer ("" for this process). It reports whether the record
// needs the completer: not settled, and no write of this process in flight
// on its subject.
func (sh *shardState) delivered(seq uint64, subject, writer string, now time.Time) (orphan bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.lastRecord = max(sh.lastRecord, seq)
	if seq <= sh.mark {
		return false
	}
	if _, ok := sh.settled[seq]; ok {
		delete(sh.settled, seq)
		return false
	}
	sh.pending[seq] = pendingSeq{subject: subject, writer: writer, seen: now,
		confirmed: writer != "" && sh.owners[writer] >= seq}
	return sh.inflight[subject] == 0 || writer != ""
}

// applied notes that the record at seq, of another writer, is applied to
// the store, settling it if its writer confirmed its dispatch. It reports
// whether the record is settled.
func (sh *shardState) applied(seq uint64) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ps, ok := sh.pending[seq]
	if !ok {
		return true
	}
	if ps.confirmed {
		delete(sh.pending, seq)
		return true
	}
	return false
}

// noteOwner records writer's own mark, read from a dispatch mark: its
// pending records at or below it are dispatched, and settled once applied
// here. It reports whether any were confirmed.
func (sh *shardState) noteOwner(writer string, own uint64) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if own <= sh.owners[writer] {
		return false
	}
	sh.owners[writer] = own
	n := 0
	for seq, ps := range sh.pending {
		if ps.writer == writer && seq <= own && !ps.confirmed {
			ps.confirmed = true
			sh.pending[seq] = ps
			n++
		}
	}
	return n > 0
}

// orphans returns the pending records with no write of this process in
// flight on their subject, in log order.
func (sh *shardState) orphans() []uint64 {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var out []uint64
	for seq, ps := range sh.pending {
		if ps.writer != "" || sh.inflight[ps.subject] == 0 {
			out = append(out, seq)
		}
	}
	slices.Sort(out)
	return out
}

// advance moves the watermark given that the tailer has delivered every
// record of the log up to tailPos, and returns it with this process's own
// mark: the highest sequence at or below which every record this process
// wrote to the shard is settled. tailPos must be read before the call. A
// write still in flight needs no cap: if its record is at or below tailPos
// the tailer delivered it and it is pending; otherwise it is above both.
func (sh *shardState) advance(tailPos uint64) (mark, own uint64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w, own := tailPos, tailPos
	for seq, ps := range sh.pending {
		w = min(w, seq-1)
		if ps.writer == "" {
			own = min(own, seq-1)
		}
	}
	if w > sh.mark {
		sh.mark = w
		// Settled records the tailer has passed are below the mark now.
		for seq := range sh.settled {
			if seq <= w {
				delete(sh.settled, seq)
			}
		}
	}
	return sh.mark, max(own, sh.mark)
}

// needsMark reports whether the watermark w and own mark own, as returned
// by advance, cover records that no written dispatch mark covers yet. Lock
// held.
func (sh *shardState) needsMark(w, own uint64) bool {
	return min(w, sh.lastRecord) > sh.published || min(own, sh.lastRecord) > sh.publishedOwn
}

// stripes serialize the log writes and store applies of each entity: a
// commit holds its entity's stripe from the checks through dispatch, so the
// records of one entity are published, applied and dispatched in log order.
type stripes struct {
	seed maphash.Seed
	mu   [256]sync.Mutex
}

func (p *Provider) stripe(entity string) *sync.Mutex {
	return &p.stripes.mu[maphash.String(p.stripes.seed, entity)%uint64(len(p.stripes.mu))]
}
