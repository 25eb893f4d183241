// Package cluster shares a deployment's shards among the orchestrators
// running it: membership and shard leases in JetStream key-value buckets,
// replicated like the streams, with the server's clock deciding expiry.
//
// Each member keeps a key member.<id> alive; the live members' ids decide,
// by rendezvous hashing under equal shares ([Assign]), which member should own each shard.
// Ownership itself is a lease: the key shard.<n>, created (compare-and-set
// on "absent") by the member that should own the shard, renewed by updating
// it at its last revision, and deleted at that revision when the member
// hands the shard over. A renewal refused (the revision moved, the key
// expired) loses the shard at once; a renewal that cannot reach the server
// keeps it until the local deadline — the time of the last successful
// renewal's request plus the lease TTL, less a margin, on the monotonic
// clock — so that a short outage of one NATS server hands nothing over, and
// a process paused past its lease finds its deadline passed when it resumes.
//
// The package drives a [Shards] (the JetStream provider, and whatever serves
// a shard's requests) and knows nothing else: not what a shard holds, nor
// what runs on it. The log's per-entity compare-and-set stays the safety
// fence against two writers; leases are for liveness and for reads.
//
// Settings that must agree across processes (shard count, replicas, lock
// timeout, prefix, lease TTL) are written to the settings bucket by the first
// process; a process with different values refuses to start and names them.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/liveness"
)

// Shards is what a member acquires and releases as its leases come and go.
type Shards interface {
	// AcquireShard makes shard this process's; it returns once the shard
	// is served (caught up).
	AcquireShard(ctx context.Context, shard int) error
	// ReleaseShard hands shard back; lost says its lease is already gone
	// (nothing is waited for).
	ReleaseShard(ctx context.Context, shard int, lost bool) error
	// ExtendShard lets the process act as shard's owner for d more.
	ExtendShard(shard int, d time.Duration)
}

// Observer is told what a member does with its leases (the metrics
// implement it). Its methods are called from the member's goroutines and
// must not block.
type Observer interface {
	// ShardAcquired: the member took shard's lease and caught the shard up
	// in catchUp.
	ShardAcquired(shard int, catchUp time.Duration)
	// ShardReleased: the member stopped serving shard, handing it over
	// (lost false) or because its lease was lost (lost true).
	ShardReleased(shard int, lost bool)
	// LeaseRenewalFailed: a renewal of shard's lease failed, refused by the
	// server (refused true: the lease is lost) or not answered (the lease
	// is kept until the local deadline).
	LeaseRenewalFailed(shard int, refused bool)
	// MembersChanged reports the number of live members the member sees.
	MembersChanged(live int)
}

// Defaults of [Options].
const (
	// DefaultLeaseTTL outlasts a JetStream stream leader election (4 to 9
	// s in nats-server 2.15) with the renewals made before it, so that the
	// loss of one NATS server moves no shard; a dead orchestrator's shards
	// move after about this long.
	DefaultLeaseTTL = 12 * time.Second
)

// ErrSettingsMismatch reports a process started with settings that differ
// from those the cluster was created with.
var ErrSettingsMismatch = errors.New("cluster: settings differ from the cluster's")

// Options configure [Join].
type Options struct {
	// Prefix names the buckets: KV_<prefix>_leases and KV_<prefix>_settings.
	Prefix string
	// Shards is the number of shards.
	Shards int
	// Replicas of the buckets (as the streams').
	Replicas int
	// MemoryStorage keeps the buckets in server memory (tests).
	MemoryStorage bool
	// LeaseTTL is how long a lease outlives its last renewal (default
	// DefaultLeaseTTL). A dead member's shards move after about this long.
	LeaseTTL time.Duration
	// HandOffTimeout bounds a graceful release (default 10 s).
	HandOffTimeout time.Duration
	// MemberID names this member (default: the host name and a random
	// suffix).
	MemberID string
	// Settings must be equal in every member (shard count, replicas and
	// the lease TTL are added); the first member writes them.
	Settings map[string]string
	// OnChange, when set, is called (from the coordinator's goroutine)
	// after each change of the shards this member owns.
	OnChange func(owned []int)
	// Logger receives the coordinator's logs (default slog.Default()).
	Logger *slog.Logger
	// Observer, when set, is told about acquisitions, releases, failed
	// renewals and the member count.
	Observer Observer
	// Liveness, when set, is told when each renewal pass begins and ends
	// (loop "shard lease renewals"): a renewal that never returns loses
	// every lease once their TTL runs out.
	Liveness *liveness.Monitor
}

// Member takes part in sharing the shards; see the package documentation.
type Member struct {
	opts   Options
	kv     jetstream.KeyValue
	target Shards
	log    *slog.Logger
	epoch  time.Time

	wake chan struct{}
	// leaving: Leave has begun; the membership is no longer renewed.
	leaving atomic.Bool
	// stopReconcile ends the watch and reconcile goroutines (reconciled
	// closes then); stopRenew ends the renewals (renewed closes then).
	stopReconcile, stopRenew context.CancelFunc
	reconciled, renewed      chan struct{}

	mu      sync.Mutex
	members map[string]bool
	leases  map[int]lease   // every shard's lease as last seen
	held    map[int]*holder // this member's leases
	// inherited are the leases held under this member's id when it
	// joined (a previous life of the same process): revision by shard.
	inherited map[int]uint64
}

type lease struct {
	owner string
	rev   uint64
}

// holder is one lease this member holds.
type holder struct {
	// op serializes the lease's writes: a renewal in flight and the
	// deletion that ends the lease (done is then set, under mu).
	op   sync.Mutex
	done bool
	rev  uint64
	// until is the local deadline (time since epoch).
	until time.Duration
	// serving: acquired by the target.
	serving bool
	lost    bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" || o.Shards < 1 {
		return o, fmt.Errorf("cluster: prefix %q and shards %d are required", o.Prefix, o.Shards)
	}
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.LeaseTTL < 500*time.Millisecond {
		return o, fmt.Errorf("cluster: lease TTL %s is below 500ms", o.LeaseTTL)
	}
	if o.HandOffTimeout == 0 {
		o.HandOffTimeout = 10 * time.Second
	}
	if o.MemberID == "" {
		o.MemberID = NewMemberID()
	}
	if err := validKey(o.MemberID); err != nil {
		return o, fmt.Errorf("cluster: member id %q: %w", o.MemberID, err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	settings := maps.Clone(o.Settings)
	if settings == nil {
		settings = map[string]string{}
	}
	settings["shards"] = strconv.Itoa(o.Shards)
	settings["replicas"] = strconv.Itoa(o.Replicas)
	settings["lease_ttl"] = o.LeaseTTL.String()
	o.Settings = settings
	return o, nil
}

// Join checks the cluster's settings, joins the membership and starts
// taking and renewing this member's share of the leases. ctx bounds Join
// only. Leave ends it.
func Join(ctx context.Context, js jetstream.JetStream, target Shards, opts Options) (*Member, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	storage := jetstream.FileStorage
	if opts.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	if err := checkSettings(ctx, js, opts, storage); err != nil {
		return nil, err
	}
	var kv jetstream.KeyValue
	err = retryTransient(ctx, func(ctx context.Context) (err error) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, leasesConfig(opts, storage))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: leases bucket: %w", err)
	}
	m := &Member{
		opts: opts, kv: kv, target: target, log: opts.Logger.With("member", opts.MemberID), epoch: time.Now(),
		wake: make(chan struct{}, 1), reconciled: make(chan struct{}), renewed: make(chan struct{}),
		members: map[string]bool{}, leases: map[int]lease{}, held: map[int]*holder{},
	}
	if _, err := kv.Put(ctx, memberKey(opts.MemberID), []byte(opts.MemberID)); err != nil {
		return nil, fmt.Errorf("cluster: join: %w", err)
	}
	// The watch lives as long as the member, not as ctx (which bounds
	// Join only): nats.go stops a watcher when its context ends.
	reconcileCtx, stopReconcile := context.WithCancel(context.Background())
	w, err := kv.WatchAll(reconcileCtx)
	if err != nil {
		stopReconcile()
		return nil, fmt.Errorf("cluster: watch leases: %w", err)
	}
	// The watch's first values are the current state; wait for them so
	// that the first assignment sees every live member.
	if err := m.readInitial(ctx, w); err != nil {
		_ = w.Stop()
		stopReconcile()
		return nil, err
	}
	m.inherited = map[int]uint64{}
	for s, l := range m.leases {
		if l.owner == opts.MemberID {
			m.inherited[s] = l.rev
		}
	}
	renewCtx, stopRenew := context.WithCancel(context.Background())
	m.stopReconcile, m.stopRenew = stopReconcile, stopRenew
	go m.renewLoop(renewCtx)
	// Take the free shards assigned to this member before returning (those
	// held by others come as they hand them over).
	m.reconcile(ctx)
	go m.run(reconcileCtx, w)
	m.log.Info("joined", "members", len(m.liveMembers()))
	return m, nil
}

// ID returns this member's id.
func (m *Member) ID() string { return m.opts.MemberID }

// Owned returns the shards this member holds and serves, in order.
func (m *Member) Owned() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ownedLocked()
}

func (m *Member) ownedLocked() []int {
	var out []int
	for s, h := range m.held {
		if h.serving && !h.lost {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// Owners returns each shard's lease holder as last seen ("" for none).
func (m *Member) Owners() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, m.opts.Shards)
	for s, l := range m.leases {
		if s >= 0 && s < len(out) {
			out[s] = l.owner
		}
	}
	return out
}

// Members returns the live members' ids, in order.
func (m *Member) Members() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.liveMembersLocked()
}

// Leave hands every shard over (graceful: its next owner does not wait for
// the lease to expire) and leaves the membership. ctx bounds the hand-offs.
func (m *Member) Leave(ctx context.Context) error {
	m.leaving.Store(true) // renewals keep the leases, not the membership
	m.stopReconcile()
	<-m.reconciled
	defer func() {
		m.stopRenew()
		<-m.renewed
	}()
	var errs []error
	if err := m.kv.Delete(ctx, memberKey(m.opts.MemberID)); err != nil {
		errs = append(errs, fmt.Errorf("cluster: leave membership: %w", err))
	}
	m.mu.Lock()
	shards := slices.Sorted(maps.Keys(m.held))
	m.mu.Unlock()
	errs = append(errs, m.releaseAll(ctx, shards))
	m.log.Info("left", "released", len(shards))
	return errors.Join(errs...)
}

// renewLoop renews the membership and the leases every eighth of the TTL
// until ctx ends.
func (m *Member) renewLoop(ctx context.Context) {
	defer close(m.renewed)
	tick := time.NewTicker(m.opts.LeaseTTL / 8)
	defer tick.Stop()
	live := m.opts.Liveness.Loop("shard lease renewals")
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			done := live.Busy()
			lost := m.renew(ctx)
			done()
			if lost {
				m.poke()
			}
		}
	}
}

// run follows the bucket and reconciles until ctx ends.
func (m *Member) run(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(m.reconciled)
	defer func() { _ = w.Stop() }()
	resync := time.NewTicker(m.opts.LeaseTTL / 6)
	defer resync.Stop()
	var watchWG sync.WaitGroup
	watchWG.Add(1)
	go func() {
		defer watchWG.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					// Only Stop or the end of ctx closes it.
					if ctx.Err() == nil {
						m.log.Error("the lease watch ended: membership changes are no longer seen")
					}
					return
				}
				if e != nil {
					m.note(e)
					m.poke()
				}
			}
		}
	}()
	defer watchWG.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-resync.C:
		case <-m.wake:
		}
		m.reconcile(ctx)
	}
}

// readInitial notes the watch's first values, up to the nil that ends
// them.
func (m *Member) readInitial(ctx context.Context, w jetstream.KeyWatcher) error {
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: watch leases: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("cluster: watch leases: the watch ended before the current state was read")
			}
			if e == nil {
				return nil
			}
			m.note(e)
		}
	}
}

func (m *Member) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// note records one watched entry.
func (m *Member) note(e jetstream.KeyValueEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gone := e.Operation() != jetstream.KeyValuePut
	switch key := e.Key(); {
	case strings.HasPrefix(key, "member."):
		id := strings.TrimPrefix(key, "member.")
		if gone {
			delete(m.members, id)
		} else {
			m.members[id] = true
		}
	case strings.HasPrefix(key, "shard."):
		s, err := strconv.Atoi(strings.TrimPrefix(key, "shard."))
		if err != nil {
			return
		}
		if gone {
			delete(m.leases, s)
		} else {
			m.leases[s] = lease{owner: string(e.Value()), rev: e.Revision()}
		}
	}
}

func (m *Member) liveMembers() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.liveMembersLocked()
}

func (m *Member) liveMembersLocked() []string {
	out := slices.Collect(maps.Keys(m.members))
	if !m.members[m.opts.MemberID] {
		out = append(out, m.opts.MemberID) // this member is alive
	}
	sort.Strings(out)
	return out
}

// now is the monotonic time since the member started.
func (m *Member) now() time.Duration { return time.Since(m.epoch) }

// renew refreshes the membership key and every held lease; true when one
// was lost.
func (m *Member) renew(ctx context.Context) (lostAny bool) {
	m.mu.Lock()
	shards := slices.Sorted(maps.Keys(m.held))
	m.mu.Unlock()
	// In parallel: during a stream leader election every renewal waits for
	// its timeout, and one shard's must not delay another's.
	var lost atomic.Bool
	var wg sync.WaitGroup
	if !m.leaving.Load() {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, min(m.opts.LeaseTTL/3, 2*time.Second))
			defer cancel()
			if _, err := m.kv.Put(pctx, memberKey(m.opts.MemberID), []byte(m.opts.MemberID)); err != nil && ctx.Err() == nil {
				m.log.Warn("renew membership", "err", err)
			}
		})
	}
	for _, s := range shards {
		wg.Go(func() {
			if m.renewLease(ctx, s) {
				lost.Store(true)
			}
		})
	}
	wg.Wait()
	return lost.Load()
}

// renewLease renews one held lease; true when it was lost.
func (m *Member) renewLease(ctx context.Context, s int) (lost bool) {
	m.mu.Lock()
	h := m.held[s]
	m.mu.Unlock()
	if h == nil {
		return false
	}
	h.op.Lock()
	defer h.op.Unlock()
	m.mu.Lock()
	skip, rev := h.lost || h.done, h.rev
	m.mu.Unlock()
	if skip {
		return false
	}
	sent := m.now()
	rctx, cancel := context.WithTimeout(ctx, min(m.opts.LeaseTTL/3, 2*time.Second))
	next, err := m.kv.Update(rctx, shardKey(s), []byte(m.opts.MemberID), rev)
	cancel()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err == nil:
		h.rev, h.until = next, sent+m.validity()
		if h.serving {
			m.target.ExtendShard(s, h.until-m.now())
		}
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound),
		errors.Is(err, jetstream.ErrKeyDeleted):
		m.log.Warn("lease lost", "shard", s, "err", err)
		h.lost, lost = true, true
		m.observe(func(o Observer) { o.LeaseRenewalFailed(s, true) })
	default:
		if ctx.Err() == nil {
			m.log.Warn("renew lease", "shard", s, "err", err)
			m.observe(func(o Observer) { o.LeaseRenewalFailed(s, false) })
		}
		if m.now() >= h.until {
			m.log.Warn("lease expired locally", "shard", s)
			h.lost, lost = true, true
		}
	}
	return lost
}

// validity is how long after a renewal's request the lease is surely still
// this member's: the TTL less a tenth for clock-rate differences.
func (m *Member) validity() time.Duration { return m.opts.LeaseTTL - m.opts.LeaseTTL/10 }

// reconcile releases lost and reassigned shards and takes the shards
// assigned to this member that nobody holds.
func (m *Member) reconcile(ctx context.Context) {
	m.mu.Lock()
	live := m.liveMembersLocked()
	assign := Assign(m.opts.Shards, live)
	m.observe(func(o Observer) { o.MembersChanged(len(live)) })
	var lost, handOff, take, stale []int
	for s, h := range m.held {
		switch {
		case h.lost || m.now() >= h.until:
			lost = append(lost, s)
		case assign[s] != m.opts.MemberID:
			handOff = append(handOff, s)
		}
	}
	for s, owner := range assign {
		if m.held[s] != nil {
			continue
		}
		_, inherited := m.inherited[s]
		_, leased := m.leases[s]
		switch {
		case inherited && owner != m.opts.MemberID:
			// Held by this member's previous life (same id, restarted)
			// and assigned elsewhere now: give it back at once.
			stale = append(stale, s)
		case owner != m.opts.MemberID:
		case leased && !inherited:
			// Its holder hands it over, or its lease expires.
		default:
			// Free, or held by this member's previous life: take it.
			take = append(take, s)
		}
	}
	inherited := maps.Clone(m.inherited)
	m.mu.Unlock()
	changed := false
	// Releases first: others wait for them.
	for _, s := range lost {
		_ = m.release(ctx, s, true)
		changed = true
	}
	if len(handOff) > 0 {
		_ = m.releaseAll(ctx, handOff)
		changed = true
	}
	for _, s := range stale {
		if err := m.kv.Delete(ctx, shardKey(s), jetstream.LastRevision(inherited[s])); err != nil && ctx.Err() == nil {
			m.log.Warn("give back a lease of a previous life", "shard", s, "err", err)
		}
		m.mu.Lock()
		delete(m.inherited, s)
		m.mu.Unlock()
	}
	slices.Sort(take)
	for _, s := range take {
		if ctx.Err() != nil {
			return
		}
		prev := inherited[s]
		m.mu.Lock()
		delete(m.inherited, s)
		m.mu.Unlock()
		if m.acquire(ctx, s, prev) {
			changed = true
		}
	}
	if changed && m.opts.OnChange != nil {
		m.opts.OnChange(m.Owned())
	}
}

// acquire takes shard's lease and then the shard; false when the lease is
// held by someone else. prev, when not 0, is the revision of a lease this
// member's id held in a previous life (a restart with the same id): it is
// taken over by compare-and-set on that revision, without waiting for it to
// expire.
func (m *Member) acquire(ctx context.Context, s int, prev uint64) bool {
	sent := m.now()
	var rev uint64
	var err error
	if prev != 0 {
		rev, err = m.kv.Update(ctx, shardKey(s), []byte(m.opts.MemberID), prev)
	} else {
		rev, err = m.kv.Create(ctx, shardKey(s), []byte(m.opts.MemberID))
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return false
	}
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("take lease", "shard", s, "err", err)
		}
		return false
	}
	h := &holder{rev: rev, until: sent + m.validity()}
	m.mu.Lock()
	m.held[s] = h
	m.mu.Unlock()
	start := m.now()
	// A catch-up can fail for a moment (a stream leader moving): the lease
	// is this member's, so try again before giving it back.
	var err2 error
	for attempt := range acquireAttempts {
		if err2 = m.target.AcquireShard(ctx, s); err2 == nil || ctx.Err() != nil {
			break
		}
		m.log.Warn("acquire shard", "shard", s, "attempt", attempt+1, "err", err2)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond << attempt):
		}
	}
	if err2 != nil {
		m.log.Error("acquire shard failed; giving its lease back", "shard", s, "err", err2)
		_ = m.giveBack(context.WithoutCancel(ctx), s)
		return false
	}
	m.mu.Lock()
	h.serving = true
	until := h.until
	m.mu.Unlock()
	m.target.ExtendShard(s, until-m.now())
	catchUp := m.now() - start
	m.log.Info("shard acquired", "shard", s, "catch_up", catchUp.Round(time.Millisecond))
	m.observe(func(o Observer) { o.ShardAcquired(s, catchUp) })
	return true
}

// acquireAttempts bounds the tries at catching up a shard whose lease this
// member holds.
const acquireAttempts = 4

// giveBack stops a shard that was never served and deletes its lease, so
// that it can be taken again at once.
func (m *Member) giveBack(ctx context.Context, s int) error {
	m.mu.Lock()
	h := m.held[s]
	delete(m.held, s)
	m.mu.Unlock()
	if h == nil {
		return nil
	}
	hctx, cancel := context.WithTimeout(ctx, m.opts.HandOffTimeout)
	defer cancel()
	err := m.target.ReleaseShard(hctx, s, true)
	if derr := m.endLease(hctx, s, h); derr != nil {
		m.log.Warn("give back lease", "shard", s, "err", derr)
	}
	return err
}

// release hands shard over (lost: its lease is gone, just stop) and deletes
// its lease at this member's revision.
func (m *Member) release(ctx context.Context, s int, lost bool) error {
	m.mu.Lock()
	h := m.held[s]
	m.mu.Unlock()
	if h == nil {
		return nil
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.HandOffTimeout)
	defer cancel()
	if !lost {
		m.log.Info("handing shard over", "shard", s)
	}
	err := m.target.ReleaseShard(hctx, s, lost)
	if err != nil {
		m.log.Warn("release shard", "shard", s, "err", err)
	}
	if !lost {
		if derr := m.endLease(hctx, s, h); derr != nil {
			m.log.Warn("release lease", "shard", s, "err", derr)
		}
		m.log.Info("shard handed over", "shard", s)
	} else {
		m.mu.Lock()
		h.done = true
		m.mu.Unlock()
		m.log.Warn("shard dropped: lease lost", "shard", s)
	}
	m.mu.Lock()
	if m.held[s] == h {
		delete(m.held, s)
	}
	m.mu.Unlock()
	m.observe(func(o Observer) { o.ShardReleased(s, lost) })
	return err
}

// observe calls f with the observer, if there is one.
func (m *Member) observe(f func(Observer)) {
	if m.opts.Observer != nil {
		f(m.opts.Observer)
	}
}

// releaseAll hands shards over in parallel.
func (m *Member) releaseAll(ctx context.Context, shards []int) error {
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Go(func() { errs[i] = m.release(ctx, s, false) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// endLease deletes h's lease at its current revision, after any renewal in
// flight, and stops its renewals.
func (m *Member) endLease(ctx context.Context, s int, h *holder) error {
	h.op.Lock()
	defer h.op.Unlock()
	m.mu.Lock()
	h.done = true
	rev := h.rev
	m.mu.Unlock()
	return m.kv.Delete(ctx, shardKey(s), jetstream.LastRevision(rev))
}

// CheckSettings compares opts' settings with the cluster's, writing them if
// the cluster has none yet (the first process). Call it before creating
// anything else on the cluster; Join calls it too.
func CheckSettings(ctx context.Context, js jetstream.JetStream, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	storage := jetstream.FileStorage
	if opts.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	return checkSettings(ctx, js, opts, storage)
}

// checkSettings writes the settings if the cluster has none, else compares.
func checkSettings(ctx context.Context, js jetstream.JetStream, opts Options, storage jetstream.StorageType) error {
	var kv jetstream.KeyValue
	err := retryTransient(ctx, func(ctx context.Context) (err error) {
		kv, err = openSettings(ctx, js, opts, storage)
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: settings bucket: %w", err)
	}
	mine, err := json.Marshal(opts.Settings)
	if err != nil {
		return err
	}
	return compareSettings(ctx, kv, opts, mine)
}

// openSettings opens the settings bucket, creating it if missing.
func openSettings(ctx context.Context, js jetstream.JetStream, opts Options, storage jetstream.StorageType) (jetstream.KeyValue, error) {
	bucket := opts.Prefix + "_settings"
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      bucket,
			Description: "settings every orchestrator of the deployment must share",
			History:     1,
			Storage:     storage,
			Replicas:    opts.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, bucket)
		}
	}
	return kv, err
}

// compareSettings writes mine if the cluster has no settings yet, else
// compares them with the cluster's.
func compareSettings(ctx context.Context, kv jetstream.KeyValue, opts Options, mine []byte) error {
	if _, err := kv.Create(ctx, "settings", mine); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("cluster: write settings: %w", err)
	}
	e, err := kv.Get(ctx, "settings")
	if err != nil {
		return fmt.Errorf("cluster: read settings: %w", err)
	}
	var theirs map[string]string
	if err := json.Unmarshal(e.Value(), &theirs); err != nil {
		return fmt.Errorf("cluster: settings in the cluster are unreadable: %w", err)
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(opts.Settings)) {
		if v, ok := theirs[k]; ok && v != opts.Settings[k] {
			diffs = append(diffs, fmt.Sprintf("%s is %s in the cluster, %s here", k, v, opts.Settings[k]))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w (prefix %q): %s; start with the cluster's values, or use another prefix",
			ErrSettingsMismatch, opts.Prefix, strings.Join(diffs, "; "))
	}
	return nil
}

// leasesConfig is the leases bucket's configuration.
func leasesConfig(opts Options, storage jetstream.StorageType) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:         opts.Prefix + "_leases",
		Description:    "orchestrator membership and shard leases",
		History:        1,
		TTL:            opts.LeaseTTL,
		LimitMarkerTTL: opts.LeaseTTL,
		Storage:        storage,
		Replicas:       opts.Replicas,
	}
}

// errCodeNoPeers is JetStream's "no suitable peers for placement" (a
// cluster whose servers have not all met yet); 503s cover "JetStream system
// temporarily unavailable".
const errCodeNoPeers jetstream.ErrorCode = 10005

// retryTransient runs f until it succeeds, fails for a reason other than a
// JetStream cluster that is still forming (no peers for a placement yet,
// JetStream temporarily unavailable, no responders, a request unanswered),
// or ctx ends: a process
// started with its NATS servers must not fail because it was faster.
func retryTransient(ctx context.Context, f func(ctx context.Context) error) error {
	for {
		// Each attempt has its own timeout: a request the meta leader
		// lost (an election under load) is asked again rather than
		// waited for until ctx ends.
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := f(actx)
		cancel()
		var apiErr *jetstream.APIError
		// A request that timed out while ctx is live went unanswered:
		// the cluster has no JetStream meta leader yet.
		unanswered := ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout))
		transient := errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) || unanswered ||
			(errors.As(err, &apiErr) && (apiErr.ErrorCode == errCodeNoPeers || apiErr.Code == 503))
		if err == nil || !transient {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// attemptTimeout bounds one attempt of retryTransient.
const attemptTimeout = 15 * time.Second

func memberKey(id string) string { return "member." + id }
func shardKey(s int) string      { return "shard." + strconv.Itoa(s) }

// validKey checks a member id can be a key token.
func validKey(id string) error {
	if id == "" || len(id) > 128 {
		return errors.New("want 1 to 128 characters")
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("character %q: want letters, digits, '-' or '_'", r)
		}
	}
	return nil
}

// NewMemberID returns a new member id: the host name (as a key token) and a
// random suffix. A process that keeps its id across restarts (in its data
// directory) takes its own leases back at once after a crash, instead of
// waiting for them to expire.
func NewMemberID() string {
	host, _ := os.Hostname()
	var b strings.Builder
	for _, r := range host {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		b.WriteString("member")
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s-%x", b.String(), r)
}
