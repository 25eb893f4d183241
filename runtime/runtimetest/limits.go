package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
)

var limitTests = []suiteTest{
	{"OversizedPayloadIsRejected", testPayloadLimit},
	{"LongHistoryFailsRecommendingContinueAsNew", testHistoryLimit},
	{"TooManyPendingCallsFail", testPendingLimit},
}

func testPayloadLimit(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterActivity(e.reg, "sink", func(context.Context, string) (int, error) { return 0, nil }))
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
		err := ctx.CallActivity("sink", strings.Repeat("x", 2000)).Await(nil)
		if !errors.Is(err, runtime.ErrPayloadTooLarge) {
			return "", fmt.Errorf("want ErrPayloadTooLarge, got %v", err)
		}
		return err.Error(), nil
	}))
	e.start(worker.Options{Limits: runtime.Limits{MaxPayloadBytes: 1000}})
	e.expectCompleted(e.run("o", "pl", 0), nil)
	// The client rejects oversized inputs before sending anything.
	small := control.New(e.p, control.Options{MaxPayloadBytes: 10})
	if _, err := small.Start(e.ctx(), "o", strings.Repeat("y", 100), control.WithID("pl2")); !errors.Is(err, runtime.ErrPayloadTooLarge) {
		t.Fatalf("client start: want ErrPayloadTooLarge, got %v", err)
	}
}

func testHistoryLimit(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		for {
			if err := ctx.CreateTimer(time.Millisecond).Await(nil); err != nil {
				return 0, err
			}
		}
	}))
	e.start(worker.Options{Limits: runtime.Limits{MaxEventsPerPartition: 30}})
	e.expectStatus(e.run("o", "hl", 0), runtime.StatusFailed, "limit is 30", "ContinueAsNew")
}

func testPendingLimit(t *testing.T, s *suite) {
	e := s.newEnv(t)
	must(t, runtime.RegisterOrchestration(e.reg, "o", func(ctx *runtime.OrchestrationContext, _ int) (int, error) {
		var fs []runtime.Future
		for range 6 {
			fs = append(fs, ctx.CreateTimer(time.Hour))
		}
		err := fs[5].Await(nil)
		if !errors.Is(err, runtime.ErrTooManyPending) {
			return 0, fmt.Errorf("want ErrTooManyPending, got %v", err)
		}
		for _, f := range fs[:5] {
			f.Cancel()
		}
		return 5, nil
	}))
	e.start(worker.Options{Limits: runtime.Limits{MaxPendingFutures: 5}})
	e.expectCompleted(e.run("o", "pd", 0), nil)
}
