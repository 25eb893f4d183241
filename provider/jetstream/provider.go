package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/pebble"
)

// Provider is the JetStream + Pebble provider. All methods are safe for
// concurrent use.
type Provider struct {
	nc    *nats.Conn
	js    natsjs.JetStream
	store *pebble.Store
	topo  provider.Topology
	opts  Options
	names names
	log   *slog.Logger

	logStream  natsjs.Stream
	workStream natsjs.Stream
	// snapStream holds the shards' snapshots (nil without a store).
	snapStream natsjs.Stream
	// snapMu serializes snapshots (snapshot.go).
	snapMu sync.Mutex

	// queues is filled by New and read-only afterwards.
	queues map[string]*entityQueue

	stripes stripes
	work    workQueues
	faults  faultState
	tokens  atomic.Uint64

	// late are deliveries to ack after the next sync (durable.go).
	late lateAcks
	// acks are the commits' unconfirmed acks, for QueueDepth's barrier
	// (ackbarrier.go).
	acks unconfirmedAcks
	// logStart is the log's last sequence when New began (durable.go).
	logStart uint64

	repairMu sync.Mutex
	repairs  map[string]*repairEntry

	// ownMu serializes shard acquisition and release (ownership.go);
	// shardMap, the owned shards, is replaced, never modified.
	ownMu    sync.Mutex
	shardMap atomic.Pointer[map[int]*shardState]
	// tailer reads the owned shards' records (tail.go).
	tailer logTailer
	// epoch starts the provider's monotonic clock (see Provider.now).
	epoch time.Time

	completerWake chan struct{}
	// tailerWake asks tailerLoop to start the tailer over (tail.go).
	tailerWake chan struct{}
	recMu      sync.Mutex
	recovered  RecoveryReport
	// maxRecord is the largest commit record the server accepts.
	maxRecord int
	// writer names this provider instance in the records it writes.
	writer string
	// clock tells the age of tombstones (time.Now; tests move it).
	clock func() time.Time

	closing   chan struct{}
	closeCtx  context.Context // done when closing is closed
	closeDone context.CancelFunc
	closeOnce sync.Once
	closed    atomic.Bool
	wg        sync.WaitGroup
}

var (
	_ provider.Provider      = (*Provider)(nil)
	_ provider.DedupSender   = (*Provider)(nil)
	_ provider.HealthChecker = (*Provider)(nil)
)

// Errors of this package, besides the provider package's sentinels.
var (
	// ErrNoStore reports a read, list or delete on a provider built without
	// a store (a stateless process; see [New]).
	ErrNoStore = errors.New("jetstream: no store: this process owns no shards")
	// ErrDisconnected reports, from Healthy, a NATS connection that is not
	// connected now (it may be reconnecting).
	ErrDisconnected = errors.New("jetstream: not connected to NATS")
)

// New builds a provider over the NATS connection nc and the store. It creates
// the streams and consumers it needs (idempotently), replays the log of the
// owned shards into the store, then starts consuming the owned shards of
// every entity-locked queue. nc and store stay the caller's: Close closes
// neither. For reconnection after a server restart, nc should be made with
// nats.MaxReconnects(-1) (see ConnectOptions).
//
// store may be nil when Options.OwnedShards is empty but not nil
// ([]int{}): a stateless process (an activity worker, an API front end) that
// only fetches and completes work-queue messages and sends messages. Such a
// provider consumes no entity-locked queue (FetchEntity blocks until ctx
// ends) and fails reads, listing and deletion with ErrNoStore.
func New(ctx context.Context, nc *nats.Conn, store *pebble.Store, topo provider.Topology, opts Options) (*Provider, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: nil NATS connection", provider.ErrInvalidArgument)
	}
	topo, err := provider.ValidateTopology(topo)
	if err != nil {
		return nil, err
	}
	if opts, err = opts.withDefaults(); err != nil {
		return nil, err
	}
	// No lock outlives a tombstone's grace (see trimTombstones).
	opts.TombstoneGrace = max(opts.TombstoneGrace, 2*topo.LockTimeout)
	if store == nil && len(opts.OwnedShards) > 0 {
		return nil, fmt.Errorf("%w: nil store for %d owned shards (a stateless provider sets OwnedShards to []int{})",
			provider.ErrInvalidArgument, len(opts.OwnedShards))
	}
	js, err := natsjs.New(nc, natsjs.WithPublishAsyncTimeout(requestTimeout), natsjs.WithDefaultTimeout(requestTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	p := &Provider{
		nc:      nc,
		js:      js,
		store:   store,
		topo:    topo,
		opts:    opts,
		names:   names{prefix: opts.Prefix, shards: opts.Shards, tokens: newTokenCache()},
		log:     opts.Logger.With("provider", "jetstream", "prefix", opts.Prefix),
		queues:  map[string]*entityQueue{},
		epoch:   time.Now(),
		stripes: stripes{seed: maphash.MakeSeed()},
		work:    workQueues{consumers: map[string]natsjs.Consumer{}, locks: map[string]*workLock{}},
		repairs: map[string]*repairEntry{},
		closing: make(chan struct{}),

		completerWake: make(chan struct{}, 1),
		tailerWake:    make(chan struct{}, 1),
		writer:        newWriterID(),
		clock:         time.Now,
	}
	p.closeCtx, p.closeDone = context.WithCancel(context.Background())
	fail := func(err error) (*Provider, error) {
		p.closeDone()
		p.stopShards()
		return nil, err
	}
	if err := p.checkShardCount(); err != nil {
		return fail(err)
	}
	if err := p.ensureStreams(ctx); err != nil {
		return fail(err)
	}
	p.logStart = p.logStream.CachedInfo().State.LastSeq
	p.maxRecord = MaxRecordBytes(nc.MaxPayload())
	for _, name := range topo.EntityQueues {
		p.queues[name] = newEntityQueue(p, name)
	}
	p.ownMu.Lock()
	for _, shard := range opts.OwnedShards {
		if err := p.acquireLocked(ctx, shard, false); err != nil {
			p.ownMu.Unlock()
			return fail(err)
		}
	}
	err = p.restartTailer(ctx)
	p.ownMu.Unlock()
	if err != nil {
		return fail(err)
	}
	if r := p.Recovered(); r.Records > 0 {
		p.log.Info("recovered", "records", r.Records, "redispatched", r.Redispatched, "messages", r.Messages)
	}
	p.wg.Add(4)
	go p.maintain()
	go p.markLoop()
	go p.completer()
	go p.tailerLoop()
	if p.store != nil && p.opts.SnapshotRecords > 0 {
		p.wg.Add(1)
		go p.snapshotLoop()
	}
	if p.store != nil {
		p.wg.Add(2)
		go p.expirer()
		go p.keepWorkBlock()
	}
	return p, nil
}

// checkShardCount refuses a store built with another shard count.
func (p *Provider) checkShardCount() error {
	if p.store == nil {
		return nil
	}
	n, err := p.store.Watermark(shardCountWatermark)
	if err != nil {
		return err
	}
	switch {
	case n == 0:
		return p.store.Apply(nil, map[string]uint64{shardCountWatermark: uint64(p.opts.Shards)})
	case n != uint64(p.opts.Shards):
		return fmt.Errorf("%w: the store was built with %d shards, not %d", provider.ErrInvalidArgument, n, p.opts.Shards)
	}
	return nil
}

// stopShards stops every owned shard's consumers, and the tailer.
func (p *Provider) stopShards() {
	p.ownMu.Lock()
	defer p.ownMu.Unlock()
	for _, sh := range p.ownedStates() {
		p.stopShard(sh)
	}
	p.stopTailer()
}

// maintain keeps buffered deliveries alive and forgets stale locks, until
// Close.
func (p *Provider) maintain() {
	defer p.wg.Done()
	every := max(p.topo.LockTimeout/6, 10*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	live := p.opts.Liveness.Loop(LoopMaintenance)
	for {
		select {
		case <-p.closing:
			return
		case now := <-tick.C:
			done := live.Busy()
			for _, q := range p.queues {
				q.keepAlive(now)
			}
			p.expireWorkLocks(p.closeCtx, now)
			done()
		}
	}
}

// Close stops consuming and wakes blocked fetches with ErrClosed. Locks held
// are not released: their deliveries come back after the lock timeout, as
// after a crash. The NATS connection and the store stay open.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		close(p.closing)
		p.closeDone()
		p.stopShards()
		p.stopPullers()
		p.wg.Wait()
		// A last dispatch mark, so that a successor re-sends nothing.
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		p.writeMarks(ctx)
		cancel()
	})
	return nil
}

func (p *Provider) closedErr() error {
	return fmt.Errorf("jetstream provider %q: %w", p.opts.Prefix, provider.ErrClosed)
}

func (p *Provider) checkOpen() error {
	if p.closed.Load() {
		return p.closedErr()
	}
	return nil
}

// untilClosed returns ctx, also cancelled by Close.
func (p *Provider) untilClosed(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.closeCtx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// natsMsg is a message with an empty header ready to set.
func natsMsg(subject string, data []byte) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	return m
}

// ConnectOptions are the nats.Connect options the provider relies on:
// reconnect forever, quickly, buffering publishes during a reconnect so a
// dropped connection surfaces as an error or delay of the next operation,
// never as a dead provider.
func ConnectOptions() []nats.Option {
	return []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond),
		nats.ReconnectJitter(50*time.Millisecond, 200*time.Millisecond),
		nats.RetryOnFailedConnect(true),
	}
}

// ShardOf returns the shard entity hashes to (FNV-32a modulo
// Options.Shards). Services use it with OwnsShard to route a read of an
// entity to the process whose store holds it.
func (p *Provider) ShardOf(entity string) int { return p.names.shardOf(entity) }

// OwnsShard reports whether this provider owns shard now: it consumes the
// shard's entity-locked queues and its store, caught up with the shard's
// log, answers reads of the shard's entities (see AcquireShard).
func (p *Provider) OwnsShard(shard int) bool {
	sh := p.shard(shard)
	return sh != nil && sh.serving.Load() && p.valid(sh)
}

// Healthy reports whether the provider can serve requests: open, connected
// to NATS, and both of its streams present. It makes two requests to the
// server, bounded by ctx.
func (p *Provider) Healthy(ctx context.Context) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	if !p.nc.IsConnected() {
		return fmt.Errorf("jetstream provider %q: %w", p.opts.Prefix, ErrDisconnected)
	}
	for _, name := range []string{p.names.logStream(), p.names.workStream()} {
		if _, err := p.js.Stream(ctx, name); err != nil {
			return fmt.Errorf("jetstream provider %q: stream %s: %w", p.opts.Prefix, name, err)
		}
	}
	return nil
}

// newWriterID returns a random name for one provider instance.
func newWriterID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
