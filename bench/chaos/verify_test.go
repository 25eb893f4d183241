package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reprise/reprise/bench/chaos/internal/workload"
	"github.com/reprise/reprise/client"
)

// verifier checks the state after the run.
type verifier struct {
	t       *testing.T
	c       *client.Client
	plan    plan
	results map[string]result
}

// outputs checks that every instance the loader started completed with
// the expected output.
func (v verifier) outputs() {
	bad := 0
	for _, id := range sortedKeys(v.results) {
		r := v.results[id]
		if r.err != nil {
			v.t.Errorf("%s: %v", id, r.err)
			bad++
			continue
		}
		var out workload.OrderOutput
		if r.status.Status != client.StatusCompleted {
			v.t.Errorf("%s finished %s (error %q), want Completed", id, r.status.Status, r.status.Error)
		} else if err := r.status.DecodeOutput(&out); err != nil {
			v.t.Errorf("%s: %v", id, err)
		} else if want := expectedSum(r.n); out.Sum != want {
			v.t.Errorf("%s: output sum %d, want %d", id, out.Sum, want)
		} else {
			continue
		}
		bad++
	}
	if bad > 0 {
		v.t.Fatalf("%d of %d instances did not complete with the expected output", bad, len(v.results))
	}
}

// listing checks that the server lists exactly the started instances and
// their children, all completed: none lost, none extra.
func (v verifier) listing(ctx context.Context) {
	seen := map[string]client.Status{}
	for st, err := range v.c.Instances(ctx, client.ListQuery{Limit: 1000}) {
		if err != nil {
			v.t.Fatalf("list: %v", err)
		}
		if _, dup := seen[st.ID]; dup {
			v.t.Errorf("instance %s listed twice", st.ID)
		}
		seen[st.ID] = st.Status
	}
	for id := range v.results {
		for _, want := range []string{id, workload.ChildID(id)} {
			st, ok := seen[want]
			switch {
			case !ok:
				v.t.Errorf("instance %s is not listed: lost", want)
			case st != client.StatusCompleted:
				v.t.Errorf("instance %s is listed %s, want Completed", want, st)
			}
			delete(seen, want)
		}
	}
	for _, id := range sortedKeys(seen) {
		v.t.Errorf("instance %s (%s) was never started by the test", id, seen[id])
	}
}

// histories checks every parent's and child's history for events recorded
// twice, decisions answered twice and children started twice.
func (v verifier) histories(ctx context.Context) {
	ids := make(chan string)
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for id := range ids {
				var err error
				if err = v.checkOrder(ctx, id); err == nil {
					err = v.checkChild(ctx, id)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	for _, id := range sortedKeys(v.results) {
		ids <- id
	}
	close(ids)
	wg.Wait()
	sort.Strings(errs)
	for _, e := range errs {
		v.t.Error(e)
	}
	if len(errs) == 0 {
		v.t.Logf("histories: %d parents and %d children, no event recorded twice", len(v.results), len(v.results))
	}
}

func (v verifier) checkOrder(ctx context.Context, id string) error {
	events, err := v.c.History(ctx, id)
	if err != nil {
		return fmt.Errorf("history of %s: %w", id, err)
	}
	n := v.results[id].n
	return checkHistory(id, events, shape{activities: 1 + n, timers: 1, children: []string{workload.ChildID(id)}})
}

func (v verifier) checkChild(ctx context.Context, parent string) error {
	id := workload.ChildID(parent)
	events, err := v.c.History(ctx, id)
	if err != nil {
		return fmt.Errorf("history of %s: %w", id, err)
	}
	return checkHistory(id, events, shape{activities: 1, timers: 1})
}

// shape is what one execution's history must hold.
type shape struct {
	activities, timers int
	children           []string
}

// checkHistory checks one execution's history against its shape: events
// numbered 1..len without gaps or repeats, one start and one completion,
// every scheduling decision recorded once and answered once, each child
// scheduled once under its expected id.
func checkHistory(id string, events []client.Event, want shape) error {
	counts := map[string]int{}
	scheduled := map[string]map[uint64]int{}
	answered := map[string]map[uint64]int{}
	pairs := map[string]string{
		"ActivityCompleted": "ActivityScheduled", "TimerFired": "TimerCreated",
		"SubOrchestrationCompleted": "SubOrchestrationScheduled",
	}
	var children []string
	for i, e := range events {
		if e.Seq != uint64(i+1) {
			return fmt.Errorf("%s: event %d (%s) has seq %d: the history has a gap or a repeat", id, i+1, e.Kind, e.Seq)
		}
		counts[e.Kind]++
		switch e.Kind {
		case "ActivityScheduled", "TimerCreated", "SubOrchestrationScheduled":
			if e.Decision == nil {
				return fmt.Errorf("%s: %s without a decision", id, e.Kind)
			}
			if scheduled[e.Kind] == nil {
				scheduled[e.Kind] = map[uint64]int{}
			}
			scheduled[e.Kind][*e.Decision]++
			if e.Kind == "SubOrchestrationScheduled" {
				children = append(children, e.InstanceID)
			}
		case "ActivityCompleted", "TimerFired", "SubOrchestrationCompleted":
			if e.Decision == nil {
				return fmt.Errorf("%s: %s without a decision", id, e.Kind)
			}
			if answered[e.Kind] == nil {
				answered[e.Kind] = map[uint64]int{}
			}
			answered[e.Kind][*e.Decision]++
		case "ExecutionStarted", "ExecutionCompleted", "TurnStarted":
		default:
			return fmt.Errorf("%s: unexpected %s event (seq %d): %s %s", id, e.Kind, e.Seq, e.Reason, failureText(e.Failure))
		}
	}
	if counts["ExecutionStarted"] != 1 || counts["ExecutionCompleted"] != 1 {
		return fmt.Errorf("%s: started %d times, completed %d times", id, counts["ExecutionStarted"], counts["ExecutionCompleted"])
	}
	if events[0].Kind != "TurnStarted" || events[1].Kind != "ExecutionStarted" || events[len(events)-1].Kind != "ExecutionCompleted" {
		return fmt.Errorf("%s: history starts %s, %s and ends %s", id, events[0].Kind, events[1].Kind, events[len(events)-1].Kind)
	}
	for answer, sched := range pairs {
		for d, n := range scheduled[sched] {
			if n != 1 {
				return fmt.Errorf("%s: %s for decision %d recorded %d times", id, sched, d, n)
			}
			if a := answered[answer][d]; a != 1 {
				return fmt.Errorf("%s: %s for decision %d recorded %d times, want once", id, answer, d, a)
			}
		}
		for d := range answered[answer] {
			if scheduled[sched][d] == 0 {
				return fmt.Errorf("%s: %s for decision %d that was never scheduled", id, answer, d)
			}
		}
	}
	for kind, n := range map[string]int{"ActivityScheduled": want.activities, "TimerCreated": want.timers, "SubOrchestrationScheduled": len(want.children)} {
		if counts[kind] != n {
			return fmt.Errorf("%s: %d %s events, want %d", id, counts[kind], kind, n)
		}
	}
	if strings.Join(children, ",") != strings.Join(want.children, ",") {
		return fmt.Errorf("%s: children %q, want %q", id, children, want.children)
	}
	return nil
}

func failureText(f *client.Failure) string {
	if f == nil {
		return ""
	}
	return fmt.Sprintf("%+v", *f)
}

// executions checks the activity execution log: every activity of every
// instance ran, none that should not have, and every activity that ran more
// than once has a disruption between its runs that explains the re-run:
// the earlier run's worker was killed, or the orchestrator or the NATS
// server was killed (a lost lock or a lost acknowledgement). It logs the
// counts.
func (v verifier) executions(path string, disruptions []disruption, resent int, embedded bool) {
	begins := map[string][]execution{}
	ends := map[string]int{}
	endedBy := map[string]bool{} // key and pid
	for _, e := range readExecLog(v.t, path) {
		if e.phase == workload.Begin {
			begins[e.key()] = append(begins[e.key()], e)
		} else {
			ends[e.key()]++
			endedBy[fmt.Sprint(e.key(), e.pid)] = true
		}
	}
	want := map[string]bool{}
	for id, r := range v.results {
		want[id+" "+workload.StepFirst] = true
		for i := range r.n {
			want[id+" "+workload.FanStep(i)] = true
		}
		want[workload.ChildID(id)+" "+workload.StepChild] = true
	}
	killedWorkers := map[int]bool{}
	for _, d := range disruptions {
		if d.kind == "worker" {
			killedWorkers[d.pid] = true
		}
	}
	total, reruns := 0, 0
	byCause := map[string]int{}
	perActivity := map[int]int{} // runs -> activities that ran that often
	interrupted := 0
	for _, k := range sortedKeys(want) {
		if len(begins[k]) == 0 || ends[k] == 0 {
			v.t.Errorf("activity %s: %d runs began, %d ended: lost", k, len(begins[k]), ends[k])
		}
	}
	for _, k := range sortedKeys(begins) {
		runs := begins[k]
		total += len(runs)
		if !want[k] {
			v.t.Errorf("activity %s ran but no instance of the test calls it", k)
			continue
		}
		sort.Slice(runs, func(i, j int) bool { return runs[i].at.Before(runs[j].at) })
		for i := 1; i < len(runs); i++ {
			reruns++
			cause := explain(runs[i-1], runs[i], disruptions)
			if cause == "" {
				v.t.Errorf("activity %s ran again at %s (pid %d) after a run at %s (pid %d) with no kill or restart in between",
					k, runs[i].at.Format(time.StampMicro), runs[i].pid, runs[i-1].at.Format(time.StampMicro), runs[i-1].pid)
				continue
			}
			byCause[cause]++
			v.t.Logf("re-run: activity %s ran at %s (pid %d) and again at %s (pid %d): %s", k,
				runs[i-1].at.Format(time.StampMicro), runs[i-1].pid, runs[i].at.Format(time.StampMicro), runs[i].pid, cause)
		}
		perActivity[len(runs)]++
		for _, r := range runs {
			if killedWorkers[r.pid] && !endedBy[fmt.Sprint(k, r.pid)] {
				interrupted++
			}
		}
	}
	v.t.Logf("activity executions: %d for %d activities; activities by number of runs: %v; %d re-runs: %v; %d runs cut short by a worker kill (the other re-runs after a worker kill had ended, unacknowledged)",
		total, len(want), perActivity, reruns, byCause, interrupted)
	if !embedded {
		v.t.Logf("orchestrator recoveries re-sent %d messages whose dispatch was unconfirmed; the NATS server dropped those it had (duplicate window): 0 re-runs may follow an orchestrator kill", resent)
		return
	}
	{
		n := byCause[causeEmbedded]
		// A kill of the orchestrator with its NATS server re-runs the
		// activities whose completion had not reached the server (running
		// or just ended at the kill) and those whose task recovery sent
		// again because its dispatch was not confirmed.
		inFlight := inFlightAtKills(readExecLog(v.t, path), disruptions)
		v.t.Logf("embedded NATS: %d re-runs across orchestrator kills; bound: %d tasks re-sent unconfirmed + %d activities in flight at the kills",
			n, resent, inFlight)
		if n > resent+inFlight {
			v.t.Errorf("%d re-runs across orchestrator kills exceed the %d re-sent tasks and %d activities in flight", n, resent, inFlight)
		}
	}
	if len(killedWorkers) > 0 && interrupted == 0 {
		v.t.Errorf("no activity was running in a killed worker: the worker kill tested nothing")
	}
}

// explain returns the kind of the disruption between runs a and b that
// explains b, or "": one that ended after a began and began before b began.
func explain(a, b execution, disruptions []disruption) string {
	for _, d := range disruptions {
		if d.to.Before(a.at) || d.from.After(b.at) {
			continue
		}
		switch {
		case d.kind == "worker" && d.pid == a.pid:
			return "worker killed mid-activity"
		case d.kind == "nats":
			return "NATS server killed"
		case d.kind == "embedded":
			return causeEmbedded
		}
		// An orchestrator kill explains nothing: with NATS outside the
		// orchestrator, the server remembers within its duplicate window
		// what a restarted orchestrator re-sends (only records above the
		// dispatch mark), and the orchestrator runs no activities.
	}
	return ""
}

const causeEmbedded = "orchestrator killed with its embedded NATS server"

// inFlightAtKills counts the activity runs whose completion may not have
// reached the server when an orchestrator with embedded NATS was killed:
// begun before the kill (and after the previous one), and not ended a second
// before it.
func inFlightAtKills(log []execution, disruptions []disruption) int {
	ended := map[string][]time.Time{}
	for _, e := range log {
		if e.phase != workload.Begin {
			k := fmt.Sprint(e.key(), e.pid)
			ended[k] = append(ended[k], e.at)
		}
	}
	n := 0
	var since time.Time // the previous kill: runs begun before it were counted then
	for _, d := range disruptions {
		if d.kind != "embedded" {
			continue
		}
		from := since
		since = d.to
		for _, e := range log {
			if e.phase != workload.Begin || e.at.After(d.to) || e.at.Before(from) {
				continue
			}
			settled := false
			for _, at := range ended[fmt.Sprint(e.key(), e.pid)] {
				if !at.Before(e.at) && at.Before(d.from.Add(-time.Second)) {
					settled = true
				}
			}
			if !settled {
				n++
			}
		}
	}
	return n
}
