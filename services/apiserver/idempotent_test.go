package apiserver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/provider/jetstream"
	"github.com/reprise/reprise/provider/pebble"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
	"github.com/reprise/reprise/services/apiserver"
)

// dupWindow is the work stream's duplicate window in these tests: short,
// so that a retry can come after it.
const dupWindow = time.Second

// node is one orchestrator process over an embedded NATS server: the
// JetStream provider (with the short duplicate window), its Pebble store,
// the runtime worker and the API server.
type node struct {
	srv    *natsembed.Server
	nc     *nats.Conn
	store  *pebble.Store
	prov   *jetstream.Provider
	worker *worker.Worker
	api    *apiserver.Server
}

// pings waits for "ping" events forever, counting them in its custom
// status.
func pingsRegistry(t *testing.T) *runtime.Registry {
	reg := runtime.NewRegistry()
	err := runtime.RegisterOrchestration(reg, "pings", func(ctx *runtime.OrchestrationContext, _ any) (int, error) {
		for n := 1; ; n++ {
			var p string
			if err := ctx.WaitForEvent("ping").Await(&p); err != nil {
				return n, err
			}
			if err := ctx.SetCustomStatus(n); err != nil {
				return n, err
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// startNode starts a node whose NATS server keeps its store in natsDir
// (listening on addr when not empty: a restart keeps the address) and
// whose Pebble store is in pebbleDir.
func startNode(t *testing.T, natsDir, pebbleDir string, port int) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n := &node{}
	var err error
	if n.srv, err = natsembed.Start(natsembed.Options{StoreDir: natsDir, Port: port}); err != nil {
		t.Fatal(err)
	}
	if n.nc, err = nats.Connect(n.srv.ClientURL()); err != nil {
		t.Fatal(err)
	}
	topo := runtime.Topology(runtime.WithLockTimeout(2 * time.Second))
	if n.store, err = pebble.Open(pebble.Options{Dir: pebbleDir, IndexedKeys: topo.IndexedKeys, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if n.prov, err = jetstream.New(ctx, n.nc, n.store, topo, jetstream.Options{DuplicateWindow: dupWindow, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	rc := control.New(n.prov, control.Options{})
	if n.worker, err = worker.New(n.prov, pingsRegistry(t), worker.Options{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if n.api, err = apiserver.New(n.nc, rc, apiserver.Options{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if err := n.worker.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.api.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// crash ends the node as a crash would: its NATS connection and server
// die first, so nothing more reaches JetStream (no acks, no saved
// progress); only then are the in-process parts released.
func (n *node) crash() {
	n.nc.Close()
	n.srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.api.Stop(ctx)
	_ = n.worker.Stop(ctx)
	_ = n.prov.Close()
	_ = n.store.Close()
}

// stop ends the node for the test's cleanup.
func (n *node) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.api.Stop(ctx)
	_ = n.worker.Stop(ctx)
	_ = n.prov.Close()
	n.nc.Close()
	_ = n.store.Close()
	n.srv.Shutdown()
}

// request sends a raw subject-API request and returns the reply's error.
func request(t *testing.T, nc *nats.Conn, verb api.Verb, body string, out any) error {
	t.Helper()
	m, err := nc.Request(api.Subject(api.DefaultPrefix, verb), []byte(body), 20*time.Second)
	if err != nil {
		t.Fatalf("%s %s: %v", verb, body, err)
	}
	return api.DecodeReply(m.Data, out)
}

// eventually polls cond until it holds, failing the test after 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// history returns the events of id's current execution, every page.
func history(t *testing.T, nc *nats.Conn, id string) []api.HistoryEvent {
	t.Helper()
	evs, err := client.New(nc).History(context.Background(), id)
	if err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	return evs
}

// count returns how many events of kind (and name, when not empty) the
// history holds, and their data in order.
func count(evs []api.HistoryEvent, kind, name string) (int, []string) {
	n, data := 0, []string(nil)
	for _, e := range evs {
		if e.Kind == kind && (name == "" || e.Name == name) {
			n++
			data = append(data, string(e.Data))
		}
	}
	return n, data
}

// workLastSeq is the last sequence of the work stream: it grows by one for
// every message JetStream stores, and not for a publish it drops as a
// duplicate within its window.
func workLastSeq(t *testing.T, nc *nats.Conn) uint64 {
	t.Helper()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), api.DefaultPrefix+"_work")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

func raise(t *testing.T, nc *nats.Conn, id, requestID, payload string) {
	t.Helper()
	if err := request(t, nc, api.VerbRaise, fmt.Sprintf(`{"id":%q,"event":"ping","payload":%q,"request_id":%q}`, id, payload, requestID), nil); err != nil {
		t.Fatalf("raise %s: %v", requestID, err)
	}
}

// pingsRecorded awaits n recorded pings (the custom status counts them).
func pingsRecorded(t *testing.T, nc *nats.Conn, id string, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s recorded %d pings", id, n), func() bool {
		var st api.InstanceStatus
		err := request(t, nc, api.VerbStatus, fmt.Sprintf(`{"id":%q}`, id), &st)
		return err == nil && string(st.CustomStatus) == fmt.Sprint(n)
	})
}

// TestRetriedRequestsAreRecordedOnce: a raise or terminate sent again with
// its request id is recorded once — within JetStream's duplicate window (the
// publish is dropped), after it (the publish is stored, and the instance's
// consumed-message records drop it), and after a crash of the node and its
// NATS server, with the Pebble store kept or lost.
func TestRetriedRequestsAreRecordedOnce(t *testing.T) {
	natsDir, pebbleDir := t.TempDir(), filepath.Join(t.TempDir(), "pebble")
	n := startNode(t, natsDir, pebbleDir, 0)
	url := n.srv.ClientURL()
	nc := n.nc
	const id = "idem-1"
	if err := request(t, nc, api.VerbStart, `{"name":"pings","id":"idem-1"}`, nil); err != nil {
		t.Fatal(err)
	}

	// Within the window: JetStream drops the second publish.
	raise(t, nc, id, "r-1", "one")
	pingsRecorded(t, nc, id, 1)
	seq := workLastSeq(t, nc)
	raise(t, nc, id, "r-1", "one")
	if got := workLastSeq(t, nc); got != seq {
		t.Fatalf("a retry within the duplicate window was stored (work stream %d -> %d)", seq, got)
	}

	// Past the window: the publish is stored and must be dropped by the
	// consumed-id record of the instance. A new request after it is the
	// barrier: once it is recorded, the retry before it was handled.
	time.Sleep(dupWindow + 500*time.Millisecond) // past the shortened window
	seq = workLastSeq(t, nc)
	raise(t, nc, id, "r-1", "one")
	if got := workLastSeq(t, nc); got != seq+1 {
		t.Fatalf("the retry past the duplicate window was not stored (work stream %d -> %d): the window did not lapse", seq, got)
	}
	raise(t, nc, id, "r-2", "two")
	pingsRecorded(t, nc, id, 2)

	// A crash, then a restart on the same NATS and Pebble directories.
	n.crash()
	n = startNode(t, natsDir, pebbleDir, portOf(t, url))
	nc = n.nc
	raise(t, nc, id, "r-1", "one")
	raise(t, nc, id, "r-2", "two")
	raise(t, nc, id, "r-3", "three")
	pingsRecorded(t, nc, id, 3)
	if k, data := count(history(t, nc, id), "EventRaised", "ping"); k != 3 || fmt.Sprint(data) != `["one" "two" "three"]` {
		t.Fatalf("history records %d pings %v, want one, two, three once each", k, data)
	}

	// Terminate, retried past the window, after a crash that also loses
	// the Pebble store (rebuilt from the log on start).
	if err := request(t, nc, api.VerbTerminate, `{"id":"idem-1","reason":"first","request_id":"t-1"}`, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(nc).Wait(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(dupWindow + 500*time.Millisecond) // past the shortened window
	n.crash()
	pebbleDir = filepath.Join(t.TempDir(), "pebble-rebuilt")
	n = startNode(t, natsDir, pebbleDir, portOf(t, url))
	t.Cleanup(n.stop)
	nc = n.nc
	for range 2 {
		if err := request(t, nc, api.VerbTerminate, `{"id":"idem-1","reason":"first","request_id":"t-1"}`, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Barrier: an event sent after the retries; once the entity queue is
	// empty, both were handled.
	raise(t, nc, id, "r-4", "four")
	eventually(t, "the orchestrator queue is empty", func() bool {
		d, err := n.prov.QueueDepth(context.Background(), runtime.DefaultOrchestratorQueue)
		return err == nil && d == 0
	})
	evs := history(t, nc, id)
	if k, _ := count(evs, "ExecutionTerminated", ""); k != 1 {
		t.Fatalf("history records %d terminations, want 1: %+v", k, evs)
	}
	if k, data := count(evs, "EventRaised", "ping"); k != 3 {
		t.Fatalf("history records %d pings %v after the restart, want the 3 from before", k, data)
	}
}

// portOf is the port of a NATS URL.
func portOf(t *testing.T, url string) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(url[len("nats://127.0.0.1:"):], "%d", &port); err != nil {
		t.Fatalf("port of %s: %v", url, err)
	}
	return port
}
