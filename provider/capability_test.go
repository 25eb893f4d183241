package provider_test

import (
	"context"
	"testing"

	"github.com/reprise/reprise/provider"
)

// healthy is a provider with the HealthChecker capability (its other
// methods are never called here).
type healthy struct{ provider.Provider }

func (healthy) Healthy(context.Context) error { return nil }

// decorator wraps a provider and unwraps to it.
type decorator struct{ provider.Provider }

func (d decorator) Unwrap() provider.Provider { return d.Provider }

func TestAsFindsCapabilitiesThroughDecorators(t *testing.T) {
	inner := healthy{}
	for name, p := range map[string]provider.Provider{
		"bare":          inner,
		"decorated":     decorator{inner},
		"decorated x2":  decorator{decorator{inner}},
		"hidden (bare)": struct{ provider.Provider }{inner},
	} {
		_, ok := provider.As[provider.HealthChecker](p)
		if want := name != "hidden (bare)"; ok != want {
			t.Errorf("%s: As found HealthChecker %v, want %v", name, ok, want)
		}
		if _, ok := provider.As[provider.DedupSender](p); ok {
			t.Errorf("%s: As found a DedupSender nobody implements", name)
		}
	}
	if _, ok := provider.As[provider.HealthChecker](nil); ok {
		t.Error("As found a capability on a nil provider")
	}
}
