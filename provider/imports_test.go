package provider_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProviderImportsNoOrchestrationCode defends DESIGN.md §1: no package
// under provider/ may depend on the runtime, the client or the services.
func TestProviderImportsNoOrchestrationCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/reprise/reprise/provider/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{"runtime", "client", "services"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			prefix := "github.com/reprise/reprise/" + f
			if pkg == prefix || strings.HasPrefix(pkg, prefix+"/") {
				t.Errorf("provider/... depends on %s", pkg)
			}
		}
	}
}
