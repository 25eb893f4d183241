package saga_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/reprise/reprise/examples/internal/exampletest"
	"github.com/reprise/reprise/examples/saga"
	"github.com/reprise/reprise/runtime"
)

func TestSagaShipsAnOrderWhenEveryStepSucceeds(t *testing.T) {
	exampletest.Run(t, saga.Register, func(t *testing.T, d exampletest.Driver) {
		var res saga.Result
		exampletest.Go(t, d, saga.Name, "order-ok", saga.Order{OrderID: "o1", Item: "book", Quantity: 2, Amount: 30}).Decode(t, &res)
		want := saga.Result{OrderID: "o1", Outcome: saga.OutcomeShipped, Reservation: "res-o1", Payment: "pay-o1", Tracking: "trk-o1"}
		if !equal(res, want) {
			t.Fatalf("result %+v, want %+v", res, want)
		}
	})
}

func TestSagaCompensatesCompletedStepsInReverse(t *testing.T) {
	exampletest.Run(t, saga.Register, func(t *testing.T, d exampletest.Driver) {
		for _, tc := range []struct {
			failAt string
			want   []string
		}{
			{saga.StepReserve, nil},
			{saga.StepCharge, []string{saga.ActivityRelease}},
			{saga.StepShip, []string{saga.ActivityRefund, saga.ActivityRelease}},
		} {
			var res saga.Result
			id := "order-fail-" + tc.failAt
			exampletest.Go(t, d, saga.Name, id, saga.Order{Item: "book", Quantity: 1, Amount: 10, FailAt: tc.failAt}).Decode(t, &res)
			if res.Outcome != saga.OutcomeCancelled || res.OrderID != id {
				t.Errorf("fail at %s: result %+v, want order %s cancelled", tc.failAt, res, id)
			}
			if !slices.Equal(res.Compensations, tc.want) {
				t.Errorf("fail at %s: compensations %v, want %v", tc.failAt, res.Compensations, tc.want)
			}
			if !strings.Contains(res.Failure, tc.failAt+" of order") {
				t.Errorf("fail at %s: failure %q does not name the step", tc.failAt, res.Failure)
			}
		}
	})
}

func TestSagaRejectsAnInvalidOrder(t *testing.T) {
	exampletest.Run(t, saga.Register, func(t *testing.T, d exampletest.Driver) {
		f := exampletest.Go(t, d, saga.Name, "order-invalid", saga.Order{Item: "book"})
		if f.Status != runtime.StatusFailed || !strings.Contains(f.Error, "quantity must be positive") {
			t.Fatalf("status %s error %q, want Failed naming the quantity", f.Status, f.Error)
		}
	})
}

func equal(a, b saga.Result) bool {
	return a.OrderID == b.OrderID && a.Outcome == b.Outcome && a.Reservation == b.Reservation &&
		a.Payment == b.Payment && a.Tracking == b.Tracking && a.Failure == b.Failure &&
		slices.Equal(a.Compensations, b.Compensations)
}
