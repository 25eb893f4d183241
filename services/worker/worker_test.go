package main

import (
	"fmt"
	"testing"

	"github.com/reprise/reprise/internal/servicetest"
)

// TestWorkerKilledMidRun runs the built orchestrator without activities and
// two built workers competing for them, kills one worker with SIGKILL while
// instances run, and checks that the other finishes every instance with no
// activity result recorded twice.
func TestWorkerKilledMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service binaries")
	}
	const (
		instances  = 200
		activities = 3
	)
	orchBin := servicetest.Build(t, "../orchestrator", "orchestrator")
	workerBin := servicetest.Build(t, ".", "worker")
	natsAddr := servicetest.FreeAddr(t)
	url := "nats://" + natsAddr
	orch := servicetest.Start(t, "orchestrator", orchBin, "-data-dir", t.TempDir(), "-nats-listen", natsAddr,
		"-metrics-addr", "127.0.0.1:0", "-activities=false", "-lock-timeout", "2s")
	workerArgs := []string{"-nats-url", url, "-metrics-addr", "127.0.0.1:0", "-lock-timeout", "2s", "-activity-concurrency", "8"}
	doomed := servicetest.Start(t, "worker 1", workerBin, workerArgs...)
	survivor := servicetest.Start(t, "worker 2", workerBin, workerArgs...)
	doomed.CheckReady(t)

	nc := servicetest.Connect(t, url)
	notes := servicetest.SubscribeNotifications(t, nc)
	id := func(i int) string { return fmt.Sprintf("wk-%03d", i) }
	servicetest.Parallel(t, instances, 16, func(i int) error { return servicetest.StartFanout(nc, id(i), activities) })
	servicetest.AwaitCompletions(t, notes, instances/5)
	doomed.Kill(t)
	servicetest.Parallel(t, instances, 16, func(i int) error { return servicetest.WaitFanout(nc, id(i), activities) })

	survivor.Terminate(t)
	orch.Terminate(t)
}
