package jetstream

import (
	"hash/maphash"
	"sync"
)

// shardState is what the provider tracks for one owned shard: which of its
// records have been applied and dispatched.
type shardState struct {
	id       int
	apply    *seqTracker
	dispatch *seqTracker
}

// tickets are a record's places in its shard's two trackers.
type tickets struct{ apply, dispatch uint64 }

func newShardState(id int, applied, dispatched uint64) *shardState {
	return &shardState{id: id, apply: newSeqTracker(applied), dispatch: newSeqTracker(dispatched)}
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
