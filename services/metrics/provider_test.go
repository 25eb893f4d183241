package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/provider/providertest"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/metrics"
)

// The decorator must not change behaviour: the conformance suite passes
// through it (FaultInjector included).
func TestInstrumentedProviderConforms(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance suite")
	}
	m := metrics.New(metrics.Options{})
	providertest.Run(t, func(t *testing.T, topo provider.Topology) provider.Provider {
		p, err := memory.New(topo)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return metrics.InstrumentProvider(p, m)
	})
}

func TestInstrumentedProviderForwardsFaultInjection(t *testing.T) {
	m := metrics.New(metrics.Options{})
	ip := metrics.InstrumentProvider(newMemory(t), m)
	fi, ok := provider.As[provider.FaultInjector](ip)
	if !ok {
		t.Fatal("the decorated memory provider lost FaultInjector")
	}
	if len(fi.CommitSteps()) == 0 {
		t.Fatal("no commit steps forwarded")
	}
	if _, ok := provider.As[provider.FaultInjector](metrics.InstrumentProvider(struct{ provider.Provider }{newMemory(t)}, m)); ok {
		t.Fatal("a provider without FaultInjector gained it")
	}
}

// dedupOnly has the DedupSender capability of the memory provider but not
// its FaultInjector.
type dedupOnly struct {
	provider.Provider
	provider.DedupSender
}

func TestInstrumentedProviderForwardsDedupSender(t *testing.T) {
	m := metrics.New(metrics.Options{})
	mem := newMemory(t)
	for name, p := range map[string]provider.Provider{
		"memory":     mem,
		"dedup only": dedupOnly{Provider: mem, DedupSender: mem.(provider.DedupSender)},
	} {
		ds, ok := metrics.InstrumentProvider(p, m).(provider.DedupSender)
		if !ok {
			t.Fatalf("%s: the decorated provider lost DedupSender", name)
		}
		_, faults := provider.As[provider.FaultInjector](metrics.InstrumentProvider(p, m))
		_, hadFaults := p.(provider.FaultInjector)
		if faults != hadFaults {
			t.Fatalf("%s: FaultInjector %v after decoration, %v before", name, faults, hadFaults)
		}
		o := provider.Outgoing{Queue: "q", Message: provider.Message{ID: "dup-" + name, Entity: "e", Data: []byte("x")}}
		for i, want := range []bool{true, false} {
			if enqueued, err := ds.SendNew(context.Background(), o); err != nil || enqueued != want {
				t.Fatalf("%s: SendNew #%d = %v, %v; want %v", name, i+1, enqueued, err, want)
			}
		}
	}
	if got := opCounts(t, m)[[2]string{metrics.OpSend, "ok"}]; got != 4 {
		t.Fatalf("SendNew timed %d times as send, want 4", got)
	}
	if _, ok := metrics.InstrumentProvider(struct{ provider.Provider }{mem}, m).(provider.DedupSender); ok {
		t.Fatal("a provider without DedupSender gained it")
	}
}

// flushLater is a provider.DeferredCommitter whose commits are durable
// once flushed is closed.
type flushLater struct {
	provider.Provider
	flushed chan struct{}
}

func (f flushLater) CommitDeferred(ctx context.Context, l provider.EntityLock, c provider.Commit) (func(context.Context) error, error) {
	if err := f.Provider.Commit(ctx, l, c); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		select {
		case <-f.flushed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil
}

// A deferred commit is timed as a commit once it is durable; over a
// provider without the capability, CommitDeferred is Commit, timed at once.
func TestInstrumentedProviderTimesDeferredCommitsUntilDurable(t *testing.T) {
	ctx := context.Background()
	m := metrics.New(metrics.Options{})
	lock := func(p provider.Provider, id string) provider.EntityLock {
		t.Helper()
		if err := p.Send(ctx, provider.Outgoing{Queue: runtime.DefaultOrchestratorQueue, Message: provider.Message{ID: id, Entity: id, Data: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
		b, err := p.FetchEntity(ctx, runtime.DefaultOrchestratorQueue)
		if err != nil {
			t.Fatal(err)
		}
		return b.Lock
	}
	commits := func() uint64 { return opCounts(t, m)[[2]string{metrics.OpCommit, "ok"}] }

	deferred := flushLater{Provider: newMemory(t), flushed: make(chan struct{})}
	ip := metrics.InstrumentProvider(deferred, m).(provider.DeferredCommitter)
	wait, err := ip.CommitDeferred(ctx, lock(deferred, "a"), provider.Commit{})
	if err != nil || wait == nil {
		t.Fatalf("CommitDeferred = wait %v, %v; want a wait", wait != nil, err)
	}
	if n := commits(); n != 0 {
		t.Fatalf("%d commits timed before the flush, want 0", n)
	}
	close(deferred.flushed)
	if err := wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := commits(); n != 1 {
		t.Fatalf("%d commits timed after the flush, want 1", n)
	}

	plain := newMemory(t)
	wait, err = metrics.InstrumentProvider(plain, m).(provider.DeferredCommitter).CommitDeferred(ctx, lock(plain, "b"), provider.Commit{})
	if err != nil || wait != nil {
		t.Fatalf("CommitDeferred over a provider without it = wait %v, %v; want Commit with no wait", wait != nil, err)
	}
	if n := commits(); n != 2 {
		t.Fatalf("%d commits timed, want 2", n)
	}
}

// Every optional capability survives the decorator: HealthChecker too
// (it used to be dropped), answering for the decorated provider.
func TestInstrumentedProviderKeepsHealthChecker(t *testing.T) {
	m := metrics.New(metrics.Options{})
	mem := newMemory(t)
	ip := metrics.InstrumentProvider(mem, m)
	h, ok := provider.As[provider.HealthChecker](ip)
	if !ok {
		t.Fatal("the decorated memory provider lost HealthChecker")
	}
	if err := h.Healthy(context.Background()); err != nil {
		t.Fatalf("Healthy on an open provider: %v", err)
	}
	if err := ip.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Healthy(context.Background()); !errors.Is(err, provider.ErrClosed) {
		t.Fatalf("Healthy after Close = %v, want ErrClosed", err)
	}
	if _, ok := provider.As[provider.HealthChecker](metrics.InstrumentProvider(struct{ provider.Provider }{newMemory(t)}, m)); ok {
		t.Fatal("a provider without HealthChecker gained it")
	}
}

// opCounts returns the sample count of every (operation, result) series.
func opCounts(t *testing.T, m *metrics.Metrics) map[[2]string]uint64 {
	t.Helper()
	out := map[[2]string]uint64{}
	for _, metric := range repriseFamilies(t, m)["reprise_provider_operation_duration_seconds"].GetMetric() {
		key := [2]string{labelValue(metric, "operation"), labelValue(metric, "result")}
		out[key] = metric.GetHistogram().GetSampleCount()
	}
	return out
}

func TestInstrumentedProviderTimesEveryOperation(t *testing.T) {
	m := metrics.New(metrics.Options{})
	p := metrics.InstrumentProvider(newMemory(t), m)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	orch, act := runtime.DefaultOrchestratorQueue, runtime.DefaultActivityQueue
	must(p.Send(ctx,
		provider.Outgoing{Queue: orch, Message: provider.Message{ID: "m1", Entity: "e1", Data: []byte("x")}},
		provider.Outgoing{Queue: orch, Message: provider.Message{ID: "m2", Entity: "e2", Data: []byte("x")}},
		provider.Outgoing{Queue: act, Message: provider.Message{ID: "w1", Entity: "e1", Data: []byte("x")}},
		provider.Outgoing{Queue: act, Message: provider.Message{ID: "w2", Entity: "e1", Data: []byte("x")}},
	))
	b, err := p.FetchEntity(ctx, orch)
	must(err)
	_, err = p.RenewEntityLock(ctx, b.Lock)
	must(err)
	must(p.Commit(ctx, b.Lock, provider.Commit{Events: []provider.Event{{Seq: 0, Data: []byte("e")}},
		SetMetadata: provider.Metadata{runtime.MetaStatus: "Running"}}))
	b2, err := p.FetchEntity(ctx, orch)
	must(err)
	must(p.AbandonEntity(ctx, b2.Lock, 0))
	w, err := p.FetchWork(ctx, act)
	must(err)
	_, err = p.RenewWorkLock(ctx, w.Lock)
	must(err)
	must(p.CompleteWork(ctx, w.Lock, nil))
	w2, err := p.FetchWork(ctx, act)
	must(err)
	must(p.AbandonWork(ctx, w2.Lock, 0))
	_, err = p.History(ctx, b.Lock.Entity, 0)
	must(err)
	_, err = p.CurrentPartition(ctx, b.Lock.Entity)
	must(err)
	_, err = p.Metadata(ctx, b.Lock.Entity)
	must(err)
	_, err = p.ListEntities(ctx, provider.ListQuery{Key: runtime.MetaStatus, Value: "Running"})
	must(err)
	_, err = p.QueueDepth(ctx, act)
	must(err)
	must(p.DeleteEntity(ctx, b.Lock.Entity))
	// A stale lock fails: the error series counts it.
	if err := p.Commit(ctx, b.Lock, provider.Commit{}); !errors.Is(err, provider.ErrLockLost) {
		t.Fatalf("commit on a released lock: %v, want ErrLockLost", err)
	}

	got := opCounts(t, m)
	for _, op := range []string{
		metrics.OpFetchEntity, metrics.OpRenewEntityLock, metrics.OpAbandonEntity, metrics.OpFetchWork,
		metrics.OpCompleteWork, metrics.OpRenewWorkLock, metrics.OpAbandonWork, metrics.OpSend, metrics.OpHistory,
		metrics.OpCurrentPartition, metrics.OpMetadata, metrics.OpListEntities, metrics.OpDeleteEntity, metrics.OpQueueDepth,
	} {
		want := uint64(1)
		if op == metrics.OpFetchEntity || op == metrics.OpFetchWork {
			want = 2
		}
		if got[[2]string{op, "ok"}] != want || got[[2]string{op, "error"}] != 0 {
			t.Errorf("%s: ok %d error %d, want ok %d error 0", op, got[[2]string{op, "ok"}], got[[2]string{op, "error"}], want)
		}
	}
	if c := [2]uint64{got[[2]string{metrics.OpCommit, "ok"}], got[[2]string{metrics.OpCommit, "error"}]}; c != [2]uint64{1, 1} {
		t.Errorf("commit: ok %d error %d, want 1 and 1", c[0], c[1])
	}
	// Every series exists from the start: 15 operations × 2 results.
	if len(got) != 30 {
		t.Errorf("%d operation series, want 30", len(got))
	}
}

// A blocked fetch ended by its context is an error observation.
func TestInstrumentedFetchEndedByContextIsAnError(t *testing.T) {
	m := metrics.New(metrics.Options{})
	p := metrics.InstrumentProvider(newMemory(t), m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.FetchWork(ctx, runtime.DefaultActivityQueue)
		done <- err
	}()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("fetch on an empty queue returned no error after cancel")
	}
	if got := opCounts(t, m)[[2]string{metrics.OpFetchWork, "error"}]; got != 1 {
		t.Fatalf("fetch_work errors %d, want 1", got)
	}
}
