package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/reprise/reprise/provider/jetstream"
	"github.com/reprise/reprise/services/metrics"
)

// storageReading converts the provider's storage statistics for the metrics.
func storageReading(ctx context.Context, prov *jetstream.Provider) (metrics.StorageReading, error) {
	st, err := prov.StorageStats(ctx)
	if err != nil {
		return metrics.StorageReading{}, err
	}
	r := metrics.StorageReading{LogBytes: st.LogBytes, LogMessages: st.LogMessages, SnapshotBytes: st.SnapshotBytes}
	for _, s := range st.Shards {
		r.Shards = append(r.Shards, metrics.ShardStorageReading{Shard: s.Shard, TailRecords: s.TailRecords,
			TailBytes: s.TailBytes, SnapshotBytes: s.Snapshot.Bytes, SnapshotTaken: s.Snapshot.Taken})
	}
	return r, nil
}

// errNoStore reports a storage request to a node that keeps no store (a
// worker).
var errNoStore = errors.New("host: this node keeps no store")

// Storage reports what the log and snapshot streams hold and the owned
// shards' compaction, with what the shards' recoveries replayed since the
// node started.
func (n *Node) Storage(ctx context.Context) (jetstream.StorageStats, jetstream.RecoveryReport, error) {
	if n.prov == nil || n.store == nil {
		return jetstream.StorageStats{}, jetstream.RecoveryReport{}, errNoStore
	}
	st, err := n.prov.StorageStats(ctx)
	return st, n.prov.Recovered(), err
}

// StoreBytes is the disk space the node's Pebble store uses (0 without a
// store).
func (n *Node) StoreBytes() int64 {
	if st := n.pebbleStore.Load(); st != nil {
		if m := st.Metrics(); m != nil {
			return int64(m.DiskSpaceUsage())
		}
	}
	return 0
}

// SnapshotShards snapshots every shard the node owns now and trims their
// logs (see provider/jetstream, "Snapshots and trimming").
func (n *Node) SnapshotShards(ctx context.Context) ([]jetstream.SnapshotInfo, error) {
	if n.prov == nil || n.store == nil {
		return nil, errNoStore
	}
	var out []jetstream.SnapshotInfo
	for _, shard := range n.prov.OwnedShards() {
		info, err := n.prov.SnapshotShard(ctx, shard)
		if err != nil {
			return out, fmt.Errorf("snapshot shard %d: %w", shard, err)
		}
		out = append(out, info)
	}
	return out, nil
}
