package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/provider/jetstream"
	"github.com/reprise/reprise/services/host"
)

// logLines is a slog handler's output, with a channel told of every write.
type logLines struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{}
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return l.b.Write(p)
}

func (l *logLines) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestOnlyOrchestratorsAdministerStreams runs the services on a real
// three-server JetStream cluster with R3 streams:
//   - a worker started before any orchestrator waits for the streams and
//     the activity consumer (it never creates them), then works;
//   - an orchestrator or a worker started with REPRISE_REPLICAS=1 refuses
//     to start, naming the setting, and the streams stay R3;
//   - a worker whose lock timeout differs from the orchestrators' refuses
//     to start, naming the consumer's ack wait.
func TestOnlyOrchestratorsAdministerStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("3-server cluster: skipped in -short")
	}
	cluster, err := natsembed.StartCluster("agree", 3, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Shutdown)
	url := cluster.ClientURLs()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	awaitR3Placement(ctx, t, url)
	quiet := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	base := func(edit func(*host.Config)) host.Config {
		c := host.Config{NATSURL: url, Replicas: 3, MetricsAddr: "127.0.0.1:0", DataDir: t.TempDir(),
			Logger: quiet, DrainTimeout: 10 * time.Second}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	stop := func(n *host.Node) {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := n.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}

	// A worker first: it waits, saying so, for an orchestrator.
	logs := &logLines{wrote: make(chan struct{}, 1)}
	type started struct {
		n   *host.Node
		err error
	}
	workerDone := make(chan started, 1)
	go func() {
		n, err := host.Start(ctx, host.Worker, base(func(c *host.Config) {
			c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		}), testOrchestrations(t))
		workerDone <- started{n, err}
	}()
	for !strings.Contains(logs.String(), "waiting for a process that administers the streams") {
		select {
		case <-logs.wrote:
		case r := <-workerDone:
			t.Fatalf("the worker started (%v) before any orchestrator created the streams; logs:\n%s", r.err, logs)
		case <-ctx.Done():
			t.Fatalf("the worker never said it waits; logs:\n%s", logs)
		}
	}
	orch, err := host.Start(ctx, host.Orchestrator, base(nil), testOrchestrations(t))
	if err != nil {
		t.Fatal(err)
	}
	stop(orch)
	r := <-workerDone
	if r.err != nil {
		t.Fatalf("worker after the orchestrator created the streams: %v", r.err)
	}
	stop(r.n)

	// It works: the orchestrator runs no activities, the worker does.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ok(t, nc, api.VerbStart, `{"name":"twice","id":"r3","input":5}`, nil)
	// R3 on a loaded machine: wait longer than waitTerminal does.
	reply, err := nc.Request(api.Subject(api.DefaultPrefix, api.VerbWait), []byte(`{"id":"r3","timeout_ms":60000}`), 70*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st api.InstanceStatus
	if err := json.Unmarshal(reply.Data, &st); err != nil || !st.Status.IsTerminal() {
		t.Fatalf("wait for r3: %s (%v)", reply.Data, err)
	}
	if string(st.Output) != "20" {
		t.Fatalf("twice(5) on R3 streams = %s %s", st.Output, st.Error)
	}

	// REPRISE_REPLICAS=1 cannot shrink the streams, from any process: an
	// orchestrator sharing shards by leases is refused by the cluster's
	// recorded settings; one with pinned shards, and a worker, by the
	// streams' settings.
	for _, c := range []struct {
		what string
		role host.Role
		edit func(*host.Config)
		want string
	}{
		{"orchestrator (leases)", host.Orchestrator, nil, "replicas is 3 in the cluster, 1 here"},
		{"orchestrator (pinned shards)", host.Orchestrator, func(c *host.Config) { c.OwnedShards = []int{0} },
			"stream reprise_log: replicas is 3 on the server, 1 in this process's settings"},
		{"worker", host.Worker, nil, "stream reprise_log: replicas is 3 on the server, 1 in this process's settings"},
	} {
		_, err := host.Start(ctx, c.role, base(func(cfg *host.Config) {
			cfg.Replicas = 1
			if c.edit != nil {
				c.edit(cfg)
			}
		}), testOrchestrations(t))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s with 1 replica against R3 streams: %v, want a refusal with %q", c.what, err, c.want)
		}
		if c.role == host.Worker || c.edit != nil {
			if !errors.Is(err, jetstream.ErrStreamMismatch) {
				t.Fatalf("%s: %v, want ErrStreamMismatch", c.what, err)
			}
		}
		t.Logf("%s with REPRISE_REPLICAS=1 refused: %v", c.what, err)
	}
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"reprise_log", "reprise_work", api.SubmitStream(api.DefaultPrefix), api.DeadLetterStream(api.DefaultPrefix)} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("stream %s has %d replicas after the refused starts, want 3", name, got)
		}
	}

	// A worker with another lock timeout refuses, naming the setting; the
	// shared consumer keeps the orchestrators' ack wait.
	_, err = host.Start(ctx, host.Worker, base(func(c *host.Config) { c.LockTimeout = 10 * time.Second }), testOrchestrations(t))
	if !errors.Is(err, jetstream.ErrStreamMismatch) ||
		!strings.Contains(err.Error(), "consumer reprise_w_activities: ack wait (the lock timeout) is 30s on the server, 10s in this process's settings") {
		t.Fatalf("worker with a 10s lock timeout: %v, want ErrStreamMismatch naming the ack wait", err)
	}
	t.Logf("worker with REPRISE_LOCK_TIMEOUT=10s refused: %v", err)
	s, err := js.Stream(ctx, "reprise_work")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Consumer(ctx, "reprise_w_activities")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().Config.AckWait; got != host.DefaultLockTimeout {
		t.Fatalf("activity consumer's ack wait is %s after the refused worker, want %s", got, host.DefaultLockTimeout)
	}
}

// awaitR3Placement waits until the cluster places a three-replica stream:
// a cluster whose meta leader is elected may not know every peer yet ("no
// suitable peers for placement"). There is no event to await from outside.
func awaitR3Placement(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for {
		try, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.CreateStream(try, natsjs.StreamConfig{Name: "placement_probe", Subjects: []string{"placement.probe"}, Replicas: 3})
		cancel()
		if err == nil {
			if err := js.DeleteStream(ctx, "placement_probe"); err != nil {
				t.Fatal(err)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the cluster never placed an R3 stream: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
