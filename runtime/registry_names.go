package runtime

import (
	"maps"
	"slices"
)

// OrchestrationNames returns the registered orchestration names, sorted
// (metrics create their series for them at start-up).
func (r *Registry) OrchestrationNames() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.orchestrations))
}

// ActivityNames returns the registered activity names, sorted.
func (r *Registry) ActivityNames() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.activities))
}
