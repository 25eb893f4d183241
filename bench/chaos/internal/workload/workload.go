// Package workload is the chaos suite's orchestrations and activity: an
// order that runs one slow activity, a fan-out of activities, a child
// orchestration and a durable timer, and an activity that records every
// execution in an append-only file so that the suite can count executions
// after the fact.
//
// It knows only the runtime's SDK; the suite's oracle (the expected
// outputs) lives in the test, independently of this code.
package workload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/reprise/reprise/runtime"
)

// Registered names.
const (
	// Order is the parent orchestration: input an [OrderInput], output an
	// [OrderOutput].
	Order = "chaos.order"
	// Child is the sub-orchestration Order calls: input a [ChildInput],
	// output the square of its X.
	Child = "chaos.child"
	// Square records its execution and returns the square of its X.
	Square = "chaos.square"
)

// Execution log phases: an execution writes Begin before its work and End
// after it, so an execution cut short by a kill has a Begin and no End.
const (
	Begin = "begin"
	End   = "end"
)

// OrderInput is the input of [Order].
type OrderInput struct {
	// N is the width of the fan-out.
	N int `json:"n"`
	// SlowMS is how long the first activity works, so that a kill finds
	// activities mid-run.
	SlowMS int `json:"slow_ms"`
	// TimerMS is the duration of the parent's and the child's timers.
	TimerMS int `json:"timer_ms"`
}

// OrderOutput is the output of [Order].
type OrderOutput struct {
	// Sum is 1 + the squares of 2..N+1 + the child's (N+10)².
	Sum int64 `json:"sum"`
}

// ChildInput is the input of [Child].
type ChildInput struct {
	X       int64 `json:"x"`
	TimerMS int   `json:"timer_ms"`
}

// SquareInput is the input of [Square]: the instance and step name identify
// the activity call in the execution log.
type SquareInput struct {
	Instance string `json:"instance"`
	Step     string `json:"step"`
	X        int64  `json:"x"`
	SlowMS   int    `json:"slow_ms,omitempty"`
}

// Step names of the activity calls.
const (
	StepFirst = "first"
	StepChild = "child"
)

// FanStep is the step name of the i-th fan-out activity.
func FanStep(i int) string { return fmt.Sprintf("fan-%d", i) }

// ChildID is the instance id of the child of parent.
func ChildID(parent string) string { return parent + "/child" }

// Recorder appends one line per execution phase to the file at Path:
// "<instance>\t<step>\t<pid>\t<phase>\t<unix nanoseconds>". Each line is
// one O_APPEND write, so lines of concurrent processes never interleave.
type Recorder struct {
	Path string
	PID  int
}

func (r Recorder) record(in SquareInput, phase string) error {
	if strings.ContainsAny(in.Instance+in.Step, "\t\n") {
		return runtime.NewNonRetryableError("BadInput", "instance and step must not contain tabs or newlines")
	}
	f, err := os.OpenFile(r.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open execution log: %w", err)
	}
	line := fmt.Sprintf("%s\t%s\t%d\t%s\t%d\n", in.Instance, in.Step, r.PID, phase, time.Now().UnixNano())
	_, werr := f.WriteString(line)
	return errors.Join(werr, f.Close())
}

// Register registers the orchestrations and the activity in reg; the
// activity records its executions with rec.
func Register(reg *runtime.Registry, rec Recorder) error {
	square := func(ctx context.Context, in SquareInput) (int64, error) {
		if err := rec.record(in, Begin); err != nil {
			return 0, err
		}
		if in.SlowMS > 0 {
			t := time.NewTimer(time.Duration(in.SlowMS) * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return 0, ctx.Err()
			}
		}
		if err := rec.record(in, End); err != nil {
			return 0, err
		}
		return in.X * in.X, nil
	}
	return errors.Join(
		runtime.RegisterOrchestration(reg, Order, order),
		runtime.RegisterOrchestration(reg, Child, child),
		runtime.RegisterActivity(reg, Square, square),
	)
}

// order runs the first (slow) activity, then a fan-out of N activities and
// the child in parallel, then a timer, and sums the results.
func order(ctx *runtime.OrchestrationContext, in OrderInput) (OrderOutput, error) {
	id := ctx.InstanceID()
	var out OrderOutput
	var first int64
	if err := ctx.CallActivity(Square, SquareInput{Instance: id, Step: StepFirst, X: 1, SlowMS: in.SlowMS}).Await(&first); err != nil {
		return out, err
	}
	out.Sum = first
	fan := make([]runtime.Future, in.N)
	for i := range fan {
		fan[i] = ctx.CallActivity(Square, SquareInput{Instance: id, Step: FanStep(i), X: int64(i + 2)})
	}
	childF := ctx.CallSubOrchestration(Child, ChildInput{X: int64(in.N + 10), TimerMS: in.TimerMS}, runtime.WithInstanceID(ChildID(id)))
	if err := ctx.WhenAll(append(fan, childF)...).Await(nil); err != nil {
		return out, err
	}
	for _, f := range append(fan, childF) {
		var v int64
		if err := f.Await(&v); err != nil {
			return out, err
		}
		out.Sum += v
	}
	if err := ctx.CreateTimer(time.Duration(in.TimerMS) * time.Millisecond).Await(nil); err != nil {
		return out, err
	}
	return out, nil
}

// child waits on a timer, then runs one activity.
func child(ctx *runtime.OrchestrationContext, in ChildInput) (int64, error) {
	if err := ctx.CreateTimer(time.Duration(in.TimerMS) * time.Millisecond).Await(nil); err != nil {
		return 0, err
	}
	var v int64
	err := ctx.CallActivity(Square, SquareInput{Instance: ctx.InstanceID(), Step: StepChild, X: in.X}).Await(&v)
	return v, err
}
