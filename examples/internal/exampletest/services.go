package exampletest

import (
	"context"
	"testing"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host/hosttest"
)

// newServices is the real orchestrator service in embedded mode, driven by
// the Go client over NATS.
func newServices(t *testing.T, register func(*runtime.Registry) error) Driver {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := register(reg); err != nil {
		t.Fatalf("register: %v", err)
	}
	c := hosttest.Start(t, reg, hosttest.Shards(2)).Client
	return clientDriver{c: c, wait: func(ctx context.Context, id string) (Final, error) {
		st, err := c.Wait(ctx, id)
		if err != nil {
			return Final{}, err
		}
		return Final{Status: runtime.Status(st.Status), Output: st.Output, Error: st.Error}, nil
	}}
}
