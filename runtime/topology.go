package runtime

import (
	"time"

	"github.com/reprise/reprise/provider"
)

// Default queue names.
const (
	// DefaultOrchestratorQueue is the entity-locked queue of orchestration
	// instances.
	DefaultOrchestratorQueue = "orchestrator"
	// DefaultActivityQueue is the work queue activities go to unless
	// [WithQueue] names another.
	DefaultActivityQueue = "activities"
	// DefaultMaxDeliveries bounds deliveries of an activity task before the
	// provider dead-letters it to the orchestrator queue.
	DefaultMaxDeliveries = 20
)

// TopologyOption adjusts [Topology].
type TopologyOption func(*provider.Topology)

// WithLockTimeout sets the provider's lock timeout.
func WithLockTimeout(d time.Duration) TopologyOption {
	return func(t *provider.Topology) { t.LockTimeout = d }
}

// WithMaxDeliveries sets how many deliveries of an activity task the
// provider attempts before dead-lettering it (the runtime then fails the
// activity).
func WithMaxDeliveries(n int) TopologyOption {
	return func(t *provider.Topology) { t.MaxDeliveries = n }
}

// Topology returns the provider topology the runtime needs: the
// entity-locked orchestrator queue (also the dead-letter queue), the indexed
// metadata keys status, name and parent, and a delivery bound for work
// queues.
func Topology(opts ...TopologyOption) provider.Topology {
	t := provider.Topology{
		EntityQueues:    []string{DefaultOrchestratorQueue},
		IndexedKeys:     []string{MetaStatus, MetaName, MetaParent},
		MaxDeliveries:   DefaultMaxDeliveries,
		DeadLetterQueue: DefaultOrchestratorQueue,
	}
	for _, o := range opts {
		o(&t)
	}
	return t
}
