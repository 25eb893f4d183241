package runtimetest_test

import (
	"testing"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/runtime/runtimetest"
)

func TestSuiteOnMemory(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T, topo provider.Topology) provider.Provider {
		p, err := memory.New(topo)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	})
}

func TestRetentionOnMemory(t *testing.T) {
	runtimetest.RunRetention(t, func(t *testing.T, topo provider.Topology) provider.Provider {
		p, err := memory.New(topo)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}, eternalIterations(t)...)
}
