package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
)

type instanceView struct {
	page
	ID     string
	Status *client.InstanceStatus
	// Partition is the execution shown; Current is the latest one.
	Partition uint64
	Current   bool
	// Executions lists every execution of the instance, oldest first.
	Executions []uint64
	Input      string
	Output     string
	Custom     string
	Children   []childLink
	History    []eventRow
	Timeline   *timeline
	// HistoryErr is the API's answer when the history could not be read.
	HistoryErr string
	Live       bool
	Start      time.Time
}

type childLink struct {
	ID, Name string
	// Kind is "child" (a sub-orchestration) or "started" (fire and forget).
	Kind string
}

// eventRow is one history event ready to print: flat and preformatted,
// because the table of a long history is most of the page's work.
type eventRow struct {
	Seq        uint64
	When       string
	Offset     string
	Kind, Name string
	// Class is the row's CSS class: turn, failed or none.
	Class      string
	Decision   string
	Attempt    int
	InstanceID string
	FireAt     string
	Reason     string
	Failure    string
	// Data is the payload on one line; Preview its start.
	Data, Preview string
}

func (h *Handler) instancePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("id")
	v := &instanceView{page: h.newPage(w, r, "Instance "+id), ID: id}
	switch q.Get("done") {
	case "raise":
		v.Flash = "Event raised."
	case "terminate":
		v.Flash = "Terminate requested."
	case "suspend":
		v.Flash = "Suspend requested."
	case "resume":
		v.Flash = "Resume requested."
	case "start":
		v.Flash = "Instance started."
	}
	if id == "" {
		v.Err = "no instance id given"
		h.render(w, http.StatusBadRequest, "instance", v)
		return
	}
	ctx := r.Context()
	st, err := h.client.Status(ctx, id)
	if err != nil {
		v.Err = apiMessage(err)
		if errors.Is(err, client.ErrNotFound) {
			// Perhaps started but not run yet: show it when it appears.
			v.Events = "events?" + url.Values{"id": {id}}.Encode()
		}
		h.render(w, errorStatus(err), "instance", v)
		return
	}
	v.Status = st
	v.Partition, v.Current = st.Partition, true
	if p := q.Get("partition"); p != "" {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || n > st.Partition {
			v.Err = "partition " + strconv.Quote(p) + " is not an execution of this instance (0 to " + strconv.FormatUint(st.Partition, 10) + ")"
			h.render(w, http.StatusBadRequest, "instance", v)
			return
		}
		v.Partition, v.Current = n, n == st.Partition
	}
	for p := range st.Partition + 1 {
		v.Executions = append(v.Executions, p)
	}
	v.Output = prettyJSON(st.Output)
	v.Custom = prettyJSON(st.CustomStatus)
	v.Live = v.Current && !st.Status.IsTerminal()
	if v.Live {
		v.Events = "events?" + url.Values{"id": {id}}.Encode()
	}
	events, err := h.client.PartitionHistory(ctx, id, v.Partition)
	if err != nil {
		v.HistoryErr = apiMessage(err)
		h.render(w, http.StatusOK, "instance", v)
		return
	}
	v.fillHistory(events, !v.Live, time.Now())
	h.render(w, http.StatusOK, "instance", v)
}

// fillHistory derives the input, the children, the table rows and the
// timeline from one execution's events.
func (v *instanceView) fillHistory(events []api.HistoryEvent, finished bool, now time.Time) {
	if len(events) > 0 {
		v.Start = events[0].Timestamp
	}
	seen := map[string]bool{}
	v.History = make([]eventRow, 0, len(events))
	for _, e := range events {
		switch e.Kind {
		case "ExecutionStarted":
			if v.Input == "" {
				v.Input = prettyJSON(e.Data)
			}
		case "SubOrchestrationScheduled", "OrchestrationStarted":
			if e.InstanceID != "" && !seen[e.InstanceID] {
				seen[e.InstanceID] = true
				kind := "child"
				if e.Kind == "OrchestrationStarted" {
					kind = "started"
				}
				v.Children = append(v.Children, childLink{ID: e.InstanceID, Name: e.Name, Kind: kind})
			}
		}
		v.History = append(v.History, newEventRow(&e, v.Start))
	}
	v.Timeline = buildTimeline(events, finished, now)
}

func newEventRow(e *api.HistoryEvent, start time.Time) eventRow {
	row := eventRow{Seq: e.Seq, When: formatTime(e.Timestamp), Offset: "+" + formatDuration(e.Timestamp.Sub(start)),
		Kind: e.Kind, Name: e.Name, Attempt: e.Attempt, InstanceID: e.InstanceID, FireAt: formatTime(e.FireAt),
		Reason: e.Reason}
	if e.Kind == "TurnStarted" {
		row.Class = "turn"
	}
	if e.Decision != nil {
		row.Decision = strconv.FormatUint(*e.Decision, 10)
	}
	if f := e.Failure; f != nil {
		row.Class = "failed"
		row.Failure = f.Message
		if f.Type != "" {
			row.Failure = f.Type + ": " + f.Message
		}
		if f.NonRetryable {
			row.Failure += " (non-retryable)"
		}
	}
	row.Data, row.Preview = compactJSON(e.Data)
	return row
}
