package runtimetest_test

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprise/reprise/internal/jstest"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/jetstream"
	"github.com/reprise/reprise/runtime/runtimetest"
)

// eternalIterations reads REPRISE_ETERNAL_ITERATIONS (make eternal sets
// 10000); the default is the suite's shorter CI run.
func eternalIterations(t *testing.T) []runtimetest.RetentionOption {
	v := os.Getenv("REPRISE_ETERNAL_ITERATIONS")
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("REPRISE_ETERNAL_ITERATIONS=%q: want a positive number", v)
	}
	return []runtimetest.RetentionOption{runtimetest.WithEternalIterations(n)}
}

// TestRetentionOnJetStream runs the retention tests on provider/jetstream
// with the windows shortened: a 1 s duplicate window (a start of an expired
// id reuses its first start's message id, which the server drops within the
// window), a 2 s retention and expiry sweeps every 100 ms.
func TestRetentionOnJetStream(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS server: skipped in -short")
	}
	srv := jstest.Server(t)
	url := srv.ClientURL()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var prefixes atomic.Int64
	opts := append([]runtimetest.RetentionOption{runtimetest.WithRetention(2 * time.Second)}, eternalIterations(t)...)
	runtimetest.RunRetention(t, func(t *testing.T, topo provider.Topology) provider.Provider {
		return jstest.Provider(t, url, topo, jetstream.Options{
			Prefix:          fmt.Sprintf("ret%d", prefixes.Add(1)),
			Shards:          4,
			DuplicateWindow: time.Second,
			ExpiryInterval:  100 * time.Millisecond,
		}, logger)
	}, opts...)
}
