package metrics

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StorageReading is what the log holds and how each owned shard's log is
// compacted, as a log-based provider reports it (the JetStream provider's
// StorageStats).
type StorageReading struct {
	// LogBytes and LogMessages are the log stream's size; SnapshotBytes the
	// snapshot stream's.
	LogBytes, LogMessages, SnapshotBytes uint64
	Shards                               []ShardStorageReading
}

// ShardStorageReading is one owned shard's log above its latest snapshot
// and that snapshot.
type ShardStorageReading struct {
	Shard int
	// TailRecords and TailBytes are the log records above the snapshot: what
	// a new owner replays after restoring it.
	TailRecords, TailBytes uint64
	// SnapshotBytes is the latest snapshot's stored size, SnapshotTaken
	// when it was written (zero: the shard has none).
	SnapshotBytes int64
	SnapshotTaken time.Time
}

// StorageTimeout bounds the storage read of one scrape.
const StorageTimeout = 5 * time.Second

const (
	nameLogBytes           = "reprise_log_bytes"
	nameLogMessages        = "reprise_log_messages"
	nameSnapshotStoreBytes = "reprise_snapshot_stream_bytes"
	nameShardTailRecords   = "reprise_shard_log_tail_records"
	nameShardTailBytes     = "reprise_shard_log_tail_bytes"
	nameShardSnapshotBytes = "reprise_shard_snapshot_bytes"
	nameShardSnapshotAge   = "reprise_shard_snapshot_age_seconds"
)

func storageNames() []string {
	return []string{nameLogBytes, nameLogMessages, nameSnapshotStoreBytes, nameShardTailRecords,
		nameShardTailBytes, nameShardSnapshotBytes, nameShardSnapshotAge}
}

// WatchStorage enables the log and compaction families (reprise_log_*,
// reprise_snapshot_stream_bytes, reprise_shard_log_tail_*,
// reprise_shard_snapshot_*), read with read on every scrape. Call it at
// most once.
func (m *Metrics) WatchStorage(read func(ctx context.Context) (StorageReading, error)) {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	m.reg.MustRegister(&storageCollector{
		read: read, log: m.log, now: m.now,
		logBytes:    d(nameLogBytes, "Bytes of the JetStream log stream (commit records, tombstones, dispatch marks)."),
		logMessages: d(nameLogMessages, "Messages in the JetStream log stream."),
		snapBytes:   d(nameSnapshotStoreBytes, "Bytes of the JetStream snapshot stream (the shards' latest snapshots)."),
		tailRecords: d(nameShardTailRecords, "Log records of an owned shard above its latest snapshot: what a new owner replays after restoring it.", "shard"),
		tailBytes:   d(nameShardTailBytes, "Bytes of the log records of an owned shard above its latest snapshot.", "shard"),
		shardSnap:   d(nameShardSnapshotBytes, "Stored (compressed) size of an owned shard's latest snapshot; 0 when it has none.", "shard"),
		shardAge:    d(nameShardSnapshotAge, "Age of an owned shard's latest snapshot; absent when it has none.", "shard"),
	})
}

type storageCollector struct {
	read func(ctx context.Context) (StorageReading, error)
	log  *slog.Logger
	now  func() time.Time

	logBytes, logMessages, snapBytes, tailRecords, tailBytes, shardSnap, shardAge *prometheus.Desc

	mu   sync.Mutex
	last *StorageReading
}

// Describe implements prometheus.Collector.
func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.logBytes, c.logMessages, c.snapBytes, c.tailRecords, c.tailBytes, c.shardSnap, c.shardAge} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A failed read reports the last
// reading (none before the first success).
func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), StorageTimeout)
	defer cancel()
	r, err := c.read(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.last = &r
	} else {
		c.log.Warn("metrics: read storage", "err", err)
	}
	if c.last == nil {
		return
	}
	r = *c.last
	g := prometheus.GaugeValue
	ch <- prometheus.MustNewConstMetric(c.logBytes, g, float64(r.LogBytes))
	ch <- prometheus.MustNewConstMetric(c.logMessages, g, float64(r.LogMessages))
	ch <- prometheus.MustNewConstMetric(c.snapBytes, g, float64(r.SnapshotBytes))
	for _, s := range r.Shards {
		shard := strconv.Itoa(s.Shard)
		ch <- prometheus.MustNewConstMetric(c.tailRecords, g, float64(s.TailRecords), shard)
		ch <- prometheus.MustNewConstMetric(c.tailBytes, g, float64(s.TailBytes), shard)
		ch <- prometheus.MustNewConstMetric(c.shardSnap, g, float64(s.SnapshotBytes), shard)
		if !s.SnapshotTaken.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.shardAge, g, max(c.now().Sub(s.SnapshotTaken), 0).Seconds(), shard)
		}
	}
}
