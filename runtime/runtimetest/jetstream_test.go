package runtimetest_test

import (
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprise/reprise/internal/groupsync"
	"github.com/reprise/reprise/internal/jstest"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/jetstream"
	"github.com/reprise/reprise/runtime/runtimetest"
)

// jetStreamFanOut is the width of the fan-out test on JetStream. The full
// 10,000 is run with REPRISE_JETSTREAM_FANOUT=10000 (which also allows each
// wait 10 minutes); the default keeps the suite's wall time reasonable under
// -race, where activity tasks, fetched one pull request at a time, take
// milliseconds each.
const jetStreamFanOut = 1_000

// TestSuiteOnJetStream runs the runtime suite on provider/jetstream: one
// embedded server shared by every test, each provider under its own prefix
// with its own Pebble store.
func TestSuiteOnJetStream(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS server: skipped in -short")
	}
	srv := jstest.Server(t)
	url := srv.ClientURL()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var prefixes atomic.Int64
	opts := []runtimetest.Option{runtimetest.WithFanOut(jetStreamFanOut)}
	if v := os.Getenv("REPRISE_JETSTREAM_FANOUT"); v != "" {
		var fanOut int
		if _, err := fmt.Sscan(v, &fanOut); err != nil {
			t.Fatalf("REPRISE_JETSTREAM_FANOUT=%q: %v", v, err)
		}
		opts = []runtimetest.Option{runtimetest.WithFanOut(fanOut), runtimetest.WithWaitTimeout(10 * time.Minute)}
	}
	runtimetest.Run(t, func(t *testing.T, topo provider.Topology) provider.Provider {
		return jstest.Provider(t, url, topo, jetstream.Options{
			Prefix: fmt.Sprintf("rt%d", prefixes.Add(1)),
			Shards: 4,
		}, logger)
	}, opts...)
}

// TestSuiteOnJetStreamDurable runs the runtime suite on provider/jetstream
// in the durable mode (group commit, as -fsync): every commit's wait for its
// flush runs off the worker's loop (provider.DeferredCommitter), and every
// behaviour must stay the same.
func TestSuiteOnJetStreamDurable(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS server: skipped in -short")
	}
	srv := jstest.Server(t)
	url := srv.ClientURL()
	syncer, err := groupsync.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syncer.Close() })
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var prefixes atomic.Int64
	runtimetest.Run(t, func(t *testing.T, topo provider.Topology) provider.Provider {
		return jstest.Provider(t, url, topo, jetstream.Options{
			Prefix:  fmt.Sprintf("rd%d", prefixes.Add(1)),
			Shards:  4,
			Durable: syncer,
		}, logger)
	}, runtimetest.WithFanOut(jetStreamFanOut))
	if syncer.Flushes() == 0 {
		t.Fatal("no flush in the whole suite")
	}
}
