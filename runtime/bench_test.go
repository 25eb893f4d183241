package runtime

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// loopFixture is an instance of an orchestration that calls one activity per
// turn forever, grown to a history of at least n events.
type loopFixture struct {
	e      *Engine
	inst   *Instance // the cached instance after the last turn
	hist   []provider.Event
	meta   provider.Metadata
	result provider.Message // the next activity result to deliver
	now    time.Time
}

func loopRegistry(tb testing.TB) *Registry {
	reg := NewRegistry()
	if err := RegisterOrchestration(reg, "loop", func(ctx *OrchestrationContext, n int) (int, error) {
		for {
			if err := ctx.CallActivity("inc", n).Await(&n); err != nil {
				return 0, err
			}
		}
	}); err != nil {
		tb.Fatal(err)
	}
	return reg
}

func newLoopFixture(tb testing.TB, n int) *loopFixture {
	f := &loopFixture{
		e: &Engine{reg: loopRegistry(tb), codec: JSONCodec{}, limits: Limits{MaxEventsPerPartition: 1 << 40}.withDefaults(), logger: discardLogger(),
			orchestratorQueue: DefaultOrchestratorQueue, activityQueue: DefaultActivityQueue, maxDeliveries: 10, unknownAttempts: 1},
		now:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		meta: provider.Metadata{},
	}
	f.result = provider.Message{ID: "start", Entity: "loop-1", Attempt: 1,
		Data: encodeEnvelope(&envelope{kind: msgStart, ev: Event{Name: "loop", Payload: []byte("0")}})}
	for len(f.hist) < n {
		f.advance(tb)
	}
	return f
}

// batch is the fetch the next turn sees.
func (f *loopFixture) batch() *provider.EntityBatch {
	return &provider.EntityBatch{
		Lock:     provider.EntityLock{Queue: DefaultOrchestratorQueue, Entity: "loop-1", Token: "t"},
		History:  f.hist,
		Metadata: f.meta,
		Messages: []provider.Message{f.result},
	}
}

// advance runs one cached turn and prepares the result of the activity it
// scheduled.
func (f *loopFixture) advance(tb testing.TB) {
	f.now = f.now.Add(time.Millisecond)
	res := f.e.turn(f.inst, f.batch(), f.now)
	if res.inst == nil || len(res.commit.Send) != 1 {
		tb.Fatalf("unexpected turn result: %s", describeCommit(res.commit))
	}
	f.inst = res.inst
	f.hist = append(f.hist, res.commit.Events...)
	for k, v := range res.commit.SetMetadata {
		f.meta[k] = v
	}
	task, err := decodeEnvelope(res.commit.Send[0].Message.Data)
	if err != nil {
		tb.Fatal(err)
	}
	out := envelope{kind: msgActivityResult, partition: task.partition, ev: Event{Decision: task.ev.Decision, Payload: []byte(fmt.Sprint(task.ev.Decision + 1))}}
	f.result = provider.Message{ID: messageID("loop-1", 0, idResult, task.ev.Decision), Entity: "loop-1", Attempt: 1, Data: encodeEnvelope(&out)}
}

// BenchmarkTurnCached measures one turn (deliver an activity result,
// schedule the next activity, build the commit) on a cached instance. Its
// cost must not depend on the history length.
func BenchmarkTurnCached(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("history=%d", n), func(b *testing.B) {
			f := newLoopFixture(b, n)
			defer func() { f.inst.stop() }()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				f.advance(b)
			}
		})
	}
}

// BenchmarkTurnReplay measures the same turn without the cache: the history
// is replayed first. ns/event is the replay cost per history event.
func BenchmarkTurnReplay(b *testing.B) {
	for _, n := range []int{10, 1_000, 10_000} {
		b.Run(fmt.Sprintf("history=%d", n), func(b *testing.B) {
			f := newLoopFixture(b, n)
			f.inst.stop()
			batch := f.batch()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				res := f.e.turn(nil, batch, f.now)
				if res.inst == nil {
					b.Fatal("no instance")
				}
				res.inst.stop()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(f.hist)), "ns/event")
		})
	}
}

// BenchmarkEventCodec measures encoding and decoding one typical event.
func BenchmarkEventCodec(b *testing.B) {
	ev := Event{Kind: KindActivityScheduled, Decision: 1234, Name: "charge-card", Payload: []byte(`{"order":"o-42","amount":1999}`)}
	b.ReportAllocs()
	var buf []byte
	for range b.N {
		buf = appendEvent(buf[:0], &ev)
		if _, err := DecodeEvent(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLoopFixtureRoundTrip keeps the benchmark fixture honest.
func TestLoopFixtureRoundTrip(t *testing.T) {
	f := newLoopFixture(t, 100)
	defer f.inst.stop()
	res := f.e.turn(nil, f.batch(), f.now.Add(time.Millisecond))
	defer func() {
		if res.inst != nil {
			res.inst.stop()
		}
	}()
	f.advance(t)
	if len(res.commit.Events) != 3 {
		t.Fatalf("replayed turn appended %d events, want 3", len(res.commit.Events))
	}
	_ = context.Background()
}
