package runtime_test

import (
	"context"
	"testing"

	"github.com/reprise/reprise/runtime"
)

func TestRegistryHasOrchestrationAndActivity(t *testing.T) {
	reg := runtime.NewRegistry()
	orch := func(ctx *runtime.OrchestrationContext, in string) (string, error) { return in, nil }
	if err := runtime.RegisterOrchestration(reg, "plain", orch); err != nil {
		t.Fatal(err)
	}
	if err := runtime.RegisterOrchestrationVersion(reg, "versioned", "v1", orch); err != nil {
		t.Fatal(err)
	}
	if err := runtime.RegisterOrchestrationVersion(reg, "versioned", "v2", orch); err != nil {
		t.Fatal(err)
	}
	if err := runtime.RegisterActivity(reg, "act", func(ctx context.Context, in string) (string, error) { return in, nil }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, version string
		want          bool
	}{
		{"plain", "", true},
		{"plain", "v1", false},
		{"versioned", "", true},
		{"versioned", "v1", true},
		{"versioned", "v2", true},
		{"versioned", "v3", false},
		{"missing", "", false},
		{"act", "", false}, // an activity is not an orchestration
	} {
		if got := reg.HasOrchestration(tc.name, tc.version); got != tc.want {
			t.Errorf("HasOrchestration(%q, %q) = %v, want %v", tc.name, tc.version, got, tc.want)
		}
	}
	if !reg.HasActivity("act") {
		t.Error(`HasActivity("act") = false, want true`)
	}
	for _, name := range []string{"plain", "missing", ""} {
		if reg.HasActivity(name) {
			t.Errorf("HasActivity(%q) = true, want false", name)
		}
	}
}
