package jetstream

import (
	"hash/maphash"
	"slices"
	"sync"
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
// wrote it (settle), or, if no commit of this process is in flight on its
// subject, by the completer (complete.go), which applies and dispatches it.
// Records this process settled before the tailer reached them wait in
// settled until it does.
type shardState struct {
	id int

	mu sync.Mutex
	// pending are records the tailer delivered that are not settled yet,
	// by log sequence, with their subject.
	pending map[uint64]string
	// settled are records settled before the tailer delivered them.
	settled map[uint64]struct{}
	// inflight counts the commits (or deletions) of this process being
	// written to a log subject: the tailer may deliver their record before
	// the writer learns its sequence.
	inflight map[string]int
	// mark is the watermark: every record of the shard at or below it is
	// settled. It never moves back.
	mark uint64
	// published is the highest mark written to the shard's dispatch mark
	// in the log; stored the highest written to the store.
	published uint64
	stored    uint64
	// markSeq is the log sequence of the last dispatch mark this process
	// read or wrote (0: none).
	markSeq uint64
}

func newShardState(id int, mark, published uint64) *shardState {
	return &shardState{
		id:        id,
		pending:   map[uint64]string{},
		settled:   map[uint64]struct{}{},
		inflight:  map[string]int{},
		mark:      mark,
		published: published,
		stored:    mark,
	}
}

// beginWrite notes that this process is about to write a record to subject.
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
	for _, s := range sh.pending {
		if s == subject {
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

// isPending reports whether the tailer delivered the record at seq and it is
// not settled yet.
func (sh *shardState) isPending(seq uint64) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, ok := sh.pending[seq]
	return ok
}

// delivered notes that the tailer delivered the record at seq on subject. It
// reports whether the record needs the completer: not settled, and no write
// of this process in flight on its subject.
func (sh *shardState) delivered(seq uint64, subject string) (orphan bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if seq <= sh.mark {
		return false
	}
	if _, ok := sh.settled[seq]; ok {
		delete(sh.settled, seq)
		return false
	}
	sh.pending[seq] = subject
	return sh.inflight[subject] == 0
}

// orphans returns the pending records with no write of this process in
// flight on their subject, in log order.
func (sh *shardState) orphans() []uint64 {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var out []uint64
	for seq, subject := range sh.pending {
		if sh.inflight[subject] == 0 {
			out = append(out, seq)
		}
	}
	slices.Sort(out)
	return out
}

// advance moves the watermark given that the tailer has delivered every
// record of the log up to tailPos, and returns it. tailPos must be read
// before the call.
func (sh *shardState) advance(tailPos uint64) uint64 {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := tailPos
	for seq := range sh.pending {
		w = min(w, seq-1)
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
	return sh.mark
}

// watermark returns the current mark.
func (sh *shardState) watermark() uint64 {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.mark
}

// unsettled counts the records delivered by the tailer and not yet settled.
func (sh *shardState) unsettled() int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.pending)
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
