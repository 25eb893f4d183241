package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/examples"
	"github.com/reprise/reprise/examples/approval"
	"github.com/reprise/reprise/examples/saga"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
	"github.com/reprise/reprise/services/host/hosttest"
)

// startOrchestrator runs the real orchestrator service in embedded mode
// (NATS with JetStream, Pebble, worker, API) with the examples registered,
// and returns a client connected to it.
func startOrchestrator(t *testing.T, edit func(*host.Config)) *client.Client {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := examples.RegisterAll(reg); err != nil {
		t.Fatal(err)
	}
	return hosttest.Start(t, reg, hosttest.Shards(4), edit).Client
}

func TestEndToEndAgainstTheOrchestrator(t *testing.T) {
	c := startOrchestrator(t, func(cfg *host.Config) { cfg.MaxPayloadBytes = 1024 })
	cx := ctx(t)

	t.Run("start and wait", func(t *testing.T) {
		id, err := c.Start(cx, "hello", "world")
		if err != nil {
			t.Fatal(err)
		}
		var seen []client.Status
		st, err := c.Wait(cx, id, client.WithProgress(func(s client.InstanceStatus) { seen = append(seen, s.Status) }))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := client.Output[string](st); err != nil || out != "Hello, world!" {
			t.Fatalf("output %q, %v", out, err)
		}
		if st.ID != id || st.Name != "hello" || st.CreatedAt.IsZero() {
			t.Fatalf("status %+v", st)
		}
		// Progress calls are over once Wait returned.
		for _, s := range seen {
			if !s.Valid() {
				t.Fatalf("progress reported status %q", s)
			}
		}
		got, err := c.Status(cx, id)
		if err != nil || got.Status != client.StatusCompleted {
			t.Fatalf("Status = %+v, %v", got, err)
		}
		evs, err := c.History(cx, id)
		if err != nil || len(evs) == 0 {
			t.Fatalf("History = %v, %v", evs, err)
		}
	})

	t.Run("errors map to sentinels", func(t *testing.T) {
		// A start is visible once the instance ran its first turn; until
		// then the server cannot tell a duplicate from a retry.
		if _, err := c.Start(cx, "hello", "x", client.WithID("dup")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Wait(cx, "dup"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			err  error
			want error
		}{
			{"duplicate id", second(c.Start(cx, "hello", "x", client.WithID("dup"))), client.ErrAlreadyExists},
			{"unknown orchestration", second(c.Start(cx, "nope", nil)), client.ErrUnknownOrchestration},
			{"invalid id", second(c.Start(cx, "hello", nil, client.WithID("bad\x01id"))), client.ErrInvalidInstanceID},
			{"payload too large", second(c.Start(cx, "hello", strings.Repeat("x", 2000))), client.ErrPayloadTooLarge},
			{"unknown instance", second(c.Status(cx, "never-started")), client.ErrNotFound},
		} {
			var apiErr *client.APIError
			if !errors.Is(tc.err, tc.want) || !errors.As(tc.err, &apiErr) || apiErr.Message == "" {
				t.Errorf("%s: error %v, want %v with a message", tc.name, tc.err, tc.want)
			}
		}
	})

	t.Run("events, suspend and resume", func(t *testing.T) {
		id, err := c.Start(cx, approval.Name, approval.Request{Requester: "ann", Amount: 5, Timeout: "1h"}, client.WithID("req-1"))
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []func() error{
			func() error { return c.Suspend(cx, id, "hold on") },
			func() error {
				return c.RaiseEvent(cx, id, approval.EventDecision, approval.Decision{Approved: true, By: "bob"})
			},
			func() error { return c.Resume(cx, id, "go on") },
		} {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		st, err := c.Wait(cx, id)
		if err != nil {
			t.Fatal(err)
		}
		res, err := client.Output[approval.Result](st)
		if err != nil || res.Outcome != approval.OutcomeApproved || res.By != "bob" {
			t.Fatalf("result %+v, %v", res, err)
		}
	})

	t.Run("terminate and purge", func(t *testing.T) {
		id, err := c.Start(cx, approval.Name, approval.Request{Timeout: "1h"})
		if err != nil {
			t.Fatal(err)
		}
		awaitRunning(t, c, id)
		if err := c.Purge(cx, id); !errors.Is(err, client.ErrNotTerminal) {
			t.Fatalf("purge of a running instance: %v, want ErrNotTerminal", err)
		}
		if err := c.Terminate(cx, id, "changed my mind"); err != nil {
			t.Fatal(err)
		}
		st, err := c.Wait(cx, id)
		if err != nil || st.Status != client.StatusTerminated {
			t.Fatalf("Wait = %+v, %v", st, err)
		}
		if _, err := client.Output[approval.Result](st); !errors.Is(err, client.ErrNotCompleted) {
			t.Fatalf("Output of a terminated instance: %v", err)
		}
		if err := c.Purge(cx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Status(cx, id); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("status after purge: %v", err)
		}
	})

	t.Run("list", func(t *testing.T) {
		for _, fail := range []string{"", saga.StepShip} {
			id, err := c.Start(cx, saga.Name, saga.Order{Quantity: 1, Amount: 1, FailAt: fail})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Wait(cx, id); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		for st, err := range c.Instances(cx, client.ListQuery{Name: saga.Name, Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			if st.Name != saga.Name || st.Status != client.StatusCompleted {
				t.Fatalf("listed %+v", st)
			}
			n++
		}
		if n != 2 {
			t.Fatalf("listed %d saga instances, want 2", n)
		}
	})
}

func second[T any](_ T, err error) error { return err }

// awaitRunning returns once instance id is visibly running, woken by the
// status notifications of a progress wait.
func awaitRunning(t *testing.T, c *client.Client, id string) {
	t.Helper()
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	_, err := c.Wait(wctx, id, client.WithProgress(func(s client.InstanceStatus) {
		if s.Status == client.StatusRunning {
			cancel()
		}
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("wait for %s to run: %v", id, err)
	}
}
