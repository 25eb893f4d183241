// Package examples holds Reprise's sample orchestrations and activities: the
// ones the orchestrator service registers by default, the README's tour and
// the benchmarks use.
//
// Each example lives in its own subpackage with a Register function:
//
//   - hello: one activity returning "Hello, <name>!".
//   - saga: an order saga (reserve inventory, charge payment, ship) whose
//     failure runs the compensations of the completed steps in reverse.
//   - fanout: fan-out/fan-in over N activities with WhenAll.
//   - approval: human approval, an external event raced against a durable
//     timer with WhenAny.
//   - monitor: a periodic monitor that sleeps on durable timers and
//     continues as new until a condition holds.
//
// The orchestration names ("hello", "saga", "fanout", "approval", "monitor")
// and the activity names (prefixed with the example's name, such as
// "hello.greet") are stable: clients in any language start them by name.
//
// This package knows only the runtime's SDK; it must not know about
// providers, services or the wire API.
package examples

import (
	"fmt"

	"github.com/reprise/reprise/examples/approval"
	"github.com/reprise/reprise/examples/fanout"
	"github.com/reprise/reprise/examples/hello"
	"github.com/reprise/reprise/examples/monitor"
	"github.com/reprise/reprise/examples/saga"
	"github.com/reprise/reprise/runtime"
)

// RegisterAll registers every example's orchestrations and activities in
// reg. It fails if any name is already registered.
func RegisterAll(reg *runtime.Registry) error {
	for _, ex := range []struct {
		name     string
		register func(*runtime.Registry) error
	}{
		{hello.Name, hello.Register},
		{saga.Name, saga.Register},
		{fanout.Name, fanout.Register},
		{approval.Name, approval.Register},
		{monitor.Name, monitor.Register},
	} {
		if err := ex.register(reg); err != nil {
			return fmt.Errorf("examples: register %s: %w", ex.name, err)
		}
	}
	return nil
}
