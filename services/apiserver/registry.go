package apiserver

import (
	"errors"

	"github.com/reprise/reprise/runtime"
)

// orchestrationLister is the registry method this package prefers, once
// the runtime has it.
type orchestrationLister interface {
	HasOrchestration(name, version string) bool
}

// RegistryLookup returns an [Options.Orchestrations] function answering
// from reg.
//
// The runtime's Registry does not export a lookup yet. Until it has
// HasOrchestration(name, version string) bool (used as soon as it exists),
// the lookup asks runtime.Replay about a two-event history whose second
// event is out of order: Replay looks the recorded name and version up
// first (ErrNotRegistered when unknown) and rejects the history as corrupt
// before running any orchestration code. In that interim an empty version
// means the unversioned registration, not the latest version.
func RegistryLookup(reg *runtime.Registry) func(name, version string) bool {
	if l, ok := any(reg).(orchestrationLister); ok {
		return l.HasOrchestration
	}
	return func(name, version string) bool {
		err := runtime.Replay(reg, []runtime.Event{
			{Kind: runtime.KindExecutionStarted, Name: name, Version: version},
			{Kind: runtime.KindTimerCreated, Decision: 1},
		})
		return !errors.Is(err, runtime.ErrNotRegistered)
	}
}
