package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/reprise/reprise/internal/servicetest"
)

// TestKillAndRestart runs the built orchestrator binary on the embedded
// default, starts 500 fan-out instances (three activities each), kills the
// process with SIGKILL while they run, restarts it on the same data
// directory, and checks that every instance completes with the right
// output and that no history records an activity (an effect) twice. Then it
// starts 100 more, stops the process with SIGTERM while they run (it must
// drain and exit 0), restarts it and checks those complete too.
func TestKillAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the orchestrator binary")
	}
	const (
		instances  = 500
		activities = 3
		batch      = 100
	)
	began := time.Now()
	bin := servicetest.Build(t, ".", "orchestrator")
	t.Logf("built in %s", time.Since(began).Round(time.Millisecond))
	natsAddr := servicetest.FreeAddr(t)
	args := []string{"-data-dir", t.TempDir(), "-nats-listen", natsAddr, "-metrics-addr", "127.0.0.1:0",
		"-concurrency", "8", "-lock-timeout", "3s"}

	proc := servicetest.Start(t, "orchestrator", bin, args...)
	nc := servicetest.Connect(t, "nats://"+natsAddr)
	notes := servicetest.SubscribeNotifications(t, nc)
	id := func(i int) string { return fmt.Sprintf("crash-%03d", i) }
	servicetest.Parallel(t, instances, 16, func(i int) error { return servicetest.StartFanout(nc, id(i), activities) })
	// Kill once a fifth have finished: the rest are in every stage.
	servicetest.AwaitCompletions(t, notes, instances/5)
	proc.Kill(t)
	if err := notes.Unsubscribe(); err != nil {
		t.Fatal(err)
	}

	began = time.Now()
	proc = servicetest.Start(t, "orchestrator", bin, args...)
	t.Logf("restarted in %s", time.Since(began).Round(time.Millisecond))
	// The kill must have interrupted work, or the test proves nothing.
	running := servicetest.CountRunning(t, nc)
	if running == 0 {
		t.Fatal("no instance was running when the orchestrator restarted")
	}
	t.Logf("%d instances were running at the restart", running)
	servicetest.Parallel(t, instances, 16, func(i int) error { return servicetest.WaitFanout(nc, id(i), activities) })
	t.Logf("all %d completed %s after the restart", instances, time.Since(began).Round(time.Millisecond))

	// SIGTERM while a new batch runs: the drain ends in-flight work or hands
	// it back, and a restart finishes every instance.
	proc.CheckReady(t)
	servicetest.Parallel(t, batch, 16, func(i int) error { return servicetest.StartFanout(nc, id(instances+i), activities) })
	proc.Terminate(t)
	proc = servicetest.Start(t, "orchestrator", bin, args...)
	servicetest.Parallel(t, batch, 16, func(i int) error { return servicetest.WaitFanout(nc, id(instances+i), activities) })
	proc.Terminate(t)
}
