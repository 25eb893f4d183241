package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/metrics"
)

func TestQueueDepthIsReadOnScrape(t *testing.T) {
	p := newMemory(t)
	m := metrics.New(metrics.Options{Provider: p, Queues: []string{runtime.DefaultOrchestratorQueue, runtime.DefaultActivityQueue}})
	key := func(q string) string { return "reprise_queue_depth{queue=" + q + "}" }
	if got := values(t, m); got[key(runtime.DefaultActivityQueue)] != 0 || got[key(runtime.DefaultOrchestratorQueue)] != 0 {
		t.Fatalf("empty queues: %v", got)
	}
	var msgs []provider.Outgoing
	for i := range 3 {
		msgs = append(msgs, provider.Outgoing{Queue: runtime.DefaultActivityQueue,
			Message: provider.Message{ID: fmt.Sprint(i), Entity: "e", Data: []byte("x")}})
	}
	if err := p.Send(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	got := values(t, m)
	if got[key(runtime.DefaultActivityQueue)] != 3 || got[key(runtime.DefaultOrchestratorQueue)] != 0 {
		t.Fatalf("queue depths %v, want activities 3 and orchestrator 0", got)
	}
}

// WatchQueueDepth adds the queue-depth collector to metrics made without a
// provider (the host serves /metrics before its provider has recovered).
func TestWatchQueueDepthLater(t *testing.T) {
	m := metrics.New(metrics.Options{})
	if _, ok := values(t, m)["reprise_queue_depth{queue="+runtime.DefaultActivityQueue+"}"]; ok {
		t.Fatal("queue depth reported without a provider")
	}
	p := newMemory(t)
	if err := p.Send(context.Background(), provider.Outgoing{Queue: runtime.DefaultActivityQueue,
		Message: provider.Message{ID: "1", Entity: "e", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	m.WatchQueueDepth(p, []string{runtime.DefaultActivityQueue})
	if got := values(t, m)["reprise_queue_depth{queue="+runtime.DefaultActivityQueue+"}"]; got != 1 {
		t.Fatalf("queue depth after WatchQueueDepth: %v, want 1", got)
	}
}

// stuckDepth is a provider whose QueueDepth only returns when its context
// ends, for one queue.
type stuckDepth struct {
	provider.Provider
	stuck string
}

func (s stuckDepth) QueueDepth(ctx context.Context, queue string) (int, error) {
	if queue == s.stuck {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return s.Provider.QueueDepth(ctx, queue)
}

// A queue whose depth cannot be read within the timeout is left out of the
// scrape; the scrape itself still succeeds.
func TestQueueDepthTimeoutLeavesTheQueueOut(t *testing.T) {
	p := stuckDepth{Provider: newMemory(t), stuck: "slow"}
	m := metrics.New(metrics.Options{Provider: p, Queues: []string{"slow", runtime.DefaultActivityQueue},
		QueueDepthTimeout: 1}) // 1 ns: the stuck call returns as soon as it starts
	got := values(t, m)
	if _, ok := got["reprise_queue_depth{queue=slow}"]; ok {
		t.Errorf("the stuck queue was reported: %v", got)
	}
	if len(got) == 0 {
		t.Fatal("the scrape reported nothing")
	}
}

func TestPebbleCollectorReadsTheStore(t *testing.T) {
	db := openPebble(t)
	for i := range 100 {
		if err := db.Set(fmt.Appendf(nil, "key-%03d", i), []byte("value"), cpebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	closed := false
	m := metrics.New(metrics.Options{Pebble: func() *cpebble.Metrics {
		if closed {
			return nil
		}
		return db.Metrics()
	}})
	got := values(t, m)
	if got["reprise_pebble_open"] != 1 {
		t.Errorf("reprise_pebble_open = %v, want 1", got["reprise_pebble_open"])
	}
	if got["reprise_pebble_flushes_total"] < 1 || got["reprise_pebble_wal_bytes_written_total"] <= 0 {
		t.Errorf("flushes %v, WAL bytes %v; want a flush and WAL writes", got["reprise_pebble_flushes_total"], got["reprise_pebble_wal_bytes_written_total"])
	}
	if got["reprise_pebble_disk_usage_bytes"] <= 0 || got["reprise_pebble_sstables{level=0}"] < 1 || got["reprise_pebble_sstable_bytes{level=0}"] <= 0 {
		t.Errorf("disk %v, L0 tables %v (%v bytes); want the flushed sstable", got["reprise_pebble_disk_usage_bytes"],
			got["reprise_pebble_sstables{level=0}"], got["reprise_pebble_sstable_bytes{level=0}"])
	}
	if got["reprise_pebble_read_amplification"] < 1 {
		t.Errorf("read amplification %v, want >= 1 with an L0 table", got["reprise_pebble_read_amplification"])
	}
	closed = true
	got = values(t, m)
	if got["reprise_pebble_open"] != 0 {
		t.Errorf("reprise_pebble_open = %v after close, want 0", got["reprise_pebble_open"])
	}
	if _, ok := got["reprise_pebble_disk_usage_bytes"]; ok {
		t.Error("a closed store still reports its disk usage")
	}
}

// clock is a settable clock for the age gauges.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// toggleDepth is a provider whose QueueDepth fails while fail is set.
type toggleDepth struct {
	provider.Provider
	fail *bool
}

func (s toggleDepth) QueueDepth(ctx context.Context, queue string) (int, error) {
	if *s.fail {
		return 0, errors.New("cluster degraded")
	}
	return s.Provider.QueueDepth(ctx, queue)
}

// A depth that cannot be read keeps its last value, and the age gauge says
// how old it is; a fresh read resets the age to 0.
func TestQueueDepthKeepsTheLastValueWithItsAge(t *testing.T) {
	fail := false
	p := toggleDepth{Provider: newMemory(t), fail: &fail}
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	q := runtime.DefaultActivityQueue
	m := metrics.New(metrics.Options{Provider: p, Queues: []string{q}, Now: clk.now})
	if err := p.Send(context.Background(), provider.Outgoing{Queue: q, Message: provider.Message{ID: "1", Entity: "e", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	depth, age := "reprise_queue_depth{queue="+q+"}", "reprise_queue_depth_age_seconds{queue="+q+"}"
	if got := values(t, m); got[depth] != 1 || got[age] != 0 {
		t.Fatalf("fresh read: depth %v age %v, want 1 and 0", got[depth], got[age])
	}
	fail = true
	clk.t = clk.t.Add(90 * time.Second)
	got := values(t, m)
	if v, ok := got[depth]; !ok || v != 1 {
		t.Fatalf("failed read: depth %v (present %v), want the last value 1", v, ok)
	}
	if got[age] != 90 {
		t.Fatalf("failed read: age %v, want 90", got[age])
	}
	fail = false
	if got := values(t, m); got[age] != 0 {
		t.Fatalf("read again: age %v, want 0", got[age])
	}
}

// fixedBacklog reports every shard with 2 pending messages, the oldest
// stored at oldestAt (zero: none pending).
type fixedBacklog struct {
	oldestAt time.Time
	fail     *bool
}

func (f fixedBacklog) ShardBacklog(_ context.Context, _ string, _ int) (int, time.Time, error) {
	if f.fail != nil && *f.fail {
		return 0, time.Time{}, errors.New("no quorum")
	}
	if f.oldestAt.IsZero() {
		return 0, time.Time{}, nil
	}
	return 2, f.oldestAt, nil
}

func TestShardGauges(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	fail := false
	m := metrics.New(metrics.Options{Now: clk.now})
	q := runtime.DefaultOrchestratorQueue
	m.WatchShards(metrics.ShardOptions{Reader: fixedBacklog{oldestAt: clk.t.Add(-30 * time.Second), fail: &fail},
		Shards: 4, Owned: []int{1, 3}, Owner: 1, Queues: []string{q}})
	got := values(t, m)
	want := map[string]float64{
		"reprise_shards":                                          4,
		"reprise_shard_owner{shard=1}":                            1,
		"reprise_shard_owner{shard=3}":                            1,
		"reprise_shard_pending_messages{queue=" + q + ",shard=1}": 2,
		"reprise_shard_lag_seconds{queue=" + q + ",shard=3}":      30,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got["reprise_shard_owner{shard=0}"]; ok {
		t.Error("a shard this process does not own has an owner series")
	}
	// A read that fails keeps the last reading, and the lag keeps growing
	// from the oldest message then seen: a stuck shard stays visible.
	fail = true
	clk.t = clk.t.Add(time.Minute)
	if got := values(t, m)["reprise_shard_lag_seconds{queue="+q+",shard=1}"]; got != 90 {
		t.Errorf("lag after a failed read %v, want 90", got)
	}
	// An empty shard has lag 0.
	m2 := metrics.New(metrics.Options{Now: clk.now})
	m2.WatchShards(metrics.ShardOptions{Reader: fixedBacklog{}, Shards: 1, Owned: []int{0}, Queues: []string{q}})
	if got := values(t, m2); got["reprise_shard_lag_seconds{queue="+q+",shard=0}"] != 0 || got["reprise_shard_pending_messages{queue="+q+",shard=0}"] != 0 {
		t.Errorf("empty shard: %v", got)
	}
}

// Preset creates every known series at zero before the first event.
func TestPresetCreatesZeroSeries(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.Preset(metrics.Known{Orchestrations: []string{"hello"}, Activities: []string{"greet"},
		Queues: []string{"orchestrator", "activities"}, APIVerbs: []string{"start"}, APICodes: []string{"ok"},
		APIBadReasons: []string{"bad_request"}})
	got := values(t, m)
	for _, k := range []string{
		"reprise_orchestrations_started_total{name=hello}",
		"reprise_orchestrations_finished_total{name=hello,status=Completed}",
		"reprise_orchestrations_finished_total{name=hello,status=Failed}",
		"reprise_orchestrations_finished_total{name=hello,status=Terminated}",
		"reprise_orchestration_replayed_events_total{name=hello}",
		"reprise_poison_messages_total{queue=orchestrator}",
		"reprise_dead_lettered_total{queue=activities}",
		"reprise_redeliveries_total{queue=activities}",
		"reprise_api_requests_total{code=ok,verb=start}",
		"reprise_api_bad_requests_total{reason=bad_request}",
	} {
		if v, ok := got[k]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want a 0 series", k, v, ok)
		}
	}
	fams := repriseFamilies(t, m)
	if n := len(fams["reprise_activity_execution_seconds"].GetMetric()); n != 4 {
		t.Errorf("activity execution histogram: %d series, want one per outcome (4)", n)
	}
}

// fixedStorage is a storage reading of two shards, one with a snapshot.
func fixedStorage(context.Context) (metrics.StorageReading, error) {
	return metrics.StorageReading{LogBytes: 1000, LogMessages: 10, SnapshotBytes: 300, Shards: []metrics.ShardStorageReading{
		{Shard: 1, TailRecords: 4, TailBytes: 400},
		{Shard: 3, TailRecords: 2, TailBytes: 200, SnapshotBytes: 300, SnapshotTaken: time.Unix(1000, 0)},
	}}, nil
}

func TestStorageGauges(t *testing.T) {
	c := &clock{t: time.Unix(1060, 0)}
	fail := false
	m := metrics.New(metrics.Options{Now: c.now})
	m.WatchStorage(func(ctx context.Context) (metrics.StorageReading, error) {
		if fail {
			return metrics.StorageReading{}, errors.New("no server")
		}
		return fixedStorage(ctx)
	})
	for range 2 {
		got := values(t, m)
		for key, want := range map[string]float64{
			"reprise_log_bytes": 1000, "reprise_log_messages": 10, "reprise_snapshot_stream_bytes": 300,
			"reprise_shard_log_tail_records{shard=1}": 4, "reprise_shard_log_tail_bytes{shard=3}": 200,
			"reprise_shard_snapshot_bytes{shard=1}": 0, "reprise_shard_snapshot_bytes{shard=3}": 300,
			"reprise_shard_snapshot_age_seconds{shard=3}": 60,
		} {
			if got[key] != want {
				t.Errorf("%s = %v, want %v", key, got[key], want)
			}
		}
		if _, ok := got["reprise_shard_snapshot_age_seconds{shard=1}"]; ok {
			t.Error("a shard without a snapshot reports a snapshot age")
		}
		// A failed read reports the last reading.
		fail = true
	}
}
