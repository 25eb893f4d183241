package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/internal/groupsync"
	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/liveness"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/jetstream"
	"github.com/reprise/reprise/provider/pebble"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
	"github.com/reprise/reprise/services/apiserver"
	"github.com/reprise/reprise/services/cluster"
	"github.com/reprise/reprise/services/metrics"
	"github.com/reprise/reprise/ui"
)

// Node is one running service process: its NATS connection (and embedded
// server), store, provider, runtime worker, API server and HTTP endpoints.
// Create it with [Start]; Stop drains and releases everything.
type Node struct {
	role    Role
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Metrics
	// live watches the node's long-running loops for /healthz.
	live *liveness.Monitor
	// owned is the shards the node runs (nil: all; empty for a worker).
	owned []int
	// limits is the node's table of size limits (see Limits).
	limits Limits

	embedded *natsembed.Server
	// syncer is the group commit of -fsync (nil without).
	syncer *groupsync.Syncer
	nc     *nats.Conn
	js     natsjs.JetStream
	// store is the orchestrator's Pebble store (a worker has none).
	store *pebble.Store
	// conn and pebbleStore publish nc and store to the metrics collectors,
	// which run on scrapes while the node is still starting.
	conn        atomic.Pointer[nats.Conn]
	pebbleStore atomic.Pointer[pebble.Store]
	prov        *jetstream.Provider
	// member shares the shards by leases (nil when they are pinned);
	// memberID is its id, kept in the data directory.
	member   *cluster.Member
	memberID string
	// joined publishes member to the API's cluster view, which may be
	// asked while the node is still joining.
	joined   atomic.Pointer[cluster.Member]
	worker   *worker.Worker
	notifier *apiserver.Notifier
	api      *apiserver.Server
	http     *httpServer
	ui       *ui.Server

	ready    atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

// Start builds and starts a service process of the given role over the
// functions in reg. It returns once the node is ready: NATS connected,
// streams present, the store open and recovered, dispatchers and the API
// running. On error everything started so far is released.
func Start(ctx context.Context, role Role, cfg Config, reg *runtime.Registry) (*Node, error) {
	if reg == nil {
		return nil, errors.New("host: Start needs a registry")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(role); err != nil {
		return nil, fmt.Errorf("host: configuration: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = newLogger(cfg)
	}
	log = log.With("service", role.String())
	n := &Node{role: role, cfg: cfg, log: log, live: liveness.NewMonitor(nil)}
	if role == Worker {
		// A worker owns no shard: it only fetches activities and sends
		// their results.
		n.owned = []int{}
	}
	mopts := metrics.Options{
		NATSConnected: func() bool {
			nc := n.conn.Load()
			return nc != nil && nc.IsConnected()
		},
		Logger: log.With("component", "metrics"),
	}
	if role == Orchestrator {
		mopts.Pebble = func() *cpebble.Metrics {
			if st := n.pebbleStore.Load(); st != nil {
				return st.Metrics() // nil once closed
			}
			return nil
		}
	}
	n.metrics = metrics.New(mopts)
	n.metrics.Preset(n.knownLabels(reg))
	if err := n.start(ctx, reg); err != nil {
		n.release(context.Background())
		return nil, fmt.Errorf("host: start %s: %w", role, err)
	}
	n.ready.Store(true)
	n.metrics.SetReady(true)
	uiURL := "off"
	if n.ui != nil {
		uiURL = n.ui.URL()
	}
	attrs := []any{"nats", n.NATSURL(), "health", n.HealthAddr(), "ui", uiURL, "prefix", cfg.Prefix,
		"embedded", n.embedded != nil, "activities", n.runsActivities()}
	if n.member != nil {
		attrs = append(attrs, "member", n.memberID, "owned", fmt.Sprint(n.member.Owned()))
	} else {
		attrs = append(attrs, "owned", ownedString(n.owned))
	}
	if role == Orchestrator {
		names := reg.Orchestrations()
		attrs = append(attrs, "orchestrations", strings.Join(names, ","))
	}
	log.Info("ready", attrs...)
	return n, nil
}

// nextCommand is a command to paste into another shell once the
// orchestrator is ready: start one of its orchestrations with the CLI.
func nextCommand(n *Node, names []string) string {
	if n.role != Orchestrator {
		return ""
	}
	if len(names) == 0 {
		return ""
	}
	name := names[0]
	if slices.Contains(names, "hello") {
		name = "hello"
	}
	cmd := "go run ./cmd/reprise start " + name
	if name == "hello" {
		cmd += ` --input '"world"'`
	}
	cmd += " --wait"
	if url := n.NATSURL(); url != "nats://127.0.0.1:4222" {
		cmd += " --server " + url
	}
	if n.cfg.Prefix != api.DefaultPrefix {
		cmd += " --prefix " + n.cfg.Prefix
	}
	return cmd
}

func (n *Node) runsActivities() bool {
	switch {
	case n.role == Worker:
		return true
	case n.cfg.Activities == ActivitiesOn:
		return true
	case n.cfg.Activities == ActivitiesAuto:
		return n.cfg.NATSURL == ""
	}
	return false
}

func (n *Node) start(ctx context.Context, reg *runtime.Registry) error {
	cfg := n.cfg
	// Health first, so a probe sees "alive, not ready" during recovery.
	if cfg.MetricsAddr != "off" {
		h, err := startHTTP(cfg.MetricsAddr, n, n.log)
		if err != nil {
			return err
		}
		n.http = h
	}
	url := cfg.NATSURL
	if url == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		srv, err := startEmbedded(cfg)
		if err != nil {
			return err
		}
		n.embedded = srv
		if cfg.FSync {
			if n.syncer, err = groupsync.NewFS(cfg.DataDir); err != nil {
				return fmt.Errorf("-fsync: %w", err)
			}
			n.log.Info("group commit on", "dir", cfg.DataDir)
		}
		url = srv.ClientURL()
		n.log.Info("embedded NATS server started", "url", url, "store", filepath.Join(cfg.DataDir, "nats"))
	}
	nc, err := connect(ctx, cfg, url, "reprise-"+n.role.String(), n.log, connectHooks{
		disconnected: func() { n.metrics.SetReady(false) },
		reconnected:  n.metrics.NATSReconnected,
	})
	if err != nil {
		return err
	}
	n.nc = nc
	n.conn.Store(nc)
	// The sizes the API accepts must fit the engine's limits and the
	// commit records the NATS server carries.
	limits, err := NewLimits(cfg.MaxPayloadBytes, nc.MaxPayload())
	if err != nil && n.role == Orchestrator {
		return fmt.Errorf("limits: %w", err)
	}
	if cfg.maxReplyBytes > 0 {
		limits.ReplyPage = min(limits.ReplyPage, int64(cfg.maxReplyBytes))
	}
	n.limits = limits
	if n.js, err = natsjs.New(nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if cfg.Shards, err = n.resolveShards(ctx); err != nil {
		return err
	}
	n.cfg.Shards = cfg.Shards
	if err := cfg.validateShards(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if n.role == Orchestrator {
		if n.owned, err = cfg.ownedShards(os.Hostname); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
	}

	topo := runtime.Topology(runtime.WithLockTimeout(cfg.LockTimeout))
	if n.role == Orchestrator {
		// A worker owns no shard and keeps no store: it only fetches
		// activities and sends their results.
		storeDir := filepath.Join(cfg.DataDir, "pebble")
		if n.store, err = pebble.Open(pebble.Options{Dir: storeDir, IndexedKeys: topo.IndexedKeys, Logger: n.log.With("component", "pebble")}); err != nil {
			return fmt.Errorf("open Pebble store in %s: %w", storeDir, err)
		}
		n.pebbleStore.Store(n.store)
		if n.leased() {
			if n.memberID, err = loadMemberID(cfg.DataDir); err != nil {
				return err
			}
			// Refuse settings that differ from the cluster's before
			// anything is created with them.
			if err := cluster.CheckSettings(ctx, n.js, n.clusterOptions()); err != nil {
				return err
			}
			n.owned = []int{} // until leases are taken, below
		} else {
			n.log.Info("recovering", "shards", cfg.Shards, "owned", ownedString(n.owned))
		}
	}
	if cfg.beforeRecovery != nil {
		cfg.beforeRecovery(n.HealthAddr())
	}
	var durable jetstream.Durability // nil, not a nil *groupsync.Syncer
	if n.syncer != nil {
		durable = n.syncer
	}
	prov, err := jetstream.New(ctx, nc, n.store, topo, jetstream.Options{
		Durable:     durable,
		Prefix:      cfg.Prefix,
		Shards:      cfg.Shards,
		OwnedShards: n.owned,
		Replicas:    cfg.Replicas,
		Logger:      n.log.With("component", "provider"),
		Liveness:    n.live,
		// Only orchestrators create and update the streams and
		// consumers; a worker checks them (and needs no stream
		// administration rights). Orchestrators create the activity
		// queue's consumer at start, whether or not they run activities.
		VerifyStreams:    n.role == Worker,
		WorkQueues:       []string{runtime.DefaultActivityQueue},
		SnapshotRecords:  cfg.SnapshotRecords,
		SnapshotInterval: cfg.SnapshotInterval,
	})
	if errors.Is(err, jetstream.ErrStreamMismatch) {
		return fmt.Errorf("JetStream provider: %w (a worker's -shards, -replicas and -lock-timeout must be the orchestrators'; an orchestrator does not change an existing stream's replicas: do that deliberately, with nats stream edit)", err)
	}
	if err != nil {
		return fmt.Errorf("JetStream provider: %w", err)
	}
	n.prov = prov
	queues := []string{runtime.DefaultActivityQueue}
	if n.role == Orchestrator {
		queues = []string{runtime.DefaultOrchestratorQueue, runtime.DefaultActivityQueue}
	}
	n.metrics.WatchQueueDepth(prov, queues)
	if n.role == Orchestrator {
		so := metrics.ShardOptions{Reader: prov, Shards: cfg.Shards, Owned: n.ownedList(),
			Owner: n.ordinal(), Queues: topo.EntityQueues}
		if n.leased() {
			so.Owner, so.OwnedNow = 0, prov.OwnedShards
		}
		n.metrics.WatchShards(so)
		n.metrics.WatchStorage(func(ctx context.Context) (metrics.StorageReading, error) {
			return storageReading(ctx, prov)
		})
	}

	// Every provider call of the runtime and the API is timed.
	timed := metrics.InstrumentProvider(prov, n.metrics)
	if cfg.wrapProvider != nil {
		timed = cfg.wrapProvider(timed)
	}
	client := control.New(timed, control.Options{MaxPayloadBytes: cfg.MaxPayloadBytes})
	wopts := worker.Options{
		Limits:                   n.limits.Runtime(),
		DisableOrchestrations:    n.role == Worker,
		DisableActivities:        !n.runsActivities(),
		OrchestrationConcurrency: cfg.Concurrency,
		ActivityConcurrency:      cfg.ActivityConcurrency,
		CacheSize:                cfg.CacheSize,
		Retention:                cfg.Retention,
		Logger:                   n.log.With("component", "runtime"),
		Observer:                 n.metrics,
		Liveness:                 n.live,
	}
	if n.role == Orchestrator {
		n.notifier = apiserver.NewNotifier(nc, client, cfg.Prefix, n.log.With("component", "notify"))
		n.notifier.Start()
		wopts.OnStatusChange = n.notifier.OnStatusChange
	}
	if n.worker, err = worker.New(timed, reg, wopts); err != nil {
		return err
	}
	if n.role == Orchestrator {
		n.api, err = apiserver.New(nc, client, apiserver.Options{
			Prefix:                  cfg.Prefix,
			MaxPayloadBytes:         cfg.MaxPayloadBytes,
			Reuse:                   cfg.Reuse,
			MaxReplyBytes:           int(n.limits.ReplyPage),
			MaxWaits:                cfg.MaxWaits,
			MaxWaitsPerClient:       cfg.MaxWaitsPerClient,
			Orchestrations:          reg.HasOrchestration,
			Replicas:                cfg.Replicas,
			Shards:                  cfg.Shards,
			Sharding:                prov,
			Cluster:                 n.clusterView(),
			SubmitMaxDeliveries:     cfg.submitMaxDeliveries,
			SubmitUnavailableMaxAge: cfg.submitUnavailableMaxAge,
			Concurrency:             cfg.apiConcurrency,
			OnReply:                 n.onReply,
			Logger:                  n.log.With("component", "api"),
		})
		if err != nil {
			return err
		}
	}
	if err := n.worker.Start(ctx); err != nil {
		return err
	}
	if n.api != nil {
		if err := n.api.Start(ctx); err != nil {
			return err
		}
	}
	if n.leased() {
		// Last: a shard taken is served at once (worker, API).
		copts := n.clusterOptions()
		copts.Observer = n.metrics.Leases()
		if n.member, err = cluster.Join(ctx, n.js, leasedShards{n}, copts); err != nil {
			return err
		}
		n.joined.Store(n.member)
		n.joined.Store(n.member)
	}
	if n.role == Orchestrator && cfg.uiEnabled() {
		h, err := ui.New(nc, ui.Options{
			Prefix:         cfg.Prefix,
			ReadOnly:       cfg.UIReadOnly,
			Orchestrations: reg.Orchestrations(),
			Logger:         n.log.With("component", "ui"),
		})
		if err != nil {
			return err
		}
		if n.ui, err = ui.Listen(cfg.UIAddr, h, n.log.With("component", "ui")); err != nil {
			return err
		}
	}
	return nil
}

// onReply counts an answered API request. apiserver reports bounded verbs
// and codes; the client errors among them are also counted as bad requests
// by reason.
func (n *Node) onReply(verb, code string) {
	n.metrics.APIRequest(verb, code)
	switch api.Code(code) {
	case api.CodeBadRequest, api.CodeInvalidInstanceID, api.CodePayloadTooLarge, api.CodeUnknownOrchestration:
		n.metrics.APIBadRequest(code)
	}
}

// knownLabels is what the metrics create zero series for before the first
// event: the registered names, the node's queues, the API's verbs and the
// codes counted as bad requests (see onReply).
func (n *Node) knownLabels(reg *runtime.Registry) metrics.Known {
	k := metrics.Known{Queues: []string{runtime.DefaultActivityQueue}}
	if n.runsActivities() {
		k.Activities = reg.ActivityNames()
	}
	if n.role == Orchestrator {
		k.Orchestrations = reg.OrchestrationNames()
		k.Queues = append(k.Queues, runtime.DefaultOrchestratorQueue)
		for _, v := range api.Verbs() {
			k.APIVerbs = append(k.APIVerbs, string(v))
		}
		k.APIVerbs = append(k.APIVerbs, apiserver.VerbSubmit)
		k.APICodes = []string{"ok"}
		for _, c := range []api.Code{api.CodeBadRequest, api.CodeInvalidInstanceID, api.CodePayloadTooLarge, api.CodeUnknownOrchestration} {
			k.APIBadReasons = append(k.APIBadReasons, string(c))
		}
	}
	return k
}

// ownedList is the shards the node runs, all of them spelt out.
func (n *Node) ownedList() []int {
	if n.owned != nil {
		return n.owned
	}
	all := make([]int, n.cfg.Shards)
	for i := range all {
		all[i] = i
	}
	return all
}

// ordinal is the node's ordinal among the orchestrators (0 when it cannot
// be told; Start has already refused a bad -ordinal auto).
func (n *Node) ordinal() int {
	if n.cfg.Ordinal != OrdinalAuto {
		return n.cfg.Ordinal
	}
	h, err := os.Hostname()
	if err != nil {
		return 0
	}
	k, err := OrdinalFromHostname(h)
	if err != nil {
		return 0
	}
	return k
}

func ownedString(owned []int) string {
	if owned == nil {
		return "all"
	}
	return fmt.Sprint(owned)
}

// Stop drains the node: it stops taking requests, lets in-flight turns and
// activities finish until ctx ends (then abandons what is left, to be
// redelivered), and releases NATS, the store and the embedded server.
// Calling it again returns the first result.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() {
		n.ready.Store(false)
		n.metrics.SetReady(false)
		n.log.Info("draining")
		n.stopErr = n.release(ctx)
		n.log.Info("stopped", "err", n.stopErr)
	})
	return n.stopErr
}

// release stops what was started, in reverse order.
func (n *Node) release(ctx context.Context) error {
	var errs []error
	if n.member != nil {
		// First: hand the shards over while turns can still finish.
		if err := n.member.Leave(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if n.ui != nil {
		// First: its pages and event streams use the API and NATS.
		if err := n.ui.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if n.api != nil {
		if err := n.api.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if n.worker != nil {
		if err := n.worker.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("drain turns and activities: %w", err))
		}
	}
	if n.notifier != nil {
		// After the worker: it publishes the changes of the last turns.
		if err := n.notifier.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if n.prov != nil {
		if err := n.prov.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close provider: %w", err))
		}
	}
	if n.syncer != nil {
		// After the provider, whose last dispatch marks sync.
		if err := n.syncer.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close group syncer: %w", err))
		}
	}
	if n.nc != nil {
		// Flush what was published (notifications), then close.
		_ = n.nc.FlushTimeout(2 * time.Second)
		n.nc.Close()
	}
	if n.store != nil {
		// The collector sees a closed store as nil metrics.
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close Pebble store: %w", err))
		}
	}
	if n.embedded != nil {
		n.embedded.Shutdown()
	}
	if n.http != nil {
		n.http.stop()
	}
	return errors.Join(errs...)
}

// Fsyncs returns how many group-commit flushes (syncfs of the data
// directory) the node has run: 0 without -fsync.
func (n *Node) Fsyncs() uint64 {
	if n.syncer == nil {
		return 0
	}
	return n.syncer.Flushes()
}

// NATSMessages returns how many messages the embedded NATS server has
// received from its clients and sent to them (its varz in_msgs and
// out_msgs, JetStream's internal traffic included); ok is false without an
// embedded server.
func (n *Node) NATSMessages() (in, out uint64, ok bool) {
	if n.embedded == nil {
		return 0, 0, false
	}
	v, err := n.embedded.NATS().Varz(nil)
	if err != nil {
		return 0, 0, false
	}
	return uint64(v.InMsgs), uint64(v.OutMsgs), true
}

// FsyncTime returns the time the node's group-commit flushes took so far
// (0 without -fsync).
func (n *Node) FsyncTime() time.Duration {
	if n.syncer == nil {
		return 0
	}
	return n.syncer.FlushTime()
}

// Ready reports whether the node serves: started, not stopping, and
// connected to NATS.
func (n *Node) Ready() bool { return n.ready.Load() && n.nc != nil && n.nc.IsConnected() }

// checkReady is /readyz: ready, and the streams the node depends on exist.
func (n *Node) checkReady(ctx context.Context) error {
	if !n.ready.Load() {
		return errors.New("starting or stopping")
	}
	if !n.nc.IsConnected() {
		return fmt.Errorf("NATS %s", n.nc.Status())
	}
	if n.role == Orchestrator {
		for _, name := range []string{api.SubmitStream(n.cfg.Prefix), api.DeadLetterStream(n.cfg.Prefix)} {
			if _, err := n.js.Stream(ctx, name); err != nil {
				return fmt.Errorf("stream %s: %w", name, err)
			}
		}
	}
	if n.prov != nil {
		if err := n.prov.Healthy(ctx); err != nil {
			return fmt.Errorf("provider: %w", err)
		}
	}
	return nil
}

// NATSURL is the URL of the NATS server the node uses (the embedded one's
// in embedded mode).
func (n *Node) NATSURL() string {
	if n.embedded != nil {
		return n.embedded.ClientURL()
	}
	return n.cfg.NATSURL
}

// HealthAddr is the address /healthz, /readyz and /metrics are served on
// (empty when disabled).
func (n *Node) HealthAddr() string {
	if n.http == nil {
		return ""
	}
	return n.http.addr
}

// Limits is the node's table of size limits.
func (n *Node) Limits() Limits { return n.limits }

// UIAddr is the address the web UI is served on (empty when it is off).
func (n *Node) UIAddr() string {
	if n.ui == nil {
		return ""
	}
	return n.ui.Addr()
}

// Metrics is the node's Prometheus metrics, served on /metrics: the reprise_
// families fed by the runtime, the provider, the API and the host, plus the
// Go and process collectors. Register a service's own collectors in its
// Registry.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// Provider is the node's provider, for in-process tools and tests.
func (n *Node) Provider() provider.Provider {
	if n.prov == nil {
		return nil
	}
	return n.prov
}

func newLogger(cfg Config) *slog.Logger {
	level, _ := parseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// leased reports whether this node's shards are shared by leases.
func (n *Node) leased() bool { return n.role == Orchestrator && n.cfg.leased() }

// clusterOptions configure the node's membership.
func (n *Node) clusterOptions() cluster.Options {
	return cluster.Options{
		MemberID: n.memberID,
		Prefix:   n.cfg.Prefix,
		Shards:   n.cfg.Shards,
		Replicas: n.cfg.Replicas,
		LeaseTTL: n.cfg.LeaseTTL,
		// A graceful hand-off waits for the turns in progress.
		HandOffTimeout: n.cfg.LockTimeout,
		Settings:       map[string]string{"lock_timeout": n.cfg.LockTimeout.String()},
		OnChange: func(owned []int) {
			n.log.Info("shards", "owned", fmt.Sprint(owned))
		},
		Logger:   n.log.With("component", "cluster"),
		Liveness: n.live,
	}
}

// leasedShards is what the node's membership acquires and releases: the
// provider's shards and the API's answers for them.
type leasedShards struct{ n *Node }

func (l leasedShards) AcquireShard(ctx context.Context, shard int) error {
	if err := l.n.prov.AcquireShard(ctx, shard); err != nil {
		return err
	}
	if l.n.api != nil {
		return l.n.api.ServeShard(shard)
	}
	return nil
}

func (l leasedShards) ReleaseShard(ctx context.Context, shard int, lost bool) error {
	if l.n.api != nil {
		l.n.api.UnserveShard(shard)
	}
	return l.n.prov.ReleaseShard(ctx, shard, lost)
}

func (l leasedShards) ExtendShard(shard int, d time.Duration) { l.n.prov.ExtendShard(shard, d) }

// loadMemberID returns the member id kept in dir, creating it on the first
// start: the same store restarted is the same member, and takes its leases
// back without waiting for them to expire.
func loadMemberID(dir string) (string, error) {
	path := filepath.Join(dir, "member-id")
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read member id: %w", err)
	}
	id := cluster.NewMemberID()
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("write member id: %w", err)
	}
	return id, nil
}

// clusterView answers the API's cluster verb: nil (the API's pinned view)
// unless the shards are leased, else the members and lease holders this
// node sees.
func (n *Node) clusterView() func() api.ClusterReply {
	if !n.leased() {
		return nil
	}
	return func() api.ClusterReply {
		r := api.ClusterReply{Mode: api.ClusterLeases, Shards: n.cfg.Shards, AnsweredBy: n.memberID,
			Members: []api.ClusterMember{}}
		m := n.joined.Load()
		if m == nil { // still joining: it knows nothing yet
			r.UnownedShards = make([]int, n.cfg.Shards)
			for s := range r.UnownedShards {
				r.UnownedShards[s] = s
			}
			return r
		}
		held := map[string][]int{}
		for _, id := range m.Members() {
			held[id] = []int{}
		}
		// A holder missing from the members is leaving (handing over) or
		// dead (until its leases expire): it is listed too.
		for s, owner := range m.Owners() {
			if owner == "" {
				r.UnownedShards = append(r.UnownedShards, s)
				continue
			}
			held[owner] = append(held[owner], s)
		}
		for _, id := range slices.Sorted(maps.Keys(held)) {
			r.Members = append(r.Members, api.ClusterMember{ID: id, Shards: held[id]})
		}
		return r
	}
}

// resolveShards returns the deployment's shard count: the configured one,
// else the one its log stream records (jetstream.RecordedShards), else, for
// a new deployment, DefaultShards. A worker of a new deployment waits for
// an orchestrator to create the log stream: the count is the
// orchestrators'. A configured count that differs from the recorded one is
// refused when the provider starts (jetstream.ErrStreamMismatch).
func (n *Node) resolveShards(ctx context.Context) (int, error) {
	if n.cfg.Shards != 0 {
		return n.cfg.Shards, nil
	}
	told := false
	for {
		recorded, err := jetstream.RecordedShards(ctx, n.js, n.cfg.Prefix)
		switch {
		case err != nil:
			return 0, fmt.Errorf("shard count: %w", err)
		case recorded != 0:
			n.log.Info("shard count", "shards", recorded, "from", "the deployment's log stream")
			return recorded, nil
		case n.role == Orchestrator:
			n.log.Info("shard count", "shards", DefaultShards, "from", "the default for a new deployment")
			return DefaultShards, nil
		}
		if !told {
			n.log.Info("waiting for a process that administers the streams to create the log stream, which records the shard count (or set -shards)")
			told = true
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("shard count: no log stream under prefix %q yet (an orchestrator creates it; or set -shards): %w", n.cfg.Prefix, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
