package host_test

import (
	"strings"
	"testing"

	"github.com/reprise/reprise/examples"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// TestReadySuggestsACommandThatRuns: the ready message names the
// registered orchestrations and a command to paste; the command starts a
// registered orchestration on this node's server.
func TestReadySuggestsACommandThatRuns(t *testing.T) {
	reg := runtime.NewRegistry()
	if err := examples.RegisterAll(reg); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(reg.Orchestrations(), ","); got != "approval,fanout,hello,monitor,saga" {
		t.Fatalf("registered orchestrations %s", got)
	}
	n, _ := startNode(t, reg, nil)
	want := `go run ./cmd/reprise start hello --input '"world"' --wait --server ` + n.NATSURL()
	if got := host.NextCommand(n, reg.Orchestrations()); got != want {
		t.Fatalf("next command\n got %s\nwant %s", got, want)
	}
	if got := host.NextCommand(n, []string{"order"}); got != "go run ./cmd/reprise start order --wait --server "+n.NATSURL() {
		t.Fatalf("next command without hello: %s", got)
	}
}
