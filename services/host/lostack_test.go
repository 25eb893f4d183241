package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
)

// lostStartAck sends starts for real, but reports the first one's
// acknowledgement lost, as a publish whose acknowledgement timed out does.
type lostStartAck struct {
	provider.Provider
	lost atomic.Bool
}

func (l *lostStartAck) Unwrap() provider.Provider { return l.Provider }

func (l *lostStartAck) SendNew(ctx context.Context, o provider.Outgoing) (bool, error) {
	d, ok := provider.As[provider.DedupSender](l.Provider)
	if !ok {
		return false, errors.New("the provider sends no deduplicated messages")
	}
	enqueued, err := d.SendNew(ctx, o)
	if err == nil && l.lost.CompareAndSwap(false, true) {
		return false, fmt.Errorf("publish start: %w", nats.ErrTimeout)
	}
	return enqueued, err
}

// TestStartWithALostAcknowledgement: a start whose message was stored but
// whose acknowledgement was lost answers timeout, not unavailable, which
// would tell the client that nothing was done: the Go client's retry would
// then find the instance "already exists". The instance runs.
func TestStartWithALostAcknowledgement(t *testing.T) {
	reg := runtime.NewRegistry()
	if err := runtime.RegisterOrchestration(reg, "echo", func(_ *runtime.OrchestrationContext, in string) (string, error) {
		return in, nil
	}); err != nil {
		t.Fatal(err)
	}
	wrap := &lostStartAck{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := Start(ctx, Orchestrator, Config{DataDir: t.TempDir(), NATSListen: "127.0.0.1:0", MetricsAddr: "off", UIAddr: "off",
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		wrapProvider: func(p provider.Provider) provider.Provider { wrap.Provider = p; return wrap }}, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	nc, err := nats.Connect(n.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c := client.New(nc)
	_, err = c.Start(ctx, "echo", "hi", client.WithID("lost-ack"))
	if !errors.Is(err, client.ErrTimeout) || !wrap.lost.Load() {
		t.Fatalf("start whose acknowledgement was lost: %v, want client.ErrTimeout", err)
	}
	t.Logf("start: %v", err)
	st, err := c.Wait(ctx, "lost-ack")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := st.DecodeOutput(&out); err != nil || st.Status != client.StatusCompleted || out != "hi" {
		t.Fatalf("the instance: %s, output %q (%v); want Completed with hi", st.Status, out, err)
	}
}
