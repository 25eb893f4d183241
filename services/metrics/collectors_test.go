package metrics_test

import (
	"context"
	"fmt"
	"testing"

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
