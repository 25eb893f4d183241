package runtimetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/worker"
)

var concurrencyTests = []suiteTest{
	{"GoBranchesRunDeterministically", testGoBranches},
	{"WhenAnyReturnsFirstIndex", testWhenAny},
	{"FanOutOfManyActivitiesCompletes", testFanOut},
}

func testGoBranches(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterActivity(e.reg, "sq", func(_ context.Context, n int) (int, error) { return n * n, nil }))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, n int) (int, error) {
		results := make([]int, n)
		var fs []runtime.Future
		for i := range n {
			fs = append(fs, ctx.Go(func(ctx *runtime.OrchestrationContext) error {
				// Each branch makes two calls, interleaving with the others.
				var a, b int
				if err := ctx.CallActivity("sq", i).Await(&a); err != nil {
					return err
				}
				if err := ctx.CreateTimer(time.Millisecond).Await(nil); err != nil {
					return err
				}
				if err := ctx.CallActivity("sq", a).Await(&b); err != nil {
					return err
				}
				results[i] = b
				return nil
			}))
		}
		if err := ctx.WhenAll(fs...).Await(nil); err != nil {
			return 0, err
		}
		sum := 0
		for _, r := range results {
			sum += r
		}
		return sum, nil
	}))
	// No cache: every turn replays the interleaving, which must match.
	e.start(worker.Options{CacheSize: -1})
	var out int
	e.expectCompleted(e.run("o", "g1", 5), &out)
	if out != 0+1+16+81+256 {
		t.Fatalf("sum %d", out)
	}
}

func testWhenAny(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterActivity(e.reg, "fast", func(context.Context, int) (string, error) { return "fast", nil }))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		slow := ctx.CreateTimer(time.Hour)
		fast := ctx.CallActivity("fast", 0)
		var idx int
		if err := ctx.WhenAny(slow, fast).Await(&idx); err != nil {
			return "", err
		}
		slow.Cancel()
		return fmt.Sprint(idx), nil
	}))
	e.start(worker.Options{})
	var out string
	e.expectCompleted(e.run("o", "a1", 0), &out)
	if out != "1" {
		t.Fatalf("index %s, want 1", out)
	}
}

func testFanOut(t *testing.T, s *suite) {
	n := s.cfg.fanOut
	e := s.newEnv(t)
	must(t, runtime.RegisterActivity(e.reg, "one", func(_ context.Context, i int) (int, error) { return 1, nil }))
	must(t, runtime.RegisterOrchestration(e.reg, "fan", func(ctx *runtime.OrchestrationContext, n int) (int, error) {
		fs := make([]runtime.Future, n)
		for i := range fs {
			fs[i] = ctx.CallActivity("one", i)
		}
		sum := 0
		for _, f := range fs {
			var v int
			if err := f.Await(&v); err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	}))
	e.start(worker.Options{ActivityConcurrency: 64})
	var out int
	e.expectCompleted(e.run("fan", "fan", n), &out)
	if out != n {
		t.Fatalf("sum %d, want %d", out, n)
	}
}
