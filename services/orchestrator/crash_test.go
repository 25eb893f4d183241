package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/internal/servicetest"
)

// TestKillAndRestart runs the built orchestrator binary on the embedded
// default, starts 500 fan-out instances (three activities each), kills the
// process with SIGKILL while they run, restarts it on the same data
// directory, and checks that every instance completes with the right
// output and that no history records an activity (an effect) twice. Then it
// starts 100 more, stops the process with SIGTERM while they run (it must
// drain and exit 0), restarts it and checks those complete too. Last, it
// schedules two starts (terminating one), kills the process before their
// time, restarts it and checks the one runs and the other never does.
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

	// Two starts scheduled just before a SIGKILL, one of them terminated:
	// the killed process's JetStream store holds the delayed start.
	at := time.Now().Add(3 * time.Second)
	scheduleFanout(t, nc, "crash-sched-run", at)
	scheduleFanout(t, nc, "crash-sched-term", at)
	var st api.InstanceStatus
	if err := servicetest.Call(nc, api.VerbTerminate, []byte(`{"id":"crash-sched-term","reason":"before the crash"}`), nil); err != nil {
		t.Fatal(err)
	}
	if err := servicetest.Call(nc, api.VerbWait, []byte(`{"id":"crash-sched-term","timeout_ms":20000}`), &st); err != nil || st.Status != api.StatusTerminated {
		t.Fatalf("terminated scheduled start: %+v, %v", st, err)
	}
	if err := servicetest.Call(nc, api.VerbStatus, []byte(`{"id":"crash-sched-run"}`), &st); err != nil || st.Status != api.StatusScheduled {
		t.Fatalf("scheduled start before the kill: %+v, %v; want Scheduled", st, err)
	}
	proc.Kill(t)
	proc = servicetest.Start(t, "orchestrator", bin, args...)
	// The scheduled start runs once, at its time; the terminated one never.
	if err := servicetest.WaitFanout(nc, "crash-sched-run", activities); err != nil {
		t.Fatal(err)
	}
	if err := servicetest.Call(nc, api.VerbStatus, []byte(`{"id":"crash-sched-run"}`), &st); err != nil || st.CreatedAt.Before(at) {
		t.Fatalf("scheduled start ran at %s, before %s (%v)", st.CreatedAt, at, err)
	}
	var h api.HistoryReply
	if err := servicetest.Call(nc, api.VerbStatus, []byte(`{"id":"crash-sched-term"}`), &st); err != nil || st.Status != api.StatusTerminated {
		t.Fatalf("terminated scheduled start after its time: %+v, %v", st, err)
	}
	if err := servicetest.Call(nc, api.VerbHistory, []byte(`{"id":"crash-sched-term"}`), &h); err != nil || len(h.Events) != 0 {
		t.Fatalf("terminated scheduled start ran: %d events, %v", len(h.Events), err)
	}
	proc.Terminate(t)
}

// scheduleFanout starts the fanout example with 3 activities as id at at
// and returns once the orchestrator recorded it as Scheduled.
func scheduleFanout(t *testing.T, nc *nats.Conn, id string, at time.Time) {
	t.Helper()
	sub, err := nc.SubscribeSync(api.NotifySubject(api.DefaultPrefix, id))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	body := fmt.Appendf(nil, `{"name":"fanout","id":%q,"input":{"n":3},"start_at":%q}`, id, at.UTC().Format(time.RFC3339Nano))
	if err := servicetest.Call(nc, api.VerbStart, body, nil); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := sub.NextMsg(20 * time.Second)
		if err != nil {
			t.Fatalf("%s never became Scheduled: %v", id, err)
		}
		var st api.InstanceStatus
		if err := json.Unmarshal(m.Data, &st); err != nil {
			t.Fatal(err)
		}
		if st.Status == api.StatusScheduled {
			return
		}
	}
}
