// Package saga is an order saga with compensation: reserve inventory, charge
// the payment, ship. When a step fails, the compensations of the steps that
// completed run in reverse order (refund the payment, then release the
// inventory) and the order ends cancelled.
//
// The activities simulate their services deterministically from the order so
// the example runs anywhere; Order.FailAt makes a chosen step fail, to show
// the compensation path:
//
//	reprise start saga --input '{"order_id":"o-1","item":"book","quantity":2,"amount":30}' --wait
//	reprise start saga --input '{"order_id":"o-2","item":"book","quantity":2,"amount":30,"fail_at":"ship"}' --wait
package saga

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reprise/reprise/runtime"
)

// Names under which Register registers the example.
const (
	// Name is the orchestration: input an [Order], output a [Result].
	Name = "saga"

	ActivityReserve = "saga.reserve_inventory"
	ActivityCharge  = "saga.charge_payment"
	ActivityShip    = "saga.ship"
	ActivityRelease = "saga.release_inventory"
	ActivityRefund  = "saga.refund_payment"
)

// Steps an [Order] can be told to fail at (Order.FailAt).
const (
	StepReserve = "reserve"
	StepCharge  = "charge"
	StepShip    = "ship"
)

// Outcomes of a [Result].
const (
	OutcomeShipped   = "shipped"
	OutcomeCancelled = "cancelled"
)

// ErrStepFailed is the (non-retryable) failure of a simulated step.
var ErrStepFailed = errors.New("saga: step failed")

// Order is the saga's input.
type Order struct {
	OrderID  string  `json:"order_id"`
	Item     string  `json:"item"`
	Quantity int     `json:"quantity"`
	Amount   float64 `json:"amount"`
	// FailAt names a step ("reserve", "charge" or "ship") whose simulated
	// service rejects the order.
	FailAt string `json:"fail_at,omitempty"`
}

// Result is the saga's output.
type Result struct {
	OrderID     string `json:"order_id"`
	Outcome     string `json:"outcome"`
	Reservation string `json:"reservation,omitempty"`
	Payment     string `json:"payment,omitempty"`
	Tracking    string `json:"tracking,omitempty"`
	// Failure is the error of the step that failed.
	Failure string `json:"failure,omitempty"`
	// Compensations lists the compensating activities that ran, in the order
	// they ran.
	Compensations []string `json:"compensations,omitempty"`
}

// Register registers the saga orchestration and its activities in reg.
func Register(reg *runtime.Registry) error {
	return errors.Join(
		runtime.RegisterOrchestration(reg, Name, Orchestration),
		runtime.RegisterActivity(reg, ActivityReserve, Reserve),
		runtime.RegisterActivity(reg, ActivityCharge, Charge),
		runtime.RegisterActivity(reg, ActivityShip, Ship),
		runtime.RegisterActivity(reg, ActivityRelease, Release),
		runtime.RegisterActivity(reg, ActivityRefund, Refund),
	)
}

// stepRetry retries transient failures of a forward step; a rejection
// (non-retryable) fails the step at once.
func stepRetry() runtime.CallOption {
	return runtime.WithRetry(runtime.RetryPolicy{MaxAttempts: 3, InitialInterval: 100 * time.Millisecond})
}

// compensationRetry retries a compensation harder: it must not be lost.
func compensationRetry() runtime.CallOption {
	return runtime.WithRetry(runtime.RetryPolicy{MaxAttempts: 10, InitialInterval: 100 * time.Millisecond, MaxInterval: 10 * time.Second})
}

// Orchestration runs the order's steps; on a failure it runs the
// compensations of the completed steps in reverse and reports the order
// cancelled. It fails only if an order is invalid or a compensation fails
// for good.
func Orchestration(ctx *runtime.OrchestrationContext, o Order) (Result, error) {
	if o.OrderID == "" {
		o.OrderID = ctx.InstanceID()
	}
	if o.Quantity <= 0 || o.Amount < 0 {
		return Result{}, runtime.NewNonRetryableError("InvalidOrder", fmt.Sprintf("order %s: quantity must be positive and amount not negative", o.OrderID))
	}
	res := Result{OrderID: o.OrderID}
	// compensations is the stack of undo steps of the completed steps.
	var compensations []string
	steps := []struct {
		activity, compensation string
		out                    *string
	}{
		{ActivityReserve, ActivityRelease, &res.Reservation},
		{ActivityCharge, ActivityRefund, &res.Payment},
		{ActivityShip, "", &res.Tracking},
	}
	for _, s := range steps {
		err := ctx.CallActivity(s.activity, o, stepRetry()).Await(s.out)
		if err == nil {
			if s.compensation != "" {
				compensations = append(compensations, s.compensation)
			}
			continue
		}
		ctx.Logger().Info("saga step failed, compensating", "step", s.activity, "error", err)
		res.Outcome, res.Failure = OutcomeCancelled, err.Error()
		for i := len(compensations) - 1; i >= 0; i-- {
			if err := ctx.CallActivity(compensations[i], res, compensationRetry()).Await(nil); err != nil {
				return res, fmt.Errorf("saga: compensation %s of order %s failed: %w", compensations[i], o.OrderID, err)
			}
			res.Compensations = append(res.Compensations, compensations[i])
		}
		return res, nil
	}
	res.Outcome = OutcomeShipped
	return res, nil
}

// reject returns the simulated rejection of step when the order asks for it.
func reject(o Order, step string) error {
	if o.FailAt != step {
		return nil
	}
	return runtime.NewNonRetryableError("Rejected", fmt.Sprintf("%s of order %s rejected: %v", step, o.OrderID, ErrStepFailed))
}

// Reserve reserves the order's items and returns the reservation id.
func Reserve(_ context.Context, o Order) (string, error) {
	if err := reject(o, StepReserve); err != nil {
		return "", err
	}
	return "res-" + o.OrderID, nil
}

// Charge charges the order's amount and returns the payment id.
func Charge(_ context.Context, o Order) (string, error) {
	if err := reject(o, StepCharge); err != nil {
		return "", err
	}
	return "pay-" + o.OrderID, nil
}

// Ship ships the order and returns the tracking number.
func Ship(_ context.Context, o Order) (string, error) {
	if err := reject(o, StepShip); err != nil {
		return "", err
	}
	return "trk-" + o.OrderID, nil
}

// Release releases the reservation of a cancelled order.
func Release(_ context.Context, r Result) (string, error) {
	return "released " + r.Reservation, nil
}

// Refund refunds the payment of a cancelled order.
func Refund(_ context.Context, r Result) (string, error) {
	return "refunded " + r.Payment, nil
}
