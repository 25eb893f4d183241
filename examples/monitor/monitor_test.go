package monitor_test

import (
	"testing"

	"github.com/reprise/reprise/examples/internal/exampletest"
	"github.com/reprise/reprise/examples/monitor"
)

func TestMonitorContinuesAsNewUntilTheConditionHolds(t *testing.T) {
	exampletest.Run(t, monitor.Register, func(t *testing.T, d exampletest.Driver) {
		for _, tc := range []struct {
			id   string
			in   monitor.Input
			want monitor.Result
		}{
			{"monitor-ready-at-once", monitor.Input{Target: "a", Interval: "1ms", ReadyAfter: 1},
				monitor.Result{Target: "a", Outcome: monitor.OutcomeReady, Checks: 1}},
			{"monitor-ready-later", monitor.Input{Target: "b", Interval: "1ms", ReadyAfter: 4},
				monitor.Result{Target: "b", Outcome: monitor.OutcomeReady, Checks: 4}},
			{"monitor-gives-up", monitor.Input{Target: "c", Interval: "1ms", MaxChecks: 3},
				monitor.Result{Target: "c", Outcome: monitor.OutcomeGaveUp, Checks: 3}},
		} {
			var got monitor.Result
			exampletest.Go(t, d, monitor.Name, tc.id, tc.in).Decode(t, &got)
			if got != tc.want {
				t.Errorf("%s: result %+v, want %+v", tc.id, got, tc.want)
			}
		}
	})
}
