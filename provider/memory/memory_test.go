package memory_test

import (
	"testing"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/provider/providertest"
)

func newProvider(t *testing.T, topo provider.Topology) provider.Provider {
	t.Helper()
	p, err := memory.New(topo)
	if err != nil {
		t.Fatalf("memory.New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// TestConformance holds the memory provider to the provider contract.
func TestConformance(t *testing.T) {
	providertest.Run(t, newProvider)
}

// BenchmarkProvider runs the suite's benchmarks on the memory provider.
func BenchmarkProvider(b *testing.B) {
	providertest.Benchmark(b, func(b *testing.B, topo provider.Topology) provider.Provider {
		p, err := memory.New(topo)
		if err != nil {
			b.Fatalf("memory.New: %v", err)
		}
		b.Cleanup(func() { _ = p.Close() })
		return p
	})
}
