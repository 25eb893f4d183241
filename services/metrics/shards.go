package metrics

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ShardReader reads the backlog of one shard of an entity-locked queue:
// how many messages wait or are in flight, and when the oldest of them was
// stored (zero when there is none). The JetStream provider implements it.
type ShardReader interface {
	ShardBacklog(ctx context.Context, queue string, shard int) (pending int, oldest time.Time, err error)
}

// ShardBacklogTimeout bounds the backlog reads of one scrape (one or two
// requests per owned shard); it stays below a PodMonitor's 10 s scrape
// timeout.
const ShardBacklogTimeout = 5 * time.Second

// ShardOptions configure [Metrics.WatchShards].
type ShardOptions struct {
	// Reader reads each owned shard's backlog on scrape.
	Reader ShardReader
	// Shards is the deployment's shard count (reprise_shards).
	Shards int
	// Owned lists the shards this process runs, and Owner is its ordinal
	// (the value of reprise_shard_owner; 0 when shards are leased).
	Owned []int
	Owner int
	// OwnedNow, when set, is asked for the owned shards on every scrape
	// instead of Owned (shards that move with their leases).
	OwnedNow func() []int
	// Queues are the entity-locked queues whose shards are read.
	Queues []string
}

// WatchShards enables the per-shard families: reprise_shards, and for each
// owned shard reprise_shard_owner, reprise_shard_pending_messages and
// reprise_shard_lag_seconds. Call it at most once.
func (m *Metrics) WatchShards(o ShardOptions) {
	c := &shardCollector{
		o:       o,
		owned:   append([]int(nil), o.Owned...),
		queues:  append([]string(nil), o.Queues...),
		timeout: ShardBacklogTimeout,
		log:     m.log,
		now:     m.now,
		shards: prometheus.NewDesc(nameShards,
			"The deployment's shard count: every shard must have exactly one reprise_shard_owner series.", nil, nil),
		owner: prometheus.NewDesc(nameShardOwner,
			"Present for each shard this process owns; the value is the owner's ordinal.", []string{"shard"}, nil),
		pending: prometheus.NewDesc(nameShardPending,
			"Messages of an owned shard's entity-locked queue waiting or in flight, read on scrape (the last value read when a read fails).",
			[]string{"queue", "shard"}, nil),
		lag: prometheus.NewDesc(nameShardLag,
			"Age of the oldest unprocessed message of an owned shard's entity-locked queue; 0 when the shard has none.",
			[]string{"queue", "shard"}, nil),
		last: map[shardKey]shardReading{},
	}
	if c.o.Reader == nil {
		c.queues = nil
	}
	m.reg.MustRegister(c)
}

type shardKey struct {
	queue string
	shard int
}

type shardReading struct {
	pending int
	oldest  time.Time
}

type shardCollector struct {
	o       ShardOptions
	owned   []int
	queues  []string
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time

	shards, owner, pending, lag *prometheus.Desc

	mu   sync.Mutex
	last map[shardKey]shardReading
}

// Describe implements prometheus.Collector.
func (c *shardCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.shards
	ch <- c.owner
	ch <- c.pending
	ch <- c.lag
}

// Collect implements prometheus.Collector. The reads share one deadline; a
// shard whose backlog cannot be read reports its last reading (its lag
// keeps growing from the oldest message then seen), and is left out only
// if it was never read.
func (c *shardCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.shards, prometheus.GaugeValue, float64(c.o.Shards))
	owned := c.owned
	if c.o.OwnedNow != nil {
		owned = c.o.OwnedNow()
	}
	for _, s := range owned {
		ch <- prometheus.MustNewConstMetric(c.owner, prometheus.GaugeValue, float64(c.o.Owner), strconv.Itoa(s))
	}
	if len(c.queues) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range c.queues {
		for _, s := range owned {
			k := shardKey{q, s}
			pending, oldest, err := c.o.Reader.ShardBacklog(ctx, q, s)
			if err == nil {
				c.last[k] = shardReading{pending: pending, oldest: oldest}
			} else {
				c.log.Warn("metrics: read shard backlog", "queue", q, "shard", s, "err", err)
			}
			r, ok := c.last[k]
			if !ok {
				continue
			}
			lag := 0.0
			if !r.oldest.IsZero() {
				lag = max(c.now().Sub(r.oldest), 0).Seconds()
			}
			shard := strconv.Itoa(s)
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(r.pending), q, shard)
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag, q, shard)
		}
	}
}
