package runtimetest_test

// Exactly-once on provider/jetstream under real crashes: the connection is
// killed and the embedded server shut down with it (no graceful Close before
// that), the duplicate window is shortened to 1 s and waited out, the store
// is deleted or kept. Every test counts how often each activity really ran.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/jetstream"
	"github.com/reprise/reprise/provider/pebble"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/worker"
)

// eoWindow is the duplicate window of every exactly-once test.
const eoWindow = time.Second

// executions counts the runs of each activity call by its input.
type executions struct {
	mu   sync.Mutex
	runs map[string]int
	ran  chan string
}

func newExecutions() *executions {
	return &executions{runs: map[string]int{}, ran: make(chan string, 1<<16)}
}

func (x *executions) record(key string) {
	x.mu.Lock()
	x.runs[key]++
	x.mu.Unlock()
	select {
	case x.ran <- key:
	default:
	}
}

func (x *executions) snapshot() map[string]int {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[string]int, len(x.runs))
	for k, v := range x.runs {
		out[k] = v
	}
	return out
}

// reruns lists the activity calls that ran more than once.
func (x *executions) reruns() []string {
	var out []string
	for k, n := range x.snapshot() {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s ran %d times", k, n))
		}
	}
	return out
}

// eoNode is one orchestrator process: an embedded NATS server (its own data
// directory, so that it can be killed with the process), a Pebble store, a
// provider, a worker and a client.
type eoNode struct {
	t        *testing.T
	reg      *runtime.Registry
	natsDir  string
	storeDir string
	opts     jetstream.Options

	srv      *natsembed.Server
	notifier *runtime.Notifier
	// tasks counts the worker's activity tasks; inFlightAtKill is how many
	// it had fetched and not completed when the last crash killed the
	// server.
	tasks          taskCounter
	inFlightAtKill int64
	nc             *nats.Conn
	st             *pebble.Store
	p              *jetstream.Provider
	w              *worker.Worker
	c              *control.Client
}

func newEONode(t *testing.T, reg *runtime.Registry, opts jetstream.Options) *eoNode {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = "eo"
	}
	opts.DuplicateWindow = eoWindow
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	n := &eoNode{t: t, reg: reg, natsDir: t.TempDir(), storeDir: filepath.Join(t.TempDir(), "store"), opts: opts}
	srv, err := natsembed.Start(natsembed.Options{StoreDir: n.natsDir})
	if err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	t.Cleanup(func() { n.srv.Shutdown() })
	n.start()
	return n
}

// start opens a connection, the store, the provider, and runs a worker.
func (n *eoNode) start() {
	n.t.Helper()
	n.startProvider()
	n.startWorker()
}

func (n *eoNode) startProvider() {
	n.t.Helper()
	nc, err := nats.Connect(n.srv.ClientURL(), jetstream.ConnectOptions()...)
	if err != nil {
		n.t.Fatal(err)
	}
	// A short lock: deliveries held by a killed process come back sooner.
	topo := runtime.Topology(runtime.WithLockTimeout(3 * time.Second))
	st, err := pebble.Open(pebble.Options{Dir: n.storeDir, IndexedKeys: topo.IndexedKeys, Logger: n.opts.Logger})
	if err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := jetstream.New(ctx, nc, st, topo, n.opts)
	if err != nil {
		n.t.Fatalf("jetstream.New: %v", err)
	}
	n.nc, n.st, n.p = nc, st, p
	n.notifier = runtime.NewNotifier()
	n.c = control.New(p, control.Options{Notifier: n.notifier})
	n.t.Cleanup(n.stop)
}

func (n *eoNode) startWorker() {
	n.t.Helper()
	w, err := worker.New(&countingProvider{Provider: n.p, c: &n.tasks}, n.reg, worker.Options{Notifier: n.notifier})
	if err != nil {
		n.t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		n.t.Fatal(err)
	}
	n.w = w
}

// stop releases what start opened (after a crash, only goroutines and
// files: the connection is gone, so nothing reaches NATS).
func (n *eoNode) stop() {
	if n.w != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = n.w.Stop(ctx)
		cancel()
		n.w = nil
	}
	if n.p != nil {
		n.p.Close()
		n.p = nil
	}
	if n.st != nil {
		n.st.Close()
		n.st = nil
	}
	if n.nc != nil {
		n.nc.Close()
		n.nc = nil
	}
}

// crash kills the process: the embedded server dies with it and the
// connection drops before anything else, so nothing is flushed, acked or
// marked on the way down.
func (n *eoNode) crash() {
	n.t.Helper()
	n.srv.Shutdown()
	n.nc.Close()
	// No completion can reach the server now: the tasks fetched and not
	// completed were in flight at the kill.
	n.inFlightAtKill = n.tasks.fetched.Load() - n.tasks.completed.Load()
	n.stop()
}

// taskCounter counts activity tasks fetched and ended: CompleteWork
// returned without error (the server has the result and the ack), or
// AbandonWork did (the task is back in its queue, not in flight).
type taskCounter struct {
	fetched, completed atomic.Int64
}

// countingProvider is the provider as the worker sees it, counting its
// activity tasks.
type countingProvider struct {
	provider.Provider
	c *taskCounter
}

func (cp *countingProvider) FetchWork(ctx context.Context, queue string) (*provider.WorkItem, error) {
	item, err := cp.Provider.FetchWork(ctx, queue)
	if err == nil {
		cp.c.fetched.Add(1)
	}
	return item, err
}

func (cp *countingProvider) CompleteWork(ctx context.Context, l provider.WorkLock, replies []provider.Outgoing) error {
	err := cp.Provider.CompleteWork(ctx, l, replies)
	if err == nil {
		cp.c.completed.Add(1)
	}
	return err
}

func (cp *countingProvider) AbandonWork(ctx context.Context, l provider.WorkLock, delay time.Duration) error {
	err := cp.Provider.AbandonWork(ctx, l, delay)
	if err == nil {
		cp.c.completed.Add(1)
	}
	return err
}

// restart starts the server again on its data after the duplicate window has
// passed, optionally on an empty store, and the orchestrator on it.
func (n *eoNode) restart(emptyStore bool) {
	n.t.Helper()
	time.Sleep(eoWindow + 200*time.Millisecond) // past the shortened duplicate window
	if emptyStore {
		if err := os.RemoveAll(n.storeDir); err != nil {
			n.t.Fatal(err)
		}
	}
	if err := n.srv.Restart(); err != nil {
		n.t.Fatal(err)
	}
	n.start()
}

func (n *eoNode) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	n.t.Cleanup(cancel)
	return ctx
}

// awaitSettled waits until the provider has confirmed the dispatch of
// everything it wrote or read (a crash now re-sends nothing).
func (n *eoNode) awaitSettled() {
	n.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !n.p.Settled() {
		if time.Now().After(deadline) {
			n.t.Fatal("provider not settled after a minute")
		}
		time.Sleep(10 * time.Millisecond) // settling is a background tick; there is no event to await
	}
}

// awaitIdle waits until no task or message is queued and the provider is
// settled: whatever recovery re-sent has run.
func (n *eoNode) awaitIdle() {
	n.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		settled := n.p.Settled()
		idle := settled
		var depths []string
		for _, q := range []string{runtime.DefaultActivityQueue, runtime.DefaultOrchestratorQueue} {
			d, err := n.p.QueueDepth(n.ctx(), q)
			idle = idle && err == nil && d == 0
			depths = append(depths, fmt.Sprintf("%s: %d (err %v)", q, d, err))
		}
		if idle {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("not idle after a minute: settled %v, queue depths %s; orchestrator messages stored: %s",
				settled, strings.Join(depths, ", "), n.storedOrchestratorMessages())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// storedOrchestratorMessages describes the messages of the orchestrator
// queue still in the work stream (the last of each subject, up to 5
// subjects): what a test that found the queue not idle reports.
func (n *eoNode) storedOrchestratorMessages() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := natsjs.New(n.nc)
	if err != nil {
		return err.Error()
	}
	s, err := js.Stream(ctx, n.opts.Prefix+"_work")
	if err != nil {
		return err.Error()
	}
	info, err := s.Info(ctx, natsjs.WithSubjectFilter(n.opts.Prefix+".q."+runtime.DefaultOrchestratorQueue+".>"))
	if err != nil {
		return err.Error()
	}
	var out []string
	for subject, count := range info.State.Subjects {
		if len(out) == 5 {
			out = append(out, "...")
			break
		}
		m, err := s.GetLastMsgForSubject(ctx, subject)
		if err != nil {
			out = append(out, fmt.Sprintf("%s (%d): %v", subject, count, err))
			continue
		}
		data := m.Data
		if len(data) > 300 {
			data = data[:300]
		}
		out = append(out, fmt.Sprintf("%s (%d): seq %d stored %s headers %v data %q", subject, count, m.Sequence, m.Time.Format(time.RFC3339Nano), m.Header, data))
	}
	return fmt.Sprintf("%d in %d subjects: %s", info.State.Msgs, len(info.State.Subjects), strings.Join(out, "; "))
}

// mixedWorkload registers "mixed": an activity, a timer, a child with an
// activity of its own, another activity; every activity counts its runs.
func mixedWorkload(t *testing.T, x *executions) *runtime.Registry {
	reg := runtime.NewRegistry()
	must(t, runtime.RegisterActivity(reg, "count", func(_ context.Context, key string) (string, error) {
		x.record(key)
		return key, nil
	}))
	must(t, runtime.RegisterOrchestration(reg, "child", func(ctx *runtime.OrchestrationContext, key string) (string, error) {
		var out string
		err := ctx.CallActivity("count", key+"/x").Await(&out)
		return out, err
	}))
	must(t, runtime.RegisterOrchestration(reg, "mixed", func(ctx *runtime.OrchestrationContext, key string) (string, error) {
		if err := ctx.CallActivity("count", key+"/a1").Await(nil); err != nil {
			return "", err
		}
		if err := ctx.CreateTimer(5 * time.Millisecond).Await(nil); err != nil {
			return "", err
		}
		var child string
		if err := ctx.CallSubOrchestration("child", key+"/c", runtime.WithInstanceID(key+"-child")).Await(&child); err != nil {
			return "", err
		}
		if err := ctx.CallActivity("count", key+"/a2").Await(nil); err != nil {
			return "", err
		}
		return child, nil
	}))
	return reg
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// runMixed starts count instances of "mixed" and waits for all of them.
func runMixed(t *testing.T, n *eoNode, from, count int) []string {
	t.Helper()
	ids := make([]string, 0, count)
	for i := from; i < from+count; i++ {
		id := "m" + strconv.Itoa(i)
		_, err := n.c.Start(n.ctx(), "mixed", id, control.WithID(id))
		must(t, err)
		ids = append(ids, id)
	}
	for _, id := range ids {
		st, err := n.c.Wait(n.ctx(), id)
		must(t, err)
		if st.Status != runtime.StatusCompleted {
			t.Fatalf("%s: %s %s", id, st.Status, st.Error)
		}
	}
	return ids
}

// instanceView is what a user sees of an instance: its status and history.
type instanceView struct {
	Status  runtime.Status
	Output  string
	History []runtime.Event
}

func views(t *testing.T, n *eoNode, ids []string) map[string]instanceView {
	t.Helper()
	out := map[string]instanceView{}
	for _, id := range ids {
		for _, id := range []string{id, id + "-child"} {
			st, err := n.c.Status(n.ctx(), id)
			if errors.Is(err, runtime.ErrInstanceNotFound) {
				out[id] = instanceView{Status: "not found"}
				continue
			}
			must(t, err)
			h, err := n.c.History(n.ctx(), id)
			must(t, err)
			out[id] = instanceView{Status: st.Status, Output: string(st.Output), History: h}
		}
	}
	return out
}

func compareViews(t *testing.T, before, after map[string]instanceView) {
	t.Helper()
	for id, b := range before {
		a := after[id]
		if a.Status != b.Status || a.Output != b.Output || !reflect.DeepEqual(a.History, b.History) {
			t.Errorf("%s changed across the restart: before %s %q (%d events), after %s %q (%d events)",
				id, b.Status, b.Output, len(b.History), a.Status, a.Output, len(a.History))
		}
	}
}

// eoInstances is the size of the rebuild test: a short variant in make
// test, 1,000 with make exactly-once (REPRISE_EO_INSTANCES).
func eoInstances(t *testing.T, def int) int {
	if v := os.Getenv("REPRISE_EO_INSTANCES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("REPRISE_EO_INSTANCES=%q: %v", v, err)
		}
		return n
	}
	return def
}

// TestRebuiltStoreResendsNothing is case 1 and the rebuild acceptance test:
// a mixed workload runs to the end, some instances are purged, the process
// is killed with its server, the Pebble directory is deleted and the
// orchestrator restarts on the same NATS data past the duplicate window.
// Nothing runs again, no purged instance comes back, every status and
// history is what it was.
func TestRebuiltStoreResendsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS server: skipped in -short")
	}
	x := newExecutions()
	n := newEONode(t, mixedWorkload(t, x), jetstream.Options{Shards: 4})
	count := eoInstances(t, 200)
	ids := runMixed(t, n, 0, count)
	var purged []string
	for i, id := range ids {
		if i%10 == 0 {
			must(t, n.c.Purge(n.ctx(), id))
			must(t, n.c.Purge(n.ctx(), id+"-child"))
			purged = append(purged, id)
		}
	}
	before := views(t, n, ids)
	ran := x.snapshot()
	if got := len(ran); got != 3*count {
		t.Fatalf("%d activity calls ran, want %d", got, 3*count)
	}
	n.awaitSettled()
	n.crash()

	n.restart(true)
	r := n.p.Recovered()
	t.Logf("%d instances (%d activity calls, %d purged with their children); rebuilt from an empty store: %d log records replayed, %d re-sent",
		count, len(ran), len(purged), r.Records, r.Redispatched)
	if r.Redispatched != 0 || r.Messages != 0 {
		t.Errorf("recovery on an empty store re-sent %d records (%d messages), want 0", r.Redispatched, r.Messages)
	}
	n.awaitIdle()
	compareViews(t, before, views(t, n, ids))
	if reruns := x.reruns(); len(reruns) > 0 {
		t.Fatalf("%d activity calls ran again after the rebuild: %v", len(reruns), reruns[:min(len(reruns), 10)])
	}
	if !reflect.DeepEqual(ran, x.snapshot()) {
		t.Fatal("activity executions changed across the rebuild")
	}
	for _, id := range purged {
		if _, err := n.c.Status(n.ctx(), id); !errors.Is(err, runtime.ErrInstanceNotFound) {
			t.Errorf("purged instance %s is back: %v", id, err)
		}
	}
	// The engine still works on the rebuilt store.
	runMixed(t, n, count, 5)
	if reruns := x.reruns(); len(reruns) > 0 {
		t.Fatalf("re-runs after new work: %v", reruns)
	}
}

// TestKillAfterCompletionReRunsNothing is case 3: in the embedded default a
// kill (process and server) after the work finished, restart on the same
// store past the duplicate window: nothing runs again. Then a kill in the
// middle of the work: what runs again is at most what recovery reports it
// re-sent (dispatched but unconfirmed at the kill) and the activities in
// flight at the kill (fetched, their completion not confirmed: the result
// or the ack may not have reached the server).
func TestKillAfterCompletionReRunsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS server: skipped in -short")
	}
	x := newExecutions()
	n := newEONode(t, mixedWorkload(t, x), jetstream.Options{Shards: 4})
	ids := runMixed(t, n, 0, 100)
	n.awaitSettled()
	n.crash()
	n.restart(false)
	if r := n.p.Recovered(); r.Redispatched != 0 {
		t.Errorf("recovery re-sent %d records after a settled kill, want 0", r.Redispatched)
	}
	n.awaitIdle()
	if reruns := x.reruns(); len(reruns) > 0 {
		t.Fatalf("activity calls ran again after a kill: %v", reruns)
	}

	// A kill in the middle of work: after 50 activity calls of the new
	// instances (the runs of the first part are drained first).
	for drained := false; !drained; {
		select {
		case <-x.ran:
		default:
			drained = true
		}
	}
	for i := 100; i < 200; i++ {
		id := "m" + strconv.Itoa(i)
		_, err := n.c.Start(n.ctx(), "mixed", id, control.WithID(id))
		must(t, err)
		ids = append(ids, id)
	}
	for range 50 {
		<-x.ran
	}
	n.crash()
	inFlight := int(n.inFlightAtKill)
	n.restart(false)
	resent := n.p.Recovered().Messages
	for _, id := range ids {
		st, err := n.c.Wait(n.ctx(), id)
		must(t, err)
		if st.Status != runtime.StatusCompleted {
			t.Fatalf("%s: %s %s", id, st.Status, st.Error)
		}
	}
	n.awaitIdle()
	reruns := x.reruns()
	t.Logf("kill mid-work: recovery re-sent %d messages, %d activity tasks were in flight (%d fetched in all); %d activity calls ran twice",
		resent, inFlight, n.tasks.fetched.Load(), len(reruns))
	if len(reruns) > resent+inFlight {
		t.Fatalf("%d re-runs, more than the %d messages re-sent as unconfirmed and the %d tasks in flight at the kill: %v",
			len(reruns), resent, inFlight, reruns)
	}
}

// TestFailedDispatchCompletesInBackground is case 2: the dispatch of a
// commit fails; with no read of the instance, the task still goes out and
// the instance finishes, and the dispatch mark moves past the record.
func TestFailedDispatchCompletesInBackground(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS server: skipped in -short")
	}
	x := newExecutions()
	n := newEONode(t, mixedWorkload(t, x), jetstream.Options{Shards: 4})
	for _, step := range []string{"before-dispatch", "mid-dispatch", "before-apply"} {
		key := "fd-" + step
		n.p.FailNextCommitAt(step)
		_, err := n.c.Start(n.ctx(), "mixed", key, control.WithID(key))
		must(t, err)
		deadline := time.After(30 * time.Second)
	wait:
		for {
			select {
			case k := <-x.ran:
				if k == key+"/a2" {
					break wait
				}
			case <-deadline:
				t.Fatalf("%s: the instance did not finish without a read (ran: %v)", step, x.snapshot())
			}
		}
		n.awaitSettled()
	}
	if reruns := x.reruns(); len(reruns) > 0 {
		t.Fatalf("re-runs: %v", reruns)
	}
	// And across a kill: nothing is sent again.
	n.crash()
	n.restart(true)
	if r := n.p.Recovered(); r.Redispatched != 0 {
		t.Errorf("recovery re-sent %d records, want 0", r.Redispatched)
	}
	n.awaitIdle()
	if reruns := x.reruns(); len(reruns) > 0 {
		t.Fatalf("re-runs after the kill: %v", reruns)
	}
}

// TestRecordsOfAnotherOwnerAreApplied is case 4: two processes own the same
// shards at once (a zombie, a misconfiguration); each applies the other's
// records, and after a kill and a restart on its store each still answers
// every instance right. Every activity runs once.
func TestRecordsOfAnotherOwnerAreApplied(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS server: skipped in -short")
	}
	x := newExecutions()
	reg := mixedWorkload(t, x)
	a := newEONode(t, reg, jetstream.Options{Shards: 2})
	// b: a second orchestrator on the same server and streams.
	b := &eoNode{t: t, reg: reg, natsDir: a.natsDir, storeDir: filepath.Join(t.TempDir(), "store"), opts: a.opts, srv: a.srv}
	b.start()
	ids := runMixed(t, a, 0, 60)
	a.awaitSettled()
	b.awaitSettled()
	check := func(n *eoNode, who string) {
		t.Helper()
		for _, id := range ids {
			for _, id := range []string{id, id + "-child"} {
				md, err := n.p.Metadata(n.ctx(), id)
				if err != nil || md[runtime.MetaStatus] != string(runtime.StatusCompleted) {
					t.Fatalf("%s's store: %s is %q (%v), want Completed", who, id, md[runtime.MetaStatus], err)
				}
			}
		}
	}
	check(a, "a")
	check(b, "b")
	b.stop()
	a.crash()
	a.restart(false)
	check(a, "a after a kill")
	a.awaitIdle()
	if reruns := x.reruns(); len(reruns) > 0 {
		t.Fatalf("re-runs: %v", reruns)
	}
}

// TestCommitTooLargeFailsTheInstance is case 5: a fan-out whose commit
// record exceeds the server's max_payload fails the instance at once with an
// error naming the size and the limit; no task goes out.
func TestCommitTooLargeFailsTheInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS server: skipped in -short")
	}
	x := newExecutions()
	reg := mixedWorkload(t, x)
	must(t, runtime.RegisterOrchestration(reg, "wide", func(ctx *runtime.OrchestrationContext, width int) (int, error) {
		fs := make([]runtime.Future, width)
		for i := range fs {
			fs[i] = ctx.CallActivity("count", fmt.Sprintf("wide/%05d/%s", i, strings.Repeat("x", 1000)))
		}
		return width, ctx.WhenAll(fs...).Await(nil)
	}))
	n := newEONode(t, reg, jetstream.Options{Shards: 1})
	_, err := n.c.Start(n.ctx(), "wide", 10_000, control.WithID("wide"))
	must(t, err)
	st, err := n.c.Wait(n.ctx(), "wide")
	must(t, err)
	if st.Status != runtime.StatusFailed {
		t.Fatalf("status %s, error %q; want Failed", st.Status, st.Error)
	}
	msg := st.Error
	if !strings.Contains(msg, "bytes, over the limit of") || !strings.Contains(msg, "max_payload") {
		t.Fatalf("failure %q does not name the size and the limit", msg)
	}
	t.Logf("failure: %s", msg)
	if got := len(x.snapshot()); got != 0 {
		t.Fatalf("%d tasks ran", got)
	}
	// A narrower fan-out still works.
	_, err = n.c.Start(n.ctx(), "wide", 100, control.WithID("narrow"))
	must(t, err)
	st, err = n.c.Wait(n.ctx(), "narrow")
	must(t, err)
	if st.Status != runtime.StatusCompleted {
		t.Fatalf("narrow: %s %s", st.Status, st.Error)
	}
}
