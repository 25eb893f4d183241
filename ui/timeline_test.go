package ui

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/reprise/reprise/api"
)

func dec(n uint64) *uint64 { return &n }

func TestTimelineDrawsOneRowPerCallWithItsOutcome(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	events := []api.HistoryEvent{
		{Kind: "TurnStarted", Timestamp: at(0)},
		{Kind: "ExecutionStarted", Name: "order", Timestamp: at(0)},
		{Kind: "ActivityScheduled", Name: "charge", Attempt: 1, Decision: dec(0), Timestamp: at(0)},
		{Kind: "ActivityFailed", Decision: dec(0), Timestamp: at(100), Failure: &api.Failure{Message: "card declined"}},
		{Kind: "TimerCreated", Decision: dec(1), Timestamp: at(100), FireAt: at(200)},
		{Kind: "TimerFired", Decision: dec(1), Timestamp: at(200)},
		{Kind: "ActivityScheduled", Name: "charge", Attempt: 2, Decision: dec(2), Timestamp: at(200)},
		{Kind: "ActivityCompleted", Decision: dec(2), Timestamp: at(300)},
		{Kind: "SubOrchestrationScheduled", Name: "ship", InstanceID: "o:0:3", Decision: dec(3), Timestamp: at(300)},
		{Kind: "EventRaised", Name: "poke", Timestamp: at(350)},
		{Kind: "TimerCreated", Decision: dec(4), Timestamp: at(300), FireAt: at(100_000)},
	}
	tl := buildTimeline(events, false, at(400))
	type row struct{ kind, state, label string }
	var got []row
	for _, r := range tl.Rows {
		got = append(got, row{r.Kind, r.State, r.Label})
	}
	want := []row{
		{rowExecution, statePending, "execution order"},
		{rowActivity, stateFailed, "charge"},
		{rowTimer, stateOK, "timer"},
		{rowActivity, stateOK, "charge (attempt 2)"},
		{rowChild, statePending, "child ship"},
		{rowEvent, stateOK, "event poke"},
		{rowTimer, statePending, "timer"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows\n%v\nwant\n%v", got, want)
	}
	// The axis runs from the first event to now (400 ms): the failed
	// attempt spans its first quarter; open calls run to the end.
	if r := tl.Rows[1]; r.X != tlChartX || r.W != tlChartW/4 {
		t.Errorf("failed attempt at x=%d w=%d, want %d and %d", r.X, r.W, tlChartX, tlChartW/4)
	}
	if r := tl.Rows[4]; r.X+r.W != tlChartX+tlChartW || r.Link != "o:0:3" {
		t.Errorf("pending child ends at %d (want the axis end %d), links %q", r.X+r.W, tlChartX+tlChartW, r.Link)
	}
	if !tl.Rows[5].Point {
		t.Error("an external event is not drawn as a point")
	}
	if want := "activity charge attempt 1 scheduled 2030-01-01 00:00:00.000Z\nfailed after 100ms: card declined"; tl.Rows[1].Title != want {
		t.Errorf("title %q, want %q", tl.Rows[1].Title, want)
	}
}

func TestTimelineOfAFinishedInstanceEndsAtItsLastEvent(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	events := []api.HistoryEvent{
		{Kind: "ExecutionStarted", Name: "hello", Timestamp: t0},
		{Kind: "ExecutionCompleted", Timestamp: t0.Add(time.Second)},
	}
	tl := buildTimeline(events, true, t0.Add(time.Hour))
	if r := tl.Rows[0]; r.State != stateOK || r.W != tlChartW {
		t.Fatalf("execution row %+v, want ok over the whole axis", r)
	}
	if last := tl.Ticks[len(tl.Ticks)-1].Label; last != "+1.00s" {
		t.Fatalf("axis ends at %s, want +1.00s", last)
	}
	if buildTimeline(nil, true, t0) != nil {
		t.Fatal("a timeline for no events")
	}
}

func TestTimelineKeepsAtMostMaxRows(t *testing.T) {
	var events []api.HistoryEvent
	for i := range tlMaxRows + 10 {
		events = append(events, api.HistoryEvent{Kind: "EventRaised", Name: "e", Timestamp: time.Unix(int64(i), 0)})
	}
	tl := buildTimeline(events, true, time.Now())
	if len(tl.Rows) != tlMaxRows || tl.Truncated != 10 {
		t.Fatalf("%d rows, %d truncated", len(tl.Rows), tl.Truncated)
	}
}

func TestJSONIsShownAsSent(t *testing.T) {
	for _, tc := range []struct{ in, pretty, compact string }{
		{`{"a":"\u003cb\u003e \u0026"}`, "{\n  \"a\": \"<b> &\"\n}", `{"a":"<b> &"}`},
		// An escaped backslash before "u003c" is text, not an escape.
		{`"\\u003c"`, `"\\u003c"`, `"\\u003c"`},
		{`"\u00e9 \n \"q\""`, `"\u00e9 \n \"q\""`, `"\u00e9 \n \"q\""`},
		{`not json`, `not json`, `not json`},
	} {
		if got := prettyJSON(json.RawMessage(tc.in)); got != tc.pretty {
			t.Errorf("pretty %s = %s, want %s", tc.in, got, tc.pretty)
		}
		if got, _ := compactJSON(json.RawMessage(tc.in)); got != tc.compact {
			t.Errorf("compact %s = %s, want %s", tc.in, got, tc.compact)
		}
	}
}
