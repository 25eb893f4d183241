package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reprise/reprise/client"
)

// listJSON and historyJSON are the --json shapes of list and history: the
// API's reply bodies.
type listJSON struct {
	Instances  []client.InstanceStatus `json:"instances"`
	NextCursor string                  `json:"next_cursor"`
	// UnreachableShards: see client.ListPage.
	UnreachableShards []int `json:"unreachable_shards,omitempty"`
}

type historyJSON struct {
	Events []client.Event `json:"events"`
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func jsonValid(b []byte) bool { return json.Valid(b) }

// compactJSON renders a JSON value on one line ("" for none).
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}

// shorten cuts s to n runes with an ellipsis, and puts it on one line.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// timeText renders a timestamp for a table ("-" for none).
func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeStatus prints a status as an aligned key/value table.
func writeStatus(w io.Writer, st *client.InstanceStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"ID", st.ID},
		{"Name", st.Name},
		{"Version", orDash(st.Version)},
		{"Status", string(st.Status)},
		{"Execution", fmt.Sprint(st.Partition)},
		{"Created", timeText(st.CreatedAt)},
		{"Updated", timeText(st.UpdatedAt)},
	}
	if !st.ScheduledAt.IsZero() {
		rows = append(rows, [2]string{"Starts at", timeText(st.ScheduledAt)})
	}
	if st.Parent != "" {
		rows = append(rows, [2]string{"Parent", st.Parent})
	}
	if len(st.CustomStatus) > 0 {
		rows = append(rows, [2]string{"Custom status", compactJSON(st.CustomStatus)})
	}
	if len(st.Output) > 0 {
		rows = append(rows, [2]string{"Output", compactJSON(st.Output)})
	}
	if st.Error != "" {
		rows = append(rows, [2]string{"Error", st.Error})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

// writeList prints instances as a table, one per line.
func writeList(w io.Writer, sts []client.InstanceStatus) error {
	if len(sts) == 0 {
		_, err := fmt.Fprintln(w, "no instances")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tCREATED\tUPDATED")
	for _, st := range sts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st.ID, st.Name, st.Status, timeText(st.CreatedAt), timeText(st.UpdatedAt))
	}
	return tw.Flush()
}

// writeHistory prints events as a table, one per line; details are
// shortened to keep lines readable (use --json for everything).
func writeHistory(w io.Writer, evs []client.Event) error {
	if len(evs) == 0 {
		_, err := fmt.Fprintln(w, "no events")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tKIND\tNAME\tDETAILS")
	for _, ev := range evs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", ev.Seq, timeText(ev.Timestamp), ev.Kind, orDash(ev.Name), orDash(shorten(eventDetails(ev), 80)))
	}
	return tw.Flush()
}

// eventDetails summarises an event's fields for the history table.
func eventDetails(ev client.Event) string {
	var parts []string
	if ev.Decision != nil {
		parts = append(parts, fmt.Sprintf("decision=%d", *ev.Decision))
	}
	if ev.InstanceID != "" {
		parts = append(parts, "instance="+ev.InstanceID)
	}
	if ev.Attempt > 0 {
		parts = append(parts, fmt.Sprintf("attempt=%d", ev.Attempt))
	}
	if !ev.FireAt.IsZero() {
		parts = append(parts, "fire_at="+timeText(ev.FireAt))
	}
	if ev.Reason != "" {
		parts = append(parts, "reason="+ev.Reason)
	}
	if ev.Failure != nil {
		f := ev.Failure.Message
		if ev.Failure.Type != "" {
			f = ev.Failure.Type + ": " + f
		}
		parts = append(parts, "error="+f)
	}
	if len(ev.Data) > 0 {
		parts = append(parts, compactJSON(ev.Data))
	}
	return strings.Join(parts, " ")
}

// writeFinal prints a finished instance: its output (JSON, one line) when it
// completed, or the status object with --json. An instance that failed or
// was terminated prints its error on stderr and returns errInstanceFailed.
func writeFinal(stdout, stderr io.Writer, st *client.InstanceStatus, asJSON bool) error {
	if asJSON {
		if err := writeJSON(stdout, st); err != nil {
			return err
		}
	} else if st.Status == client.StatusCompleted {
		out := compactJSON(st.Output)
		if out == "" {
			out = "null"
		}
		if _, err := fmt.Fprintln(stdout, out); err != nil {
			return err
		}
	}
	if st.Status == client.StatusCompleted {
		return nil
	}
	if !asJSON {
		fmt.Fprintf(stderr, "instance %s %s: %s\n", st.ID, strings.ToLower(string(st.Status)), orDash(st.Error))
	}
	return errInstanceFailed
}

// writeCluster prints the orchestrators and their shards, one per line.
func writeCluster(w io.Writer, info *client.ClusterInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "shards:\t%d, %s", info.Shards, info.Mode)
	if info.AnsweredBy != "" {
		fmt.Fprintf(tw, " (as %s sees them)", info.AnsweredBy)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "ORCHESTRATOR\tSHARDS\tCOUNT")
	for _, m := range info.Members {
		id := m.ID
		if id == "" {
			id = "(this one)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", id, shardList(m.Shards), len(m.Shards))
	}
	if len(info.UnownedShards) > 0 {
		fmt.Fprintf(tw, "(no owner)\t%s\t%d\n", shardList(info.UnownedShards), len(info.UnownedShards))
	}
	return tw.Flush()
}

// shardList prints shards as "0 3 5", or "-" for none.
func shardList(shards []int) string {
	if len(shards) == 0 {
		return "-"
	}
	parts := make([]string, len(shards))
	for i, s := range shards {
		parts[i] = strconv.Itoa(s)
	}
	return strings.Join(parts, " ")
}
