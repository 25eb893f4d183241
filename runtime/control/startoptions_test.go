package control_test

import (
	"context"
	"errors"
	"regexp"
	"testing"

	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
)

// The in-process client and the NATS client speak one start vocabulary:
// the options of package client configure runtime.Client.Start too.
func TestStartOptionsAreSharedWithTheNATSClient(t *testing.T) {
	p, err := memory.New(runtime.Topology())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c := control.New(p, control.Options{})
	ctx := context.Background()

	id, err := c.Start(ctx, "o", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("generated id %q is not a UUID v4", id)
	}
	for i, opts := range [][]control.StartOption{
		{client.WithID("shared"), client.WithVersion("v1"), client.WithReusePolicy(client.ReuseReject)},
		{control.WithID("shared"), control.WithVersion("v1"), control.WithReusePolicy(control.ReuseReject)},
	} {
		got, err := c.Start(ctx, "o", nil, opts...)
		if got != "shared" {
			t.Fatalf("Start returned id %q, want the WithID one", got)
		}
		// The second start of the still-queued id is refused: both
		// packages' options named the same instance.
		if i == 0 && err != nil {
			t.Fatalf("Start: %v", err)
		}
		if i == 1 && !errors.Is(err, runtime.ErrInstanceExists) {
			t.Fatalf("a second start of a queued id: %v, want ErrInstanceExists", err)
		}
	}
	if _, err := c.Start(ctx, "o", nil, control.WithID("bad-reuse"), control.WithReusePolicy("sometimes")); err == nil {
		t.Fatal("an unknown reuse policy was accepted")
	}
}
