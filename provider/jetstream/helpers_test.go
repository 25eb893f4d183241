package jetstream

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/pebble"
)

// sharedURL is the client URL of the server that tests share (each provider
// under its own prefix); set by TestMain.
var sharedURL string

var prefixes atomic.Int64

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jetstream-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := natsembed.Start(natsembed.Options{StoreDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedURL = srv.ClientURL()
	code := m.Run()
	srv.Shutdown()
	os.RemoveAll(dir)
	os.Exit(code)
}

// uniquePrefix names one provider's streams apart from every other test's.
func uniquePrefix() string { return fmt.Sprintf("t%d", prefixes.Add(1)) }

// connect opens a NATS connection closed at the end of the test.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, ConnectOptions()...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// openStore opens a Pebble store in dir, closed at the end of the test.
func openStore(t testing.TB, dir string, topo provider.Topology) *pebble.Store {
	t.Helper()
	st, err := pebble.Open(pebble.Options{Dir: dir, IndexedKeys: topo.IndexedKeys, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// rig is one provider instance with its connection and store.
type rig struct {
	p     *Provider
	nc    *nats.Conn
	store *pebble.Store
	dir   string
	url   string
	topo  provider.Topology
	opts  Options
}

// newRig builds a provider on url with a fresh store; opts.Prefix is made
// unique when empty.
func newRig(t testing.TB, url string, topo provider.Topology, opts Options) *rig {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = uniquePrefix()
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	r := &rig{dir: t.TempDir(), url: url, topo: topo, opts: opts}
	r.start(t)
	return r
}

// start opens connection, store and provider over the rig's directory.
func (r *rig) start(t testing.TB) {
	t.Helper()
	r.nc = connect(t, r.url)
	r.store = openStore(t, r.dir, r.topo)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, r.nc, r.store, r.topo, r.opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	r.p = p
}

// crash stops the provider as a crash would (no acks, no naks), and closes
// its store and connection.
func (r *rig) crash() {
	r.p.Close()
	r.store.Close()
	r.nc.Close()
}

// stopPulling stops every shard's entity-queue subscriptions, as if the
// process froze, without releasing anything.
func (p *Provider) stopPulling() {
	p.ownMu.Lock()
	defer p.ownMu.Unlock()
	for _, sh := range p.ownedStates() {
		stopConsumes(p, sh.consumes)
		sh.consumes = nil
	}
}

// awaitStreamLeaders waits until the rig's streams have a leader and every
// replica is current: a stream just created on a just formed cluster may
// answer its first publishes with "no response from stream" meanwhile.
func (r *rig) awaitStreamLeaders(t testing.TB) {
	t.Helper()
	js, err := natsjs.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range []string{r.p.names.logStream(), r.p.names.workStream(), r.p.names.snapStream()} {
		for {
			s, err := js.Stream(ctx, name)
			if err == nil {
				info, ierr := s.Info(ctx)
				if ierr == nil && streamReady(info) {
					break
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("stream %s has no leader with current replicas: %v", name, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

func streamReady(info *natsjs.StreamInfo) bool {
	if info.Cluster == nil {
		return true // not clustered
	}
	if info.Cluster.Leader == "" {
		return false
	}
	for _, p := range info.Cluster.Replicas {
		if !p.Current {
			return false
		}
	}
	return true
}
