package approval_test

import (
	"testing"

	"github.com/reprise/reprise/examples/approval"
	"github.com/reprise/reprise/examples/internal/exampletest"
)

func TestApprovalPaths(t *testing.T) {
	exampletest.Run(t, approval.Register, func(t *testing.T, d exampletest.Driver) {
		t.Run("approved", func(t *testing.T) {
			id := "approval-yes"
			exampletest.Start(t, d, approval.Name, id, approval.Request{Requester: "ann", Amount: 250, Timeout: "1h"})
			exampletest.Raise(t, d, id, approval.EventDecision, approval.Decision{Approved: true, By: "bob", Comment: "ok"})
			var res approval.Result
			exampletest.Wait(t, d, id).Decode(t, &res)
			want := approval.Result{Outcome: approval.OutcomeApproved, By: "bob", Comment: "ok", Receipt: "paid 250.00 to ann"}
			if res != want {
				t.Fatalf("result %+v, want %+v", res, want)
			}
		})
		t.Run("rejected", func(t *testing.T) {
			id := "approval-no"
			exampletest.Start(t, d, approval.Name, id, approval.Request{Requester: "ann", Amount: 9000, Timeout: "1h"})
			exampletest.Raise(t, d, id, approval.EventDecision, approval.Decision{By: "bob", Comment: "too much"})
			var res approval.Result
			exampletest.Wait(t, d, id).Decode(t, &res)
			want := approval.Result{Outcome: approval.OutcomeRejected, By: "bob", Comment: "too much"}
			if res != want {
				t.Fatalf("result %+v, want %+v", res, want)
			}
		})
		t.Run("timed out", func(t *testing.T) {
			// Nobody decides: the durable timer wins the race.
			var res approval.Result
			exampletest.Go(t, d, approval.Name, "approval-late", approval.Request{Requester: "ann", Amount: 1, Timeout: "20ms"}).Decode(t, &res)
			if res != (approval.Result{Outcome: approval.OutcomeTimedOut}) {
				t.Fatalf("result %+v, want timed out", res)
			}
		})
	})
}
