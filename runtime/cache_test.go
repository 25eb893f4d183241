package runtime

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// kitchenSink uses every kind of call so that the cached/replayed
// comparison covers them all.
func kitchenSinkRegistry(t testing.TB) *Registry {
	reg := NewRegistry()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	var flaky int
	must(RegisterActivity(reg, "inc", func(_ context.Context, n int) (int, error) { return n + 1, nil }))
	must(RegisterActivity(reg, "flaky", func(_ context.Context, n int) (int, error) {
		flaky++
		if flaky%2 == 1 {
			return 0, errors.New("odd attempt")
		}
		return n, nil
	}))
	must(RegisterOrchestration(reg, "child", func(ctx *OrchestrationContext, n int) (int, error) {
		if err := ctx.CreateTimer(time.Minute).Await(nil); err != nil {
			return 0, err
		}
		return n * 10, nil
	}))
	must(RegisterOrchestration(reg, "sink", func(ctx *OrchestrationContext, round int) (int, error) {
		_ = ctx.SetCustomStatus(fmt.Sprintf("round %d", round))
		total := 0
		var branches []Future
		for i := range 3 {
			branches = append(branches, ctx.Go(func(ctx *OrchestrationContext) error {
				var v int
				if err := ctx.CallActivity("inc", i).Await(&v); err != nil {
					return err
				}
				if err := ctx.CreateTimer(time.Duration(i) * time.Second).Await(nil); err != nil {
					return err
				}
				total += v
				return nil
			}))
		}
		if err := ctx.WhenAll(branches...).Await(nil); err != nil {
			return 0, err
		}
		var r int
		if err := ctx.CallActivity("flaky", 7, WithRetry(RetryPolicy{MaxAttempts: 3, InitialInterval: time.Second})).Await(&r); err != nil {
			return 0, err
		}
		var c int
		if err := ctx.CallSubOrchestration("child", round).Await(&c); err != nil {
			return 0, err
		}
		slow := ctx.CreateTimer(time.Hour)
		ev := ctx.WaitForEvent("poke")
		var idx int
		if err := ctx.WhenAny(slow, ev).Await(&idx); err != nil {
			return 0, err
		}
		slow.Cancel()
		_ = ctx.NewUUID()
		if round < 2 {
			ctx.ContinueAsNew(round + 1)
			return 0, nil
		}
		return total + r + c + idx, nil
	}))
	return reg
}

// TestCachedAndReplayedTurnsCommitIdentically defends the sticky cache:
// resuming a parked instance must decide exactly what replaying its history
// decides, turn by turn, for every kind of call.
func TestCachedAndReplayedTurnsCommitIdentically(t *testing.T) {
	for _, batch := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			s := newSim(t, kitchenSinkRegistry(t))
			defer s.close()
			s.compare = true
			s.batch = batch
			s.start("sink", "k", 0)
			for round := range 3 {
				s.runToIdle(1000)
				s.raise("k", "poke", round)
			}
			s.runToIdle(1000)
			if got := s.meta["k"][MetaStatus]; got != string(StatusCompleted) {
				t.Fatalf("status %s (error %s)", got, s.meta["k"][MetaError])
			}
			if s.part["k"] != 2 {
				t.Fatalf("partition %d, want 2", s.part["k"])
			}
			// 6 (branches) + 7 (flaky) + 20 (child) + 0 (the sim fires the
			// hour timer before the poke arrives).
			if out := s.meta["k"][MetaOutput]; out != "33" {
				t.Fatalf("output %s, want 33", out)
			}
		})
	}
}
