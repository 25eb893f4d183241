// Package jstest is the JetStream test rig for tests outside
// provider/jetstream: an embedded NATS server with JetStream for one test,
// and a provider/jetstream provider over it on a fresh Pebble store, each
// released when the test ends. (provider/jetstream's own tests keep a rig
// of their own: a test of that package cannot import a package that
// imports it.)
//
// It owns set-up and tear-down only; it must not know what the streams
// hold.
package jstest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/jetstream"
	"github.com/reprise/reprise/provider/pebble"
)

// openTimeout bounds opening one provider (stream creation and recovery).
const openTimeout = 30 * time.Second

// Server starts an embedded server with its store in a temporary directory
// and shuts it down when the test ends (after the cleanups registered later,
// such as those of the providers on it).
func Server(t testing.TB) *natsembed.Server {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// Connect opens a NATS connection to url with the provider's connection
// options, closed when the test ends.
func Connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, jetstream.ConnectOptions()...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Provider opens a JetStream provider on url with opts over a Pebble store
// in a temporary directory (logging to logger), all closed when the test
// ends.
func Provider(t testing.TB, url string, topo provider.Topology, opts jetstream.Options, logger *slog.Logger) *jetstream.Provider {
	t.Helper()
	nc := Connect(t, url)
	st, err := pebble.Open(pebble.Options{Dir: t.TempDir(), IndexedKeys: topo.IndexedKeys, Logger: logger})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	if opts.Logger == nil {
		opts.Logger = logger
	}
	p, err := jetstream.New(ctx, nc, st, topo, opts)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
