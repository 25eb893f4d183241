package jetstream

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
)

// Shard ownership can change while the provider runs. AcquireShard makes a
// shard this provider's: replay its log above the store and the dispatch
// mark, start its tailer, start consuming its entity-locked queues, and only
// then report it owned (OwnsShard) so that reads of it are answered after the
// store has caught up. ReleaseShard hands it back: stop pulling, let the
// turns in progress finish, return the buffered deliveries to the server at
// once (so the next owner gets them without waiting for the ack wait), settle
// what this process wrote and write the dispatch mark, then forget the shard.
//
// Whoever decides ownership (a lease on the cluster, see services/cluster)
// may also give each shard a deadline (ExtendShard): past it, without an
// extension, the shard is treated as lost before anyone says so: no commit,
// deletion, dispatch mark or read of the shard is made. The deadline is kept
// on this process's monotonic clock, so a process that was paused (SIGSTOP,
// a long GC, a frozen VM) finds its deadline passed when it resumes, before
// its next commit. The per-entity compare-and-set on the log stays the safety
// fence; the deadline keeps a former owner from serving stale reads and from
// doing work that the fence would refuse anyway.

// shard returns the state of an owned shard, or nil.
func (p *Provider) shard(id int) *shardState {
	m := p.shardMap.Load()
	if m == nil {
		return nil
	}
	return (*m)[id]
}

// ownedStates returns the owned shards' states (a snapshot).
func (p *Provider) ownedStates() map[int]*shardState {
	if m := p.shardMap.Load(); m != nil {
		return *m
	}
	return nil
}

// setShard adds (sh != nil) or removes the shard id; ownMu held.
func (p *Provider) setShard(id int, sh *shardState) {
	next := maps.Clone(p.ownedStates())
	if next == nil {
		next = map[int]*shardState{}
	}
	if sh == nil {
		delete(next, id)
	} else {
		next[id] = sh
	}
	p.shardMap.Store(&next)
}

// shardGone reports whether entity's shard is not owned, is being released
// or has lapsed (its deadline passed): nothing of it is fetched.
func (p *Provider) shardGone(entity string) bool {
	sh := p.shard(p.names.shardOf(entity))
	return sh == nil || sh.released.Load() || !p.valid(sh)
}

// shardLeaving reports whether entity's shard is not owned or is being
// released: a delivery of it is returned to the server at once. (One of a
// lapsed shard is kept, not fetched: the release returns it.)
func (p *Provider) shardLeaving(entity string) bool {
	sh := p.shard(p.names.shardOf(entity))
	return sh == nil || sh.released.Load()
}

// now is the provider's monotonic clock: time since New.
func (p *Provider) now() time.Duration { return time.Since(p.epoch) }

// valid reports whether the shard's deadline, if it has one, has not passed.
func (p *Provider) valid(sh *shardState) bool {
	d := sh.deadline.Load()
	return d == 0 || p.now() < time.Duration(d)
}

// OwnedShards returns the shards this provider owns now and serves: caught
// up, not being released, deadline not passed; in increasing order.
func (p *Provider) OwnedShards() []int {
	var out []int
	for id, sh := range p.ownedStates() {
		if sh.serving.Load() && p.valid(sh) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// AcquireShard makes shard this provider's (see above). It returns once
// the store holds the shard's log and the shard is served; a shard already
// owned is left as it is. The caller must be the shard's only owner (hold
// its lease): the log's compare-and-set fences two writers, but two
// consumers of one shard would split its deliveries.
func (p *Provider) AcquireShard(ctx context.Context, shard int) error {
	p.ownMu.Lock()
	defer p.ownMu.Unlock()
	if err := p.checkOpen(); err != nil {
		return err
	}
	before := p.Recovered()
	if err := p.acquireLocked(ctx, shard, true); err != nil {
		return err
	}
	if r := p.Recovered(); r.Records > before.Records {
		p.log.Info("recovered", "shard", shard, "records", r.Records-before.Records,
			"redispatched", r.Redispatched-before.Redispatched, "messages", r.Messages-before.Messages)
	}
	return nil
}

// acquireLocked acquires shard; with tail, the tailer starts over to
// include it before the shard is served (New starts it once, for all).
func (p *Provider) acquireLocked(ctx context.Context, shard int, tail bool) error {
	if shard < 0 || shard >= p.opts.Shards {
		return fmt.Errorf("%w: shard %d is outside 0..%d", provider.ErrInvalidArgument, shard, p.opts.Shards-1)
	}
	if p.store == nil {
		return fmt.Errorf("acquire shard %d: %w", shard, ErrNoStore)
	}
	if sh := p.shard(shard); sh != nil {
		if sh.released.Load() {
			return fmt.Errorf("%w: shard %d is being released", provider.ErrInvalidArgument, shard)
		}
		sh.deadline.Store(0)
		return nil
	}
	sh, tailFrom, err := p.recoverShard(ctx, shard)
	if err != nil {
		return fmt.Errorf("recover shard %d: %w", shard, err)
	}
	sh.tailPos.Store(tailFrom - 1)
	p.setShard(shard, sh)
	tailing := false
	fail := func(err error) error {
		p.stopShard(sh)
		p.setShard(shard, nil)
		if tailing {
			p.wakeTailer()
		}
		return err
	}
	if tail {
		if err := p.restartTailer(ctx); err != nil {
			return fail(err)
		}
		tailing = true
	}
	for _, q := range p.queues {
		cc, err := p.consumeShard(ctx, q, shard)
		if err != nil {
			return fail(err)
		}
		sh.consumes = append(sh.consumes, cc)
	}
	sh.serving.Store(true)
	return nil
}

// consumeShard starts pulling queue q's consumer of shard.
// consumePullExpiry is how long each pull request of a shard consumer
// lasts; its idle heartbeat is half of it.
const consumePullExpiry = 5 * time.Second

func (p *Provider) consumeShard(ctx context.Context, q *entityQueue, shard int) (natsjs.ConsumeContext, error) {
	cons, err := p.ensureEntityConsumer(ctx, q.name, shard)
	if err != nil {
		return nil, err
	}
	cc, err := cons.Consume(q.onMessage,
		natsjs.PullMaxMessages(p.opts.PullBatch),
		// A pull request that reached no consumer leader (a replicated
		// consumer just created or electing one) is noticed by its missing
		// heartbeats and sent again: within about consumePullExpiry, not
		// the 30 s default, in which a shard would receive nothing.
		natsjs.PullExpiry(consumePullExpiry),
		natsjs.ConsumeErrHandler(func(_ natsjs.ConsumeContext, err error) {
			if !p.closed.Load() {
				p.log.Debug("consume", "queue", q.name, "shard", shard, "err", err)
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("consume queue %q shard %d: %w", q.name, shard, err)
	}
	return cc, nil
}

// ExtendShard sets how long the provider may keep acting as the owner of
// shard: until d from now on its monotonic clock. A shard not owned is
// ignored. Past the deadline the shard is treated as lost (see above) until
// extended again or released.
func (p *Provider) ExtendShard(shard int, d time.Duration) {
	if sh := p.shard(shard); sh != nil {
		sh.deadline.Store(int64(p.now() + d))
	}
}

// ReleaseShard hands shard back (see above). ctx bounds the waits for turns
// in progress and for the final dispatch mark; when it ends first, the shard
// is released anyway and its next owner dispatches again what this process
// had not confirmed (a copy the server still remembers is dropped). A shard
// not owned is ignored. lost says the shard's lease is already gone: nothing
// is waited for or written, the deliveries are just returned.
func (p *Provider) ReleaseShard(ctx context.Context, shard int, lost bool) error {
	// ownMu is held for the changes of state only: shards are released
	// in parallel, and acquired meanwhile.
	p.ownMu.Lock()
	sh := p.shard(shard)
	if sh == nil || sh.released.Load() {
		p.ownMu.Unlock()
		return nil
	}
	sh.released.Store(true)
	sh.serving.Store(false)
	consumes := sh.consumes
	sh.consumes = nil
	p.ownMu.Unlock()

	stopConsumes(p, consumes)
	if !lost {
		p.awaitShardIdle(ctx, shard)
	}
	p.returnDeliveries(shard)
	var err error
	if !lost && p.valid(sh) {
		err = p.settleShard(ctx, sh)
	}
	p.ownMu.Lock()
	defer p.ownMu.Unlock()
	p.stopShard(sh)
	p.setShard(shard, nil)
	// The tailer drops the shard's records from now on; it starts over
	// without the shard in the background, so that creating its consumer
	// (a round trip to the meta leader in a cluster) delays no hand-over.
	p.wakeTailer()
	p.dropRepairs(shard)
	return err
}

// awaitShardIdle waits until no entity of shard is locked or being fetched,
// or ctx ends.
func (p *Provider) awaitShardIdle(ctx context.Context, shard int) {
	for _, q := range p.queues {
		for {
			q.mu.Lock()
			busy := false
			for _, st := range q.entities {
				if (st.lock != nil || st.reserved) && p.names.shardOf(st.entity) == shard {
					busy = true
					break
				}
			}
			wait := q.notify
			q.mu.Unlock()
			if !busy {
				break
			}
			select {
			case <-wait:
			case <-ctx.Done():
				return
			}
		}
	}
}

// returnDeliveries naks every delivery of shard this process still holds,
// buffered or locked, so that the server redelivers it at once to the next
// owner, and forgets the shard's entities.
func (p *Provider) returnDeliveries(shard int) {
	for _, q := range p.queues {
		q.mu.Lock()
		for entity, st := range q.entities {
			if p.names.shardOf(entity) != shard {
				continue
			}
			for _, d := range st.buffered {
				_ = d.msg.Nak()
			}
			if st.lock != nil {
				for _, d := range st.lock.msgs {
					_ = d.msg.Nak()
				}
			}
			st.buffered, st.lock, st.awaiting = nil, nil, nil
			delete(q.entities, entity)
		}
		q.ready = slices.DeleteFunc(q.ready, func(st *entityState) bool { return p.names.shardOf(st.entity) == shard })
		q.signal()
		q.mu.Unlock()
	}
}

// settleShard waits until everything this process wrote to the shard is
// settled, then writes the shard's dispatch mark. ctx bounds the wait.
func (p *Provider) settleShard(ctx context.Context, sh *shardState) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		p.writeMarks(ctx, sh)
		if p.shardSettled(sh) {
			return nil
		}
		p.wakeCompleter()
		select {
		case <-ctx.Done():
			return fmt.Errorf("release shard %d: not settled: %w", sh.id, ctx.Err())
		case <-tick.C:
		}
	}
}

// shardSettled is Settled for one shard (see Settled).
func (p *Provider) shardSettled(sh *shardState) bool {
	w, own := sh.advance(sh.tailPos.Load())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.pending) == 0 && len(sh.settled) == 0 && len(sh.inflight) == 0 && !sh.needsMark(w, own)
}

// stopShard stops the shard's consumers (the tailer is the provider's).
func (p *Provider) stopShard(sh *shardState) {
	stopConsumes(p, sh.consumes)
	sh.consumes = nil
}

// dropRepairs forgets the repairs of shard's entities: its next owner's
// recovery completes them (their records are above the dispatch mark).
func (p *Provider) dropRepairs(shard int) {
	p.repairMu.Lock()
	defer p.repairMu.Unlock()
	for entity, r := range p.repairs {
		if r.shard == shard {
			delete(p.repairs, entity)
		}
	}
}

// stopConsumes drains pull subscriptions and waits (bounded) until their
// callbacks have returned. Draining, not stopping: a message the server
// sent before the unsubscribe still reaches the callback, which returns a
// delivery of a shard being released to the server at once (onMessage),
// instead of leaving it locked here until its ack wait ends.
func stopConsumes(p *Provider, all []natsjs.ConsumeContext) {
	for _, cc := range all {
		cc.Drain()
	}
	limit := time.NewTimer(requestTimeout)
	defer limit.Stop()
	for _, cc := range all {
		select {
		case <-cc.Closed():
		case <-limit.C:
			p.log.Warn("subscriptions did not stop in time")
			return
		}
	}
}
