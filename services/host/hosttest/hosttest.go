// Package hosttest starts the real orchestrator service in embedded mode
// (package services/host: NATS with JetStream, Pebble, worker, subject API)
// for a test, connects a NATS client and a Go client to it, and stops both
// when the test ends. It is the one harness every test that needs a running
// node uses, as net/http/httptest is for HTTP servers.
//
// It knows the service only through host.Start and host.Config; it must not
// reach into the node's internals.
package hosttest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// startTimeout bounds the node's start-up (recovery included); stopTimeout
// its drain at the end of the test.
const (
	startTimeout = time.Minute
	stopTimeout  = 30 * time.Second
)

// Node is a running orchestrator with a plain NATS connection and a Go
// client on it.
type Node struct {
	*host.Node
	// NC is a NATS connection to the node's embedded server.
	NC *nats.Conn
	// Client is a Go client on NC.
	Client *client.Client
}

// Config is the configuration Start begins from: a temporary data
// directory, NATS on a free loopback port, no metrics or UI listener, warnings
// and errors logged to the test's output, and a 10-second drain. Edits run
// on it in order.
func Config(t testing.TB) host.Config {
	return host.Config{
		DataDir:      t.TempDir(),
		NATSListen:   "127.0.0.1:0",
		MetricsAddr:  "off",
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		DrainTimeout: 10 * time.Second,
	}
}

// Start starts an orchestrator with reg registered and the configuration
// [Config] changed by edits, connects to it, and stops it (failing the test
// if the drain fails) and closes the connection when the test ends. It
// fails the test if the node does not start.
func Start(t testing.TB, reg *runtime.Registry, edits ...func(*host.Config)) *Node {
	t.Helper()
	cfg := Config(t)
	for _, edit := range edits {
		if edit != nil {
			edit(&cfg)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	n, err := host.Start(ctx, host.Orchestrator, cfg, reg)
	if err != nil {
		t.Fatalf("start orchestrator: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop orchestrator: %v", err)
		}
	})
	nc, err := nats.Connect(n.NATSURL())
	if err != nil {
		t.Fatalf("connect to the orchestrator: %v", err)
	}
	t.Cleanup(nc.Close)
	return &Node{Node: n, NC: nc, Client: client.New(nc)}
}

// Shards returns an edit that sets the number of shards.
func Shards(n int) func(*host.Config) {
	return func(c *host.Config) { c.Shards = n }
}
