package exampletest

import (
	"context"
	"testing"

	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host/hosttest"
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
	return &servicesDriver{client: hosttest.Start(t, reg, hosttest.Shards(2)).Client}
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
