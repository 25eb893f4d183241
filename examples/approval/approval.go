// Package approval is the human-approval example: the orchestration asks for
// a decision, then waits for the external event "decision" raced against a
// durable timer with WhenAny. An approval runs the request; a rejection or
// the timeout ends it without running.
//
//	reprise start approval --id req-1 --input '{"requester":"ann","amount":250,"timeout":"1h"}'
//	reprise raise req-1 decision --payload '{"approved":true,"by":"bob"}'
//	reprise wait req-1
package approval

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reprise/reprise/runtime"
)

// Names under which Register registers the example.
const (
	// Name is the orchestration: input a [Request], output a [Result].
	Name = "approval"
	// ActivityNotify asks the approvers for a decision.
	ActivityNotify = "approval.notify"
	// ActivityExecute carries out an approved request.
	ActivityExecute = "approval.execute"
	// EventDecision is the external event carrying a [Decision].
	EventDecision = "decision"
)

// DefaultTimeout is how long a request whose input sets no timeout waits.
const DefaultTimeout = 24 * time.Hour

// Outcomes of a [Result].
const (
	OutcomeApproved = "approved"
	OutcomeRejected = "rejected"
	OutcomeTimedOut = "timed_out"
)

// Request is the orchestration's input.
type Request struct {
	Requester string  `json:"requester"`
	Amount    float64 `json:"amount"`
	// Timeout is how long to wait for a decision, as a Go duration ("90s",
	// "24h"); default DefaultTimeout.
	Timeout string `json:"timeout,omitempty"`
}

// Decision is the payload of the EventDecision event.
type Decision struct {
	Approved bool   `json:"approved"`
	By       string `json:"by,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

// Result is the orchestration's output.
type Result struct {
	Outcome string `json:"outcome"`
	By      string `json:"by,omitempty"`
	Comment string `json:"comment,omitempty"`
	// Receipt is the executed request's receipt (approved requests only).
	Receipt string `json:"receipt,omitempty"`
}

// Register registers the approval orchestration and its activities in reg.
func Register(reg *runtime.Registry) error {
	return errors.Join(
		runtime.RegisterOrchestration(reg, Name, Orchestration),
		runtime.RegisterActivity(reg, ActivityNotify, Notify),
		runtime.RegisterActivity(reg, ActivityExecute, Execute),
	)
}

// Orchestration notifies the approvers, then waits for a decision or the
// timeout, whichever comes first.
func Orchestration(ctx *runtime.OrchestrationContext, req Request) (Result, error) {
	timeout := DefaultTimeout
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		if err != nil || d <= 0 {
			return Result{}, runtime.NewNonRetryableError("InvalidInput", fmt.Sprintf("timeout %q is not a positive Go duration", req.Timeout))
		}
		timeout = d
	}
	if err := ctx.CallActivity(ActivityNotify, req).Await(nil); err != nil {
		return Result{}, err
	}
	if err := ctx.SetCustomStatus("awaiting decision"); err != nil {
		return Result{}, err
	}
	decision := ctx.WaitForEvent(EventDecision)
	timer := ctx.CreateTimer(timeout)
	var first int
	if err := ctx.WhenAny(decision, timer).Await(&first); err != nil {
		return Result{}, err
	}
	if first == 1 {
		decision.Cancel()
		_ = ctx.SetCustomStatus(OutcomeTimedOut)
		return Result{Outcome: OutcomeTimedOut}, nil
	}
	timer.Cancel()
	var d Decision
	if err := decision.Await(&d); err != nil {
		return Result{}, err
	}
	res := Result{Outcome: OutcomeRejected, By: d.By, Comment: d.Comment}
	if d.Approved {
		res.Outcome = OutcomeApproved
		if err := ctx.CallActivity(ActivityExecute, req).Await(&res.Receipt); err != nil {
			return Result{}, err
		}
	}
	_ = ctx.SetCustomStatus(res.Outcome)
	return res, nil
}

// Notify asks the approvers for a decision. The example only logs; a real
// one would send a mail or a chat message with a link that raises the event.
func Notify(_ context.Context, req Request) (string, error) {
	return fmt.Sprintf("asked for a decision on %.2f requested by %s", req.Amount, req.Requester), nil
}

// Execute carries out an approved request and returns a receipt.
func Execute(_ context.Context, req Request) (string, error) {
	return fmt.Sprintf("paid %.2f to %s", req.Amount, req.Requester), nil
}
