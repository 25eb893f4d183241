package runtime_test

import (
	"os/exec"
	"strings"
	"testing"
)

// coreDepsAllowed are the only packages of this module the core (package
// runtime, without its tests) may depend on: itself and the provider
// contract. Everything else — runtime/worker (the I/O loops),
// runtime/control (the client), every provider implementation, the
// services, the NATS client — is on the far side of the Ready line.
var coreDepsAllowed = map[string]bool{
	"github.com/reprise/reprise/runtime":  true,
	"github.com/reprise/reprise/provider": true,
}

// TestCoreImportsNeitherWorkerNorProviders keeps the core pure: it imports
// neither the worker nor any provider implementation, nor any third-party
// module (no I/O library can reach it).
func TestCoreImportsNeitherWorkerNorProviders(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/reprise/reprise/runtime").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	if bad := coreViolations(strings.Fields(string(out))); len(bad) > 0 {
		t.Errorf("the runtime core depends on %s", strings.Join(bad, ", "))
	}
}

// coreViolations returns the dependencies the core must not have: module
// packages outside coreDepsAllowed, and third-party packages (an import path
// whose first element has a dot; the standard library's have none).
func coreViolations(deps []string) []string {
	var bad []string
	for _, pkg := range deps {
		first, _, _ := strings.Cut(pkg, "/")
		switch {
		case strings.HasPrefix(pkg, "github.com/reprise/reprise/") || pkg == "github.com/reprise/reprise":
			if !coreDepsAllowed[pkg] {
				bad = append(bad, pkg)
			}
		case strings.Contains(first, "."):
			bad = append(bad, pkg)
		}
	}
	return bad
}

// The check itself catches what it must: a planted import of the worker or
// of a provider implementation, or a third-party module.
func TestCoreViolationsCatchesPlantedImports(t *testing.T) {
	for _, planted := range []string{
		"github.com/reprise/reprise/runtime/worker",
		"github.com/reprise/reprise/provider/memory",
		"github.com/reprise/reprise/provider/jetstream",
		"github.com/nats-io/nats.go",
	} {
		deps := []string{"context", "crypto/internal/entropy/v1.0.0", "github.com/reprise/reprise/provider", planted}
		if bad := coreViolations(deps); len(bad) != 1 || bad[0] != planted {
			t.Errorf("planted %s: violations %v", planted, bad)
		}
	}
}
