// Package monitor is the periodic-monitor example: each execution checks a
// target with an activity; until the check reports the condition met (or the
// checks run out) it sleeps on a durable timer and continues as new, so the
// history stays short however long the monitor runs.
//
// The check is simulated: the target becomes ready at check number
// Input.ReadyAfter, so the example runs anywhere.
//
//	reprise start monitor --input '{"target":"job-7","interval":"2s","ready_after":3}' --wait
package monitor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reprise/reprise/runtime"
)

// Names under which Register registers the example.
const (
	// Name is the orchestration: input an [Input], output a [Result].
	Name = "monitor"
	// ActivityCheck checks the target once.
	ActivityCheck = "monitor.check"
)

// Defaults for an [Input] that leaves fields zero.
const (
	DefaultInterval  = 10 * time.Second
	DefaultMaxChecks = 100
)

// Outcomes of a [Result].
const (
	OutcomeReady  = "ready"
	OutcomeGaveUp = "gave_up"
)

// Input is the orchestration's input; it carries the state from one
// execution to the next.
type Input struct {
	Target string `json:"target"`
	// Interval between checks, as a Go duration (default DefaultInterval).
	Interval string `json:"interval,omitempty"`
	// MaxChecks bounds the checks before giving up (default
	// DefaultMaxChecks).
	MaxChecks int `json:"max_checks,omitempty"`
	// ReadyAfter is the simulated target's readiness: the check with this
	// number (1-based) and later ones find it ready; 0 never.
	ReadyAfter int `json:"ready_after,omitempty"`
	// Checks is the number of checks done so far (state, not user input).
	Checks int `json:"checks,omitempty"`
}

// Check is the input of the check activity.
type Check struct {
	Target     string `json:"target"`
	Number     int    `json:"number"`
	ReadyAfter int    `json:"ready_after,omitempty"`
}

// Result is the orchestration's output.
type Result struct {
	Target  string `json:"target"`
	Outcome string `json:"outcome"`
	Checks  int    `json:"checks"`
}

// Register registers the monitor orchestration and its activity in reg.
func Register(reg *runtime.Registry) error {
	return errors.Join(
		runtime.RegisterOrchestration(reg, Name, Orchestration),
		runtime.RegisterActivity(reg, ActivityCheck, CheckTarget),
	)
}

// Orchestration checks the target once; if it is not ready and checks
// remain, it sleeps for the interval and continues as new with the count.
func Orchestration(ctx *runtime.OrchestrationContext, in Input) (Result, error) {
	interval := DefaultInterval
	if in.Interval != "" {
		d, err := time.ParseDuration(in.Interval)
		if err != nil || d <= 0 {
			return Result{}, runtime.NewNonRetryableError("InvalidInput", fmt.Sprintf("interval %q is not a positive Go duration", in.Interval))
		}
		interval = d
	}
	maxChecks := in.MaxChecks
	if maxChecks <= 0 {
		maxChecks = DefaultMaxChecks
	}
	in.Checks++
	var ready bool
	check := Check{Target: in.Target, Number: in.Checks, ReadyAfter: in.ReadyAfter}
	if err := ctx.CallActivity(ActivityCheck, check).Await(&ready); err != nil {
		return Result{}, err
	}
	if err := ctx.SetCustomStatus(map[string]any{"checks": in.Checks, "ready": ready}); err != nil {
		return Result{}, err
	}
	switch {
	case ready:
		return Result{Target: in.Target, Outcome: OutcomeReady, Checks: in.Checks}, nil
	case in.Checks >= maxChecks:
		return Result{Target: in.Target, Outcome: OutcomeGaveUp, Checks: in.Checks}, nil
	}
	if err := ctx.CreateTimer(interval).Await(nil); err != nil {
		return Result{}, err
	}
	ctx.ContinueAsNew(in)
	return Result{}, nil
}

// CheckTarget reports whether the simulated target is ready at this check.
func CheckTarget(_ context.Context, c Check) (bool, error) {
	return c.ReadyAfter > 0 && c.Number >= c.ReadyAfter, nil
}
