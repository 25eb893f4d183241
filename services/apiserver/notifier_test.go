package apiserver

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/internal/jstest"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
)

// change is the StatusChange of instance id entering status in partition 0.
func change(id string, status runtime.Status) runtime.StatusChange {
	return runtime.StatusChange{ID: id, Name: "hello", Status: status, Metadata: provider.Metadata{
		runtime.MetaStatus: string(status), runtime.MetaName: "hello", runtime.MetaPartition: "0",
	}}
}

// TestNotifierPublishesOnlyTheLatestQueuedStatusOfAnInstance queues, before
// the publisher runs, a's Running, b's Running and a's Completed (two turns
// of a made durable by one flush): the publisher publishes b's Running and
// a's Completed, in that order, and not a's stale Running.
func TestNotifierPublishesOnlyTheLatestQueuedStatusOfAnInstance(t *testing.T) {
	srv := jstest.Server(t)
	nc := jstest.Connect(t, srv.ClientURL())
	watcher := jstest.Connect(t, srv.ClientURL())
	sub, err := watcher.SubscribeSync(api.NotifyWildcard(api.DefaultPrefix))
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	p, err := memory.New(runtime.Topology())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	n := NewNotifier(nc, control.New(p, control.Options{}), "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	n.OnStatusChange(change("a", runtime.StatusRunning))
	n.OnStatusChange(change("b", runtime.StatusRunning))
	n.OnStatusChange(change("a", runtime.StatusCompleted))
	n.Start()
	if err := n.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{"b Running", "a Completed"}
	for i, w := range want {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("notification %d (want %s): %v", i, w, err)
		}
		var st api.InstanceStatus
		if err := json.Unmarshal(m.Data, &st); err != nil {
			t.Fatal(err)
		}
		if got := st.ID + " " + string(st.Status); got != w {
			t.Fatalf("notification %d is %q, want %q (every notification in order: %v)", i, got, w, want)
		}
	}
	// Nothing after them: every notification was routed to the watcher
	// before its flush's reply (nc's flush came back first).
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	if msgs, _, err := sub.Pending(); err != nil || msgs != 0 {
		t.Fatalf("%d more notifications (%v), want none", msgs, err)
	}
}
