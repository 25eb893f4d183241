// Package exampletest runs the examples' tests on two engines through one
// [Driver] interface: a provider/memory provider with a worker.Worker in
// the process, and the real orchestrator service (package services/host in
// embedded mode: NATS JetStream, Pebble, the subject API) driven by the Go
// client over NATS.
package exampletest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
)

// waitTimeout bounds one wait for an instance; a test that hits it has hung.
const waitTimeout = 60 * time.Second

// Final is a finished instance as a test sees it.
type Final struct {
	Status runtime.Status
	// Output is the JSON output of a completed instance.
	Output json.RawMessage
	// Error is the failure of a failed or terminated instance.
	Error string
}

// Decode decodes the output into out and fails the test unless the instance
// completed.
func (f Final) Decode(t testing.TB, out any) {
	t.Helper()
	if f.Status != runtime.StatusCompleted {
		t.Fatalf("status %s (error %q), want Completed", f.Status, f.Error)
	}
	if err := json.Unmarshal(f.Output, out); err != nil {
		t.Fatalf("decode output %s: %v", f.Output, err)
	}
}

// Driver is an engine running the example under test, seen through a
// client.
type Driver interface {
	// Start starts the orchestration name as instance id with input.
	Start(ctx context.Context, name, id string, input any) error
	// RaiseEvent raises the event on instance id.
	RaiseEvent(ctx context.Context, id, event string, payload any) error
	// Wait waits for instance id to finish.
	Wait(ctx context.Context, id string) (Final, error)
}

// Run runs test once per backend with the example registered by register.
func Run(t *testing.T, register func(*runtime.Registry) error, test func(t *testing.T, d Driver)) {
	t.Run("memory", func(t *testing.T) {
		test(t, newMemory(t, register))
	})
	t.Run("services", func(t *testing.T) {
		test(t, newServices(t, register))
	})
}

// Go starts name as id with input, waits for it and returns its end.
func Go(t testing.TB, d Driver, name, id string, input any) Final {
	t.Helper()
	Start(t, d, name, id, input)
	return Wait(t, d, id)
}

// Start starts name as id with input or fails the test.
func Start(t testing.TB, d Driver, name, id string, input any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := d.Start(ctx, name, id, input); err != nil {
		t.Fatalf("start %s as %s: %v", name, id, err)
	}
}

// Raise raises event on id or fails the test.
func Raise(t testing.TB, d Driver, id, event string, payload any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := d.RaiseEvent(ctx, id, event, payload); err != nil {
		t.Fatalf("raise %s on %s: %v", event, id, err)
	}
}

// Wait waits for id to finish or fails the test.
func Wait(t testing.TB, d Driver, id string) Final {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	f, err := d.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait for %s: %v", id, err)
	}
	return f
}

// controller is what the two clients have in common: one start and control
// vocabulary (package api). The assertions below keep it so.
type controller interface {
	Start(ctx context.Context, name string, input any, opts ...api.StartOption) (string, error)
	RaiseEvent(ctx context.Context, id, event string, payload any, opts ...api.RequestOption) error
}

var (
	_ controller = (*control.Client)(nil)
	_ controller = (*client.Client)(nil)
)

// clientDriver drives an engine through either client; wait reads the
// client's own status type.
type clientDriver struct {
	c    controller
	wait func(ctx context.Context, id string) (Final, error)
}

func (d clientDriver) Start(ctx context.Context, name, id string, input any) error {
	_, err := d.c.Start(ctx, name, input, api.WithID(id))
	return err
}

func (d clientDriver) RaiseEvent(ctx context.Context, id, event string, payload any) error {
	return d.c.RaiseEvent(ctx, id, event, payload)
}

func (d clientDriver) Wait(ctx context.Context, id string) (Final, error) { return d.wait(ctx, id) }

// newMemory is a provider/memory engine with an in-process worker, driven
// by the in-process client.
func newMemory(t *testing.T, register func(*runtime.Registry) error) Driver {
	t.Helper()
	p, err := memory.New(runtime.Topology())
	if err != nil {
		t.Fatalf("memory.New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	reg := runtime.NewRegistry()
	if err := register(reg); err != nil {
		t.Fatalf("register: %v", err)
	}
	notifier := runtime.NewNotifier()
	w, err := worker.New(p, reg, worker.Options{Notifier: notifier})
	if err != nil {
		t.Fatalf("worker.New: %v", err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatalf("worker start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Errorf("worker stop: %v", err)
		}
	})
	c := control.New(p, control.Options{Notifier: notifier})
	return clientDriver{c: c, wait: func(ctx context.Context, id string) (Final, error) {
		st, err := c.Wait(ctx, id)
		if err != nil {
			return Final{}, err
		}
		return Final{Status: st.Status, Output: st.Output, Error: st.Error}, nil
	}}
}
