package jetstream

import (
	"testing"
	"time"

	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/providertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	providertest.Run(t, func(t *testing.T, topo provider.Topology) provider.Provider {
		return newRig(t, sharedURL, topo, Options{Shards: 4}).p
	})
}

// TestConformanceR3 runs the suite on a 3-node in-process cluster with
// replicated (R3) streams.
func TestConformanceR3(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster: skipped in -short")
	}
	t.Parallel()
	c, err := natsembed.StartCluster("r3", 3, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	url := c.ClientURLs()
	// Locks of 3 s, not 1 s: the suite runs hundreds of providers on one
	// 3-server cluster at once, and on a loaded machine a renewal of a
	// buffered delivery (every third of the lock) came late enough once to
	// have the server redeliver it ("message m-4 has Attempt 2, want 1").
	providertest.Run(t, func(t *testing.T, topo provider.Topology) provider.Provider {
		r := newRig(t, url, topo, Options{Shards: 1, Replicas: 3})
		r.awaitStreamLeaders(t)
		return r.p
	}, providertest.WithLockTimeout(3*time.Second))
}
