package ui

import (
	"fmt"
	"strconv"
	"time"

	"github.com/reprise/reprise/api"
)

// Timeline geometry, in SVG user units (pixels at 100%).
const (
	tlWidth    = 1000
	tlLabelW   = 250 // the label column
	tlChartX   = 260 // where the time axis starts
	tlChartW   = tlWidth - tlChartX - 20
	tlRowH     = 22
	tlBarH     = 14
	tlAxisH    = 26
	tlMinBarW  = 3
	tlMaxRows  = 500
	tlTickStep = 5  // ticks on the axis, the start included
	tlMaxLabel = 38 // characters of a row label (the tooltip has all)
)

// Row kinds (CSS classes and what the browser test counts).
const (
	rowExecution = "execution"
	rowActivity  = "activity"
	rowTimer     = "timer"
	rowChild     = "child"
	rowStarted   = "started"
	rowEvent     = "event"
	rowControl   = "control"
)

// Row states.
const (
	stateOK        = "ok"
	stateFailed    = "failed"
	statePending   = "pending"
	stateCancelled = "cancelled"
)

// timeline is a history drawn as a Gantt chart: one row per activity
// attempt, timer, child and fire-and-forget start, from scheduled to
// answered, plus point rows for external events, suspends and resumes.
type timeline struct {
	Width, Height int
	Rows          []tlRow
	Ticks         []tlTick
	// Truncated counts rows left out beyond tlMaxRows.
	Truncated int
	// AxisY is where the axis line is drawn; ChartX its start.
	AxisY, ChartX, ChartEnd int
}

type tlRow struct {
	Kind, State string
	Label       string
	// Title is the tooltip: what, when, how long, how it ended.
	Title string
	// Y is the row's top; TextY the label's baseline; BarY the bar's top;
	// CY the middle of a point.
	Y, TextY, BarY, CY int
	X, W               int
	// Point rows are drawn as a diamond at X instead of a bar.
	Point bool
	// Link is the instance a child row links to.
	Link string

	start, end time.Time
	open       bool
}

type tlTick struct {
	X     int
	Label string
}

// buildTimeline lays out events of one execution. now ends the bars of
// calls still pending when the instance is not finished.
func buildTimeline(events []api.HistoryEvent, finished bool, now time.Time) *timeline {
	if len(events) == 0 {
		return nil
	}
	var rows []*tlRow
	byDecision := map[uint64]*tlRow{}
	t0 := events[0].Timestamp
	t1 := t0
	var exec *tlRow
	for i := range events {
		e := &events[i]
		if e.Timestamp.After(t1) {
			t1 = e.Timestamp
		}
		if e.Timestamp.Before(t0) && !e.Timestamp.IsZero() {
			t0 = e.Timestamp
		}
		add := func(r *tlRow) *tlRow {
			r.start = e.Timestamp
			rows = append(rows, r)
			if e.Decision != nil {
				byDecision[*e.Decision] = r
			}
			return r
		}
		end := func(state, what string) {
			if e.Decision == nil {
				return
			}
			r := byDecision[*e.Decision]
			if r == nil || !r.open {
				return
			}
			r.open, r.end, r.State = false, e.Timestamp, state
			r.Title += fmt.Sprintf("\n%s after %s", what, formatDuration(e.Timestamp.Sub(r.start)))
			if e.Failure != nil {
				r.Title += ": " + e.Failure.Message
			}
		}
		switch e.Kind {
		case "ExecutionStarted":
			exec = add(&tlRow{Kind: rowExecution, Label: "execution " + e.Name, open: true, State: statePending,
				Title: "execution of " + e.Name + " started " + formatTime(e.Timestamp)})
		case "ExecutionCompleted", "ExecutionFailed", "ExecutionTerminated", "ContinuedAsNew":
			if exec != nil && exec.open {
				exec.open, exec.end = false, e.Timestamp
				exec.State = stateOK
				if e.Kind == "ExecutionFailed" || e.Kind == "ExecutionTerminated" {
					exec.State = stateFailed
				}
				exec.Title += fmt.Sprintf("\n%s after %s", e.Kind, formatDuration(e.Timestamp.Sub(exec.start)))
			}
		case "ActivityScheduled":
			label := e.Name
			if e.Attempt > 1 {
				label += " (attempt " + strconv.Itoa(e.Attempt) + ")"
			}
			add(&tlRow{Kind: rowActivity, Label: label, open: true, State: statePending,
				Title: fmt.Sprintf("activity %s attempt %d scheduled %s", e.Name, max(e.Attempt, 1), formatTime(e.Timestamp))})
		case "ActivityCompleted":
			end(stateOK, "completed")
		case "ActivityFailed":
			end(stateFailed, "failed")
		case "TimerCreated":
			add(&tlRow{Kind: rowTimer, Label: "timer", open: true, State: statePending,
				Title: "timer created " + formatTime(e.Timestamp) + ", fires at " + formatTime(e.FireAt)})
		case "TimerFired":
			end(stateOK, "fired")
		case "SubOrchestrationScheduled":
			add(&tlRow{Kind: rowChild, Label: "child " + e.Name, Link: e.InstanceID, open: true, State: statePending,
				Title: fmt.Sprintf("sub-orchestration %s as %s scheduled %s", e.Name, e.InstanceID, formatTime(e.Timestamp))})
		case "SubOrchestrationCompleted":
			end(stateOK, "completed")
		case "SubOrchestrationFailed":
			end(stateFailed, "failed")
		case "OrchestrationStarted":
			r := add(&tlRow{Kind: rowStarted, Label: "start " + e.Name, Link: e.InstanceID, Point: true, State: stateOK,
				Title: fmt.Sprintf("started %s as %s at %s", e.Name, e.InstanceID, formatTime(e.Timestamp))})
			r.end = r.start
		case "CancelRequested":
			end(stateCancelled, "cancelled")
		case "EventRaised":
			r := add(&tlRow{Kind: rowEvent, Label: "event " + e.Name, Point: true, State: stateOK,
				Title: "event " + e.Name + " received " + formatTime(e.Timestamp)})
			r.end = r.start
		case "Suspended", "Resumed":
			r := add(&tlRow{Kind: rowControl, Label: e.Kind, Point: true, State: stateOK,
				Title: e.Kind + " " + formatTime(e.Timestamp) + " " + e.Reason})
			r.end = r.start
		}
	}
	if !finished && now.After(t1) {
		t1 = now
	}
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Millisecond
	}
	x := func(t time.Time) int {
		return tlChartX + int(float64(tlChartW)*float64(t.Sub(t0))/float64(span))
	}
	tl := &timeline{Width: tlWidth, ChartX: tlChartX, ChartEnd: tlChartX + tlChartW, AxisY: tlAxisH - 6}
	if len(rows) > tlMaxRows {
		tl.Truncated = len(rows) - tlMaxRows
		rows = rows[:tlMaxRows]
	}
	for i, r := range rows {
		if r.open {
			// Still running (or never answered in a finished execution).
			r.end = t1
			r.Title += "\nnot answered"
		}
		r.Y = tlAxisH + i*tlRowH
		r.TextY = r.Y + tlRowH/2 + 4
		r.BarY = r.Y + (tlRowH-tlBarH)/2
		r.CY = r.Y + tlRowH/2
		r.Label = shorten(r.Label, tlMaxLabel)
		r.X = x(r.start)
		r.W = max(x(r.end)-r.X, tlMinBarW)
		tl.Rows = append(tl.Rows, *r)
	}
	tl.Height = tlAxisH + len(tl.Rows)*tlRowH + 8
	for i := range tlTickStep {
		at := time.Duration(float64(span) * float64(i) / float64(tlTickStep-1))
		tl.Ticks = append(tl.Ticks, tlTick{X: tlChartX + tlChartW*i/(tlTickStep-1), Label: "+" + formatDuration(at)})
	}
	return tl
}

// shorten cuts s to at most n characters, marking the cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
