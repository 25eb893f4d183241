package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reprise/reprise/runtime"
)

// Orchestration and activity names registered by [register]. The remote
// deployment driven with -remote must register them too (see README.md).
const (
	orchHello  = "bench.hello"
	orchFanout = "bench.fanout"
	orchChain  = "bench.chain"
	orchTimer  = "bench.timer"
	orchEvent  = "bench.event"
	actEcho    = "bench.echo"
	eventName  = "bench.go"
)

// input is every bench orchestration's input.
type input struct {
	// Width is the number of activities of fanout and chain.
	Width int `json:"w,omitempty"`
	// TimerMS is the timer workload's timer.
	TimerMS int64 `json:"t,omitempty"`
}

// workload is one kind of orchestration the generator drives.
type workload struct {
	name string
	orch string
	// activities is the number of activities one instance runs.
	activities func(o options) int
	// input is the start input.
	input func(o options) input
	// raise says whether the generator raises [eventName] after the start.
	raise bool
}

// workloadNames lists every workload in the order "all" runs them.
func workloadNames() []string { return []string{"hello", "fanout", "chain", "timer", "event"} }

// workloadByName returns the workload called name.
func workloadByName(name string) (workload, error) {
	one := func(options) int { return 1 }
	switch name {
	case "hello":
		return workload{name: name, orch: orchHello, activities: one, input: func(options) input { return input{} }}, nil
	case "fanout":
		return workload{name: name, orch: orchFanout, activities: func(o options) int { return o.width(5) },
			input: func(o options) input { return input{Width: o.width(5)} }}, nil
	case "chain":
		return workload{name: name, orch: orchChain, activities: func(o options) int { return o.width(10) },
			input: func(o options) input { return input{Width: o.width(10)} }}, nil
	case "timer":
		return workload{name: name, orch: orchTimer, activities: func(options) int { return 0 },
			input: func(o options) input { return input{TimerMS: o.timer.Milliseconds()} }}, nil
	case "event":
		return workload{name: name, orch: orchEvent, activities: func(options) int { return 0 },
			input: func(options) input { return input{} }, raise: true}, nil
	}
	return workload{}, fmt.Errorf("unknown workload %q (want all or a comma-separated list of %v)", name, workloadNames())
}

// register registers the bench orchestrations and their activity in reg.
// A deployment driven with -remote must run a registry built by it.
func register(reg *runtime.Registry) error {
	return errors.Join(
		runtime.RegisterOrchestration(reg, orchHello, helloOrch),
		runtime.RegisterOrchestration(reg, orchFanout, fanoutOrch),
		runtime.RegisterOrchestration(reg, orchChain, chainOrch),
		runtime.RegisterOrchestration(reg, orchTimer, timerOrch),
		runtime.RegisterOrchestration(reg, orchEvent, eventOrch),
		runtime.RegisterActivity(reg, actEcho, echo),
	)
}

// echo is the activity of every workload: it returns its input.
func echo(_ context.Context, n int) (int, error) { return n, nil }

func helloOrch(ctx *runtime.OrchestrationContext, _ input) (int, error) {
	var out int
	err := ctx.CallActivity(actEcho, 1).Await(&out)
	return out, err
}

func fanoutOrch(ctx *runtime.OrchestrationContext, in input) (int, error) {
	fs := make([]runtime.Future, max(in.Width, 1))
	for i := range fs {
		fs[i] = ctx.CallActivity(actEcho, i)
	}
	if err := ctx.WhenAll(fs...).Await(nil); err != nil {
		return 0, err
	}
	return len(fs), nil
}

func chainOrch(ctx *runtime.OrchestrationContext, in input) (int, error) {
	n := 0
	for range max(in.Width, 1) {
		if err := ctx.CallActivity(actEcho, n+1).Await(&n); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func timerOrch(ctx *runtime.OrchestrationContext, in input) (int, error) {
	return 0, ctx.CreateTimer(time.Duration(in.TimerMS) * time.Millisecond).Await(nil)
}

func eventOrch(ctx *runtime.OrchestrationContext, _ input) (int, error) {
	var n int
	err := ctx.WaitForEvent(eventName).Await(&n)
	return n, err
}
