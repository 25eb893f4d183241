package exampletest

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

// servicesDriver is the real orchestrator service in embedded mode, driven
// by the Go client over NATS.
type servicesDriver struct {
	client *client.Client
}

func newServices(t *testing.T, register func(*runtime.Registry) error) *servicesDriver {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := register(reg); err != nil {
		t.Fatalf("register: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	n, err := host.Start(ctx, host.Orchestrator, host.Config{
		DataDir:      t.TempDir(),
		NATSListen:   "127.0.0.1:0",
		MetricsAddr:  "off",
		Shards:       2,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		DrainTimeout: 10 * time.Second,
	}, reg)
	if err != nil {
		t.Fatalf("start orchestrator: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop orchestrator: %v", err)
		}
	})
	nc, err := nats.Connect(n.NATSURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return &servicesDriver{client: client.New(nc)}
}

func (s *servicesDriver) Start(ctx context.Context, name, id string, input any) error {
	_, err := s.client.Start(ctx, name, input, client.WithID(id))
	return err
}

func (s *servicesDriver) RaiseEvent(ctx context.Context, id, event string, payload any) error {
	return s.client.RaiseEvent(ctx, id, event, payload)
}

func (s *servicesDriver) Wait(ctx context.Context, id string) (Final, error) {
	st, err := s.client.Wait(ctx, id)
	if err != nil {
		return Final{}, err
	}
	return Final{Status: runtime.Status(st.Status), Output: st.Output, Error: st.Error}, nil
}
