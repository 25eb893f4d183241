package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// rebuildRun is one timed restart over a deleted Pebble directory.
type rebuildRun struct {
	Mode string `json:"mode"`
	// RestartSeconds is host.Start until ready: embedded NATS, the
	// provider's recovery of every shard (restore and replay), the rest.
	RestartSeconds float64 `json:"restart_seconds"`
	// RecordsReplayed is how many log records the recovery read.
	RecordsReplayed int `json:"records_replayed"`
	// LogBytes, SnapshotBytes: the log and snapshot streams at restart.
	LogBytes      uint64 `json:"log_bytes"`
	SnapshotBytes uint64 `json:"snapshot_bytes"`
	PebbleBytes   int64  `json:"pebble_bytes"`
}

// rebuildResult is what -rebuild prints.
type rebuildResult struct {
	Workload  string       `json:"workload"`
	N         int          `json:"n"`
	Shards    int          `json:"shards"`
	LoadSecs  float64      `json:"load_seconds"`
	SnapSecs  float64      `json:"snapshot_seconds"`
	SnapRaw   int64        `json:"snapshot_raw_bytes"`
	Entities  int          `json:"snapshot_entities"`
	Runs      []rebuildRun `json:"runs"`
	LogBefore uint64       `json:"log_bytes_before_trim"`
}

// runRebuild runs o.n instances of the workload with snapshots off, then
// restarts the deployment twice with its Pebble directory deleted: first
// with no snapshot (the whole log is replayed), then after snapshotting
// every shard (the snapshot is restored and only the log above it
// replayed), and prints both restart times side by side.
func runRebuild(ctx context.Context, o options, log *slog.Logger, stdout, stderr io.Writer) error {
	dir := o.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "reprise-rebuild-")
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	o.dataDir = dir
	o.snapshotRecords = -1
	if o.shards == 0 {
		o.shards = host.DefaultShards
	}
	res := rebuildResult{Workload: o.workloads[0], N: o.n, Shards: o.shards}

	d, err := startDeployment(ctx, o, log)
	if err != nil {
		return err
	}
	w, _ := workloadByName(o.workloads[0])
	begin := time.Now()
	if _, err := runWorkload(ctx, d, w, o, strconv.FormatInt(time.Now().UnixNano(), 36), stderr); err != nil {
		d.close(context.Background())
		return err
	}
	res.LoadSecs = time.Since(begin).Seconds()
	d.close(context.Background())

	reg := runtime.NewRegistry()
	if err := register(reg); err != nil {
		return err
	}
	cfg := hostConfig(o, dir, log)
	restart := func(mode string) (*host.Node, error) {
		if err := os.RemoveAll(filepath.Join(dir, "pebble")); err != nil {
			return nil, err
		}
		started := time.Now()
		node, err := host.Start(ctx, host.Orchestrator, cfg, reg)
		if err != nil {
			return nil, fmt.Errorf("%s: restart: %w", mode, err)
		}
		took := time.Since(started)
		st, rec, err := node.Storage(ctx)
		if err != nil {
			stopNode(node)
			return nil, err
		}
		res.Runs = append(res.Runs, rebuildRun{Mode: mode, RestartSeconds: took.Seconds(), RecordsReplayed: rec.Records,
			LogBytes: st.LogBytes, SnapshotBytes: st.SnapshotBytes, PebbleBytes: node.StoreBytes()})
		return node, nil
	}

	node, err := restart("without snapshot")
	if err != nil {
		return err
	}
	st, _, err := node.Storage(ctx)
	if err != nil {
		stopNode(node)
		return err
	}
	res.LogBefore = st.LogBytes
	begin = time.Now()
	infos, err := node.SnapshotShards(ctx)
	res.SnapSecs = time.Since(begin).Seconds()
	stopNode(node)
	if err != nil {
		return err
	}
	for _, in := range infos {
		res.SnapRaw += in.RawBytes
		res.Entities += in.Entities
	}

	node, err = restart("with snapshot")
	if err != nil {
		return err
	}
	stopNode(node)

	if o.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(stdout, "rebuild after %d %s instances, %d shards (load %.1f s; snapshot of every shard %.2f s: %d entities, %.1f MB raw)\n",
		res.N, res.Workload, res.Shards, res.LoadSecs, res.SnapSecs, res.Entities, float64(res.SnapRaw)/1e6)
	fmt.Fprintln(tw, "Pebble deleted, restart\tseconds\trecords replayed\tlog MB\tsnapshots MB\tPebble MB after\t")
	for _, r := range res.Runs {
		fmt.Fprintf(tw, "%s\t%.2f\t%d\t%.1f\t%.1f\t%.1f\t\n", r.Mode, r.RestartSeconds, r.RecordsReplayed,
			float64(r.LogBytes)/1e6, float64(r.SnapshotBytes)/1e6, float64(r.PebbleBytes)/1e6)
	}
	return tw.Flush()
}

func stopNode(n *host.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = n.Stop(ctx)
}
