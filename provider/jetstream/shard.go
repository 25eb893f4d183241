package jetstream

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// shardState is what the provider tracks for one owned shard: which of its
// records have been applied and dispatched.
type shardState struct {
	id       int
	apply    *seqTracker
	dispatch *seqTracker
	// dispatchSaved is the highest dispatch watermark known to be in the
	// store. A commit does not write the dispatch watermark in a batch of
	// its own: the shard's next record carries it, and maintain writes
	// what is left (see unsavedDispatch).
	dispatchSaved atomic.Uint64
}

// tickets are a record's places in its shard's two trackers.
type tickets struct{ apply, dispatch uint64 }

func newShardState(id int, applied, dispatched uint64) *shardState {
	sh := &shardState{id: id, apply: newSeqTracker(applied), dispatch: newSeqTracker(dispatched)}
	sh.dispatchSaved.Store(dispatched)
	return sh
}

// unsavedDispatch returns the shard's dispatch watermark and whether the
// store lags behind it.
func (sh *shardState) unsavedDispatch() (uint64, bool) {
	w := sh.dispatch.watermark()
	return w, w > sh.dispatchSaved.Load()
}

// savedDispatch notes that the store holds dispatch watermark w (or a
// later one).
func (sh *shardState) savedDispatch(w uint64) {
	for {
		cur := sh.dispatchSaved.Load()
		if w <= cur || sh.dispatchSaved.CompareAndSwap(cur, w) {
			return
		}
	}
}

// begin registers a record about to be published.
func (sh *shardState) begin() tickets {
	return tickets{apply: sh.apply.begin(), dispatch: sh.dispatch.begin()}
}

// abort forgets a record that was not published.
func (sh *shardState) abort(t tickets) {
	sh.apply.abort(t.apply)
	sh.dispatch.abort(t.dispatch)
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
