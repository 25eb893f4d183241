// Package hello is the smallest Reprise example: an orchestration that calls
// one activity and returns its result, "Hello, <name>!".
//
//	reprise start hello --input '"world"' --wait
package hello

import (
	"context"

	"github.com/reprise/reprise/runtime"
)

// Names under which Register registers the example.
const (
	// Name is the orchestration: input a name (JSON string), output the
	// greeting.
	Name = "hello"
	// ActivityGreet is the activity that builds the greeting.
	ActivityGreet = "hello.greet"
)

// Register registers the hello orchestration and its activity in reg.
func Register(reg *runtime.Registry) error {
	if err := runtime.RegisterOrchestration(reg, Name, Orchestration); err != nil {
		return err
	}
	return runtime.RegisterActivity(reg, ActivityGreet, Greet)
}

// Orchestration greets name through the greet activity.
func Orchestration(ctx *runtime.OrchestrationContext, name string) (string, error) {
	var greeting string
	if err := ctx.CallActivity(ActivityGreet, name).Await(&greeting); err != nil {
		return "", err
	}
	return greeting, nil
}

// Greet returns "Hello, <name>!", greeting the world when name is empty.
func Greet(_ context.Context, name string) (string, error) {
	if name == "" {
		name = "world"
	}
	return "Hello, " + name + "!", nil
}
