package host_test

import (
	"fmt"
	"testing"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/services/host"
)

// TestFSyncModeRunsOrchestrations: with -fsync the orchestrator answers
// starts and completes orchestrations with activities, each acknowledgement
// behind a group-commit flush.
func TestFSyncModeRunsOrchestrations(t *testing.T) {
	n, nc := startNode(t, testOrchestrations(t), func(c *host.Config) { c.FSync = true })
	const instances = 20
	for i := range instances {
		ok(t, nc, api.VerbStart, fmt.Sprintf(`{"name":"twice","id":"fs-%d","input":%d}`, i, i), nil)
	}
	for i := range instances {
		st := waitTerminal(t, nc, fmt.Sprintf("fs-%d", i))
		if st.Status != api.StatusCompleted || string(st.Output) != fmt.Sprint(4*i) {
			t.Fatalf("fs-%d: %s %s, want Completed %d", i, st.Status, st.Output, 4*i)
		}
	}
	if n.Fsyncs() == 0 {
		t.Fatal("no flush in -fsync mode")
	}
	t.Logf("%d instances, %d flushes", instances, n.Fsyncs())
}
