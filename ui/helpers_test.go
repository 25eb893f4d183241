package ui_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/examples"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
	"github.com/reprise/reprise/services/host/hosttest"
)

// testTimeout bounds one test's requests; a test that reaches it hung.
const testTimeout = 2 * time.Minute

// node is a real orchestrator in embedded mode (NATS with JetStream,
// Pebble, worker, subject API) serving the UI, with the examples and any
// extra orchestrations registered.
type node struct {
	*host.Node
	client *client.Client
	nc     *nats.Conn
	// url is the UI's base URL.
	url string
}

func startNode(t testing.TB, edit func(*host.Config), register ...func(*runtime.Registry) error) *node {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := examples.RegisterAll(reg); err != nil {
		t.Fatal(err)
	}
	for _, r := range register {
		if err := r(reg); err != nil {
			t.Fatal(err)
		}
	}
	n := hosttest.Start(t, reg, hosttest.Shards(4), func(c *host.Config) { c.UIAddr = "127.0.0.1:0" }, edit)
	out := &node{Node: n.Node, client: n.Client, nc: n.NC}
	if a := n.UIAddr(); a != "" {
		out.url = "http://" + a + "/"
	}
	return out
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// run starts name as id with input and returns once it finished.
func (n *node) run(t testing.TB, name, id string, input any) *client.InstanceStatus {
	t.Helper()
	ctx := testContext(t)
	n.start(t, name, id, input)
	st, err := n.client.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait for %s: %v", id, err)
	}
	return st
}

// start starts name as id with input.
func (n *node) start(t testing.TB, name, id string, input any) {
	t.Helper()
	if _, err := n.client.Start(testContext(t), name, input, client.WithID(id)); err != nil {
		t.Fatalf("start %s as %s: %v", name, id, err)
	}
}

// awaitStatus returns once id has the status want, watching its
// notifications (subscribed before each read, so no change is missed).
func (n *node) awaitStatus(t testing.TB, id string, want client.Status) {
	t.Helper()
	ctx := testContext(t)
	ch := make(chan *nats.Msg, 64)
	sub, err := n.nc.ChanSubscribe(notifySubject(id), ch)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	for {
		st, err := n.client.Status(ctx, id)
		if err == nil && st.Status == want {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%s never reached %s (last %v, %v)", id, want, st, err)
		}
	}
}
