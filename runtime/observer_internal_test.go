package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// TestTurnStatsFollowAnInstance drives the pure turn function through the
// life of one instance and checks what each turn reports for the observer,
// and that the task and timer envelopes carry their schedule and due times.
func TestTurnStatsFollowAnInstance(t *testing.T) {
	reg := NewRegistry()
	if err := RegisterActivity(reg, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil }); err != nil {
		t.Fatal(err)
	}
	if err := RegisterOrchestration(reg, "o", func(ctx *OrchestrationContext, n int) (int, error) {
		timer := ctx.CreateTimer(time.Minute)
		act := ctx.CallActivity("double", n)
		var out int
		if err := ctx.WhenAll(timer, act).Await(nil); err != nil {
			return 0, err
		}
		return out, act.Await(&out)
	}); err != nil {
		t.Fatal(err)
	}
	e := newSim(t, reg).e
	lock := provider.EntityLock{Queue: DefaultOrchestratorQueue, Entity: "i1", Token: "t"}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	// Turn 1: a new instance starts, schedules an activity and a timer.
	start := provider.Message{ID: "start", Entity: "i1", Attempt: 1,
		Data: encodeEnvelope(&envelope{kind: msgStart, ev: Event{Name: "o", Payload: []byte("21")}})}
	r1 := e.turn(nil, &provider.EntityBatch{Lock: lock, Messages: []provider.Message{start}}, t0)
	if r1.abandon || r1.inst == nil {
		t.Fatalf("turn 1: abandon=%v (%s), inst=%v", r1.abandon, r1.reason, r1.inst)
	}
	r1.inst.stop()
	if st := r1.stats; !st.started || st.name != "o" || st.cache != CacheNone || st.finished != "" || st.replayed != 0 || st.poisoned {
		t.Fatalf("turn 1 stats %+v, want a fresh start of o, no cache, not finished", st)
	}
	var task, timer provider.Message
	for _, o := range r1.commit.Send {
		switch o.Queue {
		case DefaultActivityQueue:
			task = o.Message
		case DefaultOrchestratorQueue:
			timer = o.Message
		}
	}
	taskEnv, err := decodeEnvelope(task.Data)
	if err != nil || taskEnv.kind != msgActivityTask || !taskEnv.ev.Time.Equal(t0) {
		t.Fatalf("activity task envelope %+v (%v): want kind activity task scheduled at %s", taskEnv, err, t0)
	}
	due := t0.Add(time.Minute)
	timerEnv, err := decodeEnvelope(timer.Data)
	if err != nil || timerEnv.kind != msgTimerFired || !timerEnv.ev.Time.Equal(due) {
		t.Fatalf("timer envelope %+v (%v): want kind timer fired due at %s", timerEnv, err, due)
	}
	history := r1.commit.Events
	md := r1.commit.SetMetadata

	// Turn 2, without the cache: the timer fires 3 s late; the instance is
	// rebuilt by replaying turn 1's events.
	t1 := due.Add(3 * time.Second)
	timer.Attempt = 1
	r2 := e.turn(nil, &provider.EntityBatch{Lock: lock, History: history, Metadata: md, Messages: []provider.Message{timer}}, t1)
	if r2.inst == nil {
		t.Fatalf("turn 2 did not keep the instance: %+v", r2)
	}
	st := r2.stats
	if st.cache != CacheMiss || st.replayed != len(history) || st.started || st.finished != "" {
		t.Fatalf("turn 2 stats %+v, want a miss replaying %d events", st, len(history))
	}
	if len(st.timerLateness) != 1 || st.timerLateness[0] != 3*time.Second {
		t.Fatalf("turn 2 timer lateness %v, want [3s]", st.timerLateness)
	}
	history = append(history, r2.commit.Events...)

	// Turn 3, from the cache: the activity result completes the instance.
	t2 := t1.Add(5 * time.Second)
	result := provider.Message{ID: "result", Entity: "i1", Attempt: 1, Data: encodeEnvelope(&envelope{kind: msgActivityResult,
		partition: taskEnv.partition, ev: Event{Decision: taskEnv.ev.Decision, Payload: []byte("42")}})}
	r3 := e.turn(r2.inst, &provider.EntityBatch{Lock: lock, History: history, Metadata: md, Messages: []provider.Message{result}}, t2)
	st = r3.stats
	if st.cache != CacheHit || st.replayed != 0 || st.finished != StatusCompleted || st.elapsed != t2.Sub(t0) || len(st.timerLateness) != 0 {
		t.Fatalf("turn 3 stats %+v, want a hit that completes the instance after %s", st, t2.Sub(t0))
	}
}

func TestTurnStatsReportPoison(t *testing.T) {
	e := newSim(t, NewRegistry()).e
	msg := provider.Message{ID: "start", Entity: "p1", Attempt: e.maxDeliveries + 1,
		Data: encodeEnvelope(&envelope{kind: msgStart, ev: Event{Name: "nowhere"}})}
	r := e.turn(nil, &provider.EntityBatch{Lock: provider.EntityLock{Queue: DefaultOrchestratorQueue, Entity: "p1"},
		Messages: []provider.Message{msg}}, time.Now())
	if st := r.stats; !st.poisoned || !st.started || st.finished != StatusFailed || st.name != "nowhere" {
		t.Fatalf("stats %+v, want a poisoned fresh start of nowhere that failed", st)
	}
}

func TestTimerLatenessIgnoresStaleTimers(t *testing.T) {
	inst := &Instance{partition: 2, pending: map[uint64]*pendingCall{1: {kind: KindTimerCreated}, 2: {kind: KindActivityScheduled}}}
	now := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	due := now.Add(-4 * time.Second)
	cases := []struct {
		name string
		env  envelope
		want bool
	}{
		{"pending timer", envelope{kind: msgTimerFired, partition: 2, ev: Event{Decision: 1, Time: due}}, true},
		{"older partition", envelope{kind: msgTimerFired, partition: 1, ev: Event{Decision: 1, Time: due}}, false},
		{"not a timer decision", envelope{kind: msgTimerFired, partition: 2, ev: Event{Decision: 2, Time: due}}, false},
		{"unknown decision", envelope{kind: msgTimerFired, partition: 2, ev: Event{Decision: 9, Time: due}}, false},
		{"no due time", envelope{kind: msgTimerFired, partition: 2, ev: Event{Decision: 1}}, false},
		{"not a timer message", envelope{kind: msgActivityResult, partition: 2, ev: Event{Decision: 1, Time: due}}, false},
	}
	for _, tc := range cases {
		late, ok := timerLateness(inst, &tc.env, now)
		if ok != tc.want || (ok && late != 4*time.Second) {
			t.Errorf("%s: lateness %s, %v; want ok=%v (4s)", tc.name, late, ok, tc.want)
		}
	}
}
