package fanout_test

import (
	"strings"
	"testing"

	"github.com/reprise/reprise/examples/fanout"
	"github.com/reprise/reprise/examples/internal/exampletest"
	"github.com/reprise/reprise/runtime"
)

func TestFanoutSumsTheSquaresOfAllActivities(t *testing.T) {
	exampletest.Run(t, fanout.Register, func(t *testing.T, d exampletest.Driver) {
		for _, tc := range []struct {
			id   string
			n    int
			want fanout.Result
		}{
			{"fanout-default", 0, fanout.Result{N: fanout.DefaultN, Sum: 385}},
			{"fanout-one", 1, fanout.Result{N: 1, Sum: 1}},
			{"fanout-200", 200, fanout.Result{N: 200, Sum: 200 * 201 * 401 / 6}},
		} {
			var got fanout.Result
			exampletest.Go(t, d, fanout.Name, tc.id, fanout.Input{N: tc.n}).Decode(t, &got)
			if got != tc.want {
				t.Errorf("%s: result %+v, want %+v", tc.id, got, tc.want)
			}
		}
	})
}

func TestFanoutRejectsAnOutOfRangeWidth(t *testing.T) {
	exampletest.Run(t, fanout.Register, func(t *testing.T, d exampletest.Driver) {
		f := exampletest.Go(t, d, fanout.Name, "fanout-too-wide", fanout.Input{N: fanout.MaxN + 1})
		if f.Status != runtime.StatusFailed || !strings.Contains(f.Error, "want 1..") {
			t.Fatalf("status %s error %q, want Failed naming the range", f.Status, f.Error)
		}
	})
}
