package replaytest_test

import (
	"context"
	"errors"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
	"github.com/reprise/reprise/runtime/replaytest"
	"github.com/reprise/reprise/runtime/worker"
)

var update = flag.Bool("update", false, "re-record the golden histories in testdata")

type order struct {
	Item string `json:"item"`
	Qty  int    `json:"qty"`
}

func activities(reg *runtime.Registry) {
	for _, name := range []string{"reserve", "charge", "ship", "notify", "audit"} {
		_ = runtime.RegisterActivity(reg, name, func(_ context.Context, o order) (string, error) { return name + ":" + o.Item, nil })
	}
}

// currentOrder is the code deployed now; the golden histories are replayed
// against it.
func currentOrder(ctx *runtime.OrchestrationContext, o order) (string, error) {
	if err := ctx.CallActivity("reserve", o).Await(nil); err != nil {
		return "", err
	}
	if err := ctx.CallActivity("charge", o, runtime.WithRetry(runtime.RetryPolicy{MaxAttempts: 3})).Await(nil); err != nil {
		return "", err
	}
	if err := ctx.WaitForEvent("approve", runtime.WithEventTimeout(time.Hour)).Await(nil); err != nil {
		return "", err
	}
	ship := ctx.Go(func(ctx *runtime.OrchestrationContext) error { return ctx.CallActivity("ship", o).Await(nil) })
	notify := ctx.CallActivity("notify", o)
	if err := ctx.WhenAll(ship, notify).Await(nil); err != nil {
		return "", err
	}
	return "done:" + o.Item, nil
}

func currentLoop(ctx *runtime.OrchestrationContext, n int) (int, error) {
	if err := ctx.CreateTimer(time.Millisecond).Await(nil); err != nil {
		return 0, err
	}
	if n < 2 {
		ctx.ContinueAsNew(n + 1)
		return 0, nil
	}
	var child int
	err := ctx.CallSubOrchestration("double", n).Await(&child)
	return child, err
}

func currentRegistry() *runtime.Registry {
	reg := runtime.NewRegistry()
	activities(reg)
	_ = runtime.RegisterOrchestration(reg, "order", currentOrder)
	_ = runtime.RegisterOrchestration(reg, "loop", currentLoop)
	_ = runtime.RegisterOrchestration(reg, "double", func(_ *runtime.OrchestrationContext, n int) (int, error) { return 2 * n, nil })
	return reg
}

// Old versions of "order" that bad histories were recorded with.
var oldOrders = map[string]func(*runtime.OrchestrationContext, order) (string, error){
	// charge used to come before reserve.
	"swapped-calls": func(ctx *runtime.OrchestrationContext, o order) (string, error) {
		_ = ctx.CallActivity("charge", o).Await(nil)
		_ = ctx.CallActivity("reserve", o).Await(nil)
		return "old", nil
	},
	// a cooling-off timer used to precede everything.
	"removed-timer": func(ctx *runtime.OrchestrationContext, o order) (string, error) {
		_ = ctx.CreateTimer(time.Millisecond).Await(nil)
		return currentOrder(ctx, o)
	},
	// an audit call used to follow the shipment.
	"removed-call": func(ctx *runtime.OrchestrationContext, o order) (string, error) {
		out, err := currentOrder(ctx, o)
		if err != nil {
			return "", err
		}
		return out, ctx.CallActivity("audit", o).Await(nil)
	},
}

// badExpectations are the nondeterminism errors the bad histories must
// produce against the current code.
var badExpectations = map[string]runtime.NondeterminismError{
	"swapped-calls": {Seq: 0, Recorded: `CallActivity("charge")`, Call: `CallActivity("reserve")`},
	"removed-timer": {Seq: 0, Recorded: "CreateTimer", Call: `CallActivity("reserve")`},
	"removed-call":  {Seq: 4, Recorded: `CallActivity("audit")`, Call: ""},
}

func TestGoodHistoriesReplay(t *testing.T) {
	replaytest.ReplayDir(t, currentRegistry(), filepath.Join("testdata", "good"))
}

func TestBadHistoriesFailWithNondeterminism(t *testing.T) {
	for name, want := range badExpectations {
		t.Run(name, func(t *testing.T) {
			f, err := replaytest.Load(filepath.Join("testdata", "bad", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			err = replaytest.Replay(currentRegistry(), f)
			var nd *runtime.NondeterminismError
			if !errors.As(err, &nd) {
				t.Fatalf("want a nondeterminism error, got %v", err)
			}
			if nd.Seq != want.Seq || nd.Recorded != want.Recorded || nd.Call != want.Call {
				t.Fatalf("got %+v\nwant seq %d, recorded %q, call %q", nd, want.Seq, want.Recorded, want.Call)
			}
			if nd.EventIndex < 0 || f.Events[nd.EventIndex].Kind.String() == "" {
				t.Fatalf("position %d does not point into the history", nd.EventIndex)
			}
			t.Logf("reported: %v", err)
		})
	}
}

func TestHistoryFileRoundTrip(t *testing.T) {
	f, err := replaytest.Load(filepath.Join("testdata", "good", "order.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "copy.json")
	if err := replaytest.Save(path, f); err != nil {
		t.Fatal(err)
	}
	again, err := replaytest.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Events) != len(f.Events) {
		t.Fatalf("%d events after a round trip, want %d", len(again.Events), len(f.Events))
	}
	for i := range f.Events {
		a, b := runtime.EncodeEvent(&f.Events[i]), runtime.EncodeEvent(&again.Events[i])
		if string(a) != string(b) {
			t.Fatalf("event %d changed in a JSON round trip", i)
		}
	}
}

// TestRecordGoldenHistories re-records testdata with -update.
func TestRecordGoldenHistories(t *testing.T) {
	if !*update {
		t.Skip("run with -update to re-record the golden histories")
	}
	record := func(reg *runtime.Registry, name, id string, in any, dir, file string, partitions ...uint64) {
		p, err := memory.New(runtime.Topology())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		n := runtime.NewNotifier()
		w, err := worker.New(p, reg, worker.Options{Notifier: n})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = w.Stop(ctx) }()
		c := control.New(p, control.Options{Notifier: n})
		if _, err := c.Start(ctx, name, in, control.WithID(id)); err != nil {
			t.Fatal(err)
		}
		if name == "order" {
			if err := c.RaiseEvent(ctx, id, "approve", true); err != nil {
				t.Fatal(err)
			}
		}
		st, err := c.Wait(ctx, id)
		if err != nil || st.Status != runtime.StatusCompleted {
			t.Fatalf("%s: %+v %v", id, st, err)
		}
		if len(partitions) == 0 {
			partitions = []uint64{0}
		}
		for _, part := range partitions {
			f, err := replaytest.RecordPartition(ctx, c, id, part)
			if err != nil {
				t.Fatal(err)
			}
			out := file
			if len(partitions) > 1 {
				out = file + "-partition" + string(rune('0'+part))
			}
			if err := replaytest.Save(filepath.Join("testdata", dir, out+".json"), f); err != nil {
				t.Fatal(err)
			}
		}
	}
	record(currentRegistry(), "order", "order-1", order{Item: "book", Qty: 2}, "good", "order")
	loopReg := currentRegistry()
	record(loopReg, "loop", "loop-1", 0, "good", "loop", 0, 1, 2)
	for name, fn := range oldOrders {
		reg := runtime.NewRegistry()
		activities(reg)
		_ = runtime.RegisterOrchestration(reg, "order", fn)
		record(reg, "order", "order-"+name, order{Item: "pen", Qty: 1}, "bad", name)
	}
}
