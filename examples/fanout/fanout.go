// Package fanout is the fan-out/fan-in example: the orchestration schedules
// N activities at once, awaits them all with WhenAll and aggregates their
// results.
//
//	reprise start fanout --input '{"n":100}' --wait
package fanout

import (
	"context"
	"errors"
	"fmt"

	"github.com/reprise/reprise/runtime"
)

// Names under which Register registers the example.
const (
	// Name is the orchestration: input an [Input], output a [Result].
	Name = "fanout"
	// ActivitySquare squares one number.
	ActivitySquare = "fanout.square"
)

// DefaultN is the width of a fan-out whose input sets none; MaxN bounds it.
const (
	DefaultN = 10
	MaxN     = 10_000
)

// Input is the orchestration's input.
type Input struct {
	// N is the number of activities (default DefaultN, at most MaxN).
	N int `json:"n"`
}

// Result is the orchestration's output.
type Result struct {
	N int `json:"n"`
	// Sum is the sum of the squares of 1..N.
	Sum int64 `json:"sum"`
}

// Register registers the fanout orchestration and its activity in reg.
func Register(reg *runtime.Registry) error {
	return errors.Join(
		runtime.RegisterOrchestration(reg, Name, Orchestration),
		runtime.RegisterActivity(reg, ActivitySquare, Square),
	)
}

// Orchestration squares 1..N in parallel activities and sums the squares.
func Orchestration(ctx *runtime.OrchestrationContext, in Input) (Result, error) {
	n := in.N
	if n == 0 {
		n = DefaultN
	}
	if n < 0 || n > MaxN {
		return Result{}, runtime.NewNonRetryableError("InvalidInput", fmt.Sprintf("n is %d; want 1..%d", in.N, MaxN))
	}
	futures := make([]runtime.Future, n)
	for i := range futures {
		futures[i] = ctx.CallActivity(ActivitySquare, i+1)
	}
	if err := ctx.WhenAll(futures...).Await(nil); err != nil {
		return Result{}, err
	}
	res := Result{N: n}
	for _, f := range futures {
		var sq int64
		if err := f.Await(&sq); err != nil {
			return Result{}, err
		}
		res.Sum += sq
	}
	return res, nil
}

// Square returns x*x.
func Square(_ context.Context, x int64) (int64, error) { return x * x, nil }
