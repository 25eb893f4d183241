package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEveryWorkloadReportsItsFigures runs each workload a few times over
// the embedded default and checks the JSON lines: one per workload, every
// documented field present, every instance completed.
func TestEveryWorkloadReportsItsFigures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	args := []string{"-workload", "all", "-n", "4", "-c", "2", "-warmup", "1", "-width", "3", "-timer", "300ms", "-json", "-progress=false"}
	if err := run(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(workloadNames()) {
		t.Fatalf("%d JSON lines, want one per workload (%d):\n%s", len(lines), len(workloadNames()), out.String())
	}
	fields := []string{"workload", "n", "concurrency", "orchestrations_per_sec", "activities_per_sec",
		"p50_ms", "p90_ms", "p99_ms", "max_ms", "cpu_seconds_per_1000", "peak_rss_bytes"}
	for i, line := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("line %d is not a JSON object: %v: %s", i, err, line)
		}
		for _, f := range fields {
			if _, ok := obj[f]; !ok {
				t.Errorf("line %d lacks %q: %s", i, f, line)
			}
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if r.Workload != workloadNames()[i] || r.N != 4 || r.Failures != 0 || r.Concurrency != 2 {
			t.Errorf("line %d: %+v, want workload %s with 4 instances, none failed, concurrency 2", i, r, workloadNames()[i])
		}
		if r.OrchestrationsSec <= 0 || r.P50MS <= 0 || r.MaxMS < r.P99MS || r.P99MS < r.P50MS || r.PeakRSSBytes <= 0 {
			t.Errorf("line %d: implausible figures %+v", i, r)
		}
		wantAct := map[string]bool{"hello": true, "fanout": true, "chain": true}[r.Workload]
		if (r.ActivitiesSec > 0) != wantAct {
			t.Errorf("line %d: activities/s %g for %s", i, r.ActivitiesSec, r.Workload)
		}
	}
}

// TestOpenLoopAndTable runs the open loop briefly and prints the table.
func TestOpenLoopAndTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	args := []string{"-workload", "hello", "-rate", "20", "-duration", "250ms", "-warmup", "0", "-progress=false"}
	if err := run(ctx, args, &out, io.Discard); err != nil {
		t.Fatalf("run: %v", err)
	}
	table := out.String()
	if !strings.Contains(table, "orch/s") || !strings.Contains(table, "open") || !strings.Contains(table, "20/s") {
		t.Fatalf("table lacks the open-loop row:\n%s", table)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-workload", "nope"},
		{"-n", "0"},
		{"-rate", "-1"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("flags %q accepted", args)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    int
		want time.Duration
	}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}} {
		if got := pct(s, tc.p); got != tc.want {
			t.Errorf("p%d = %s, want %s", tc.p, got, tc.want)
		}
	}
	if pct(nil, 50) != 0 || pct(s[:1], 99) != time.Millisecond {
		t.Error("percentiles of tiny samples")
	}
}

// TestRebuildBenchReplaysLessWithSnapshots runs the rebuild benchmark at a
// CI size: the restart with snapshots replays no record of the log, the one
// without replays all of them (times are printed, not asserted).
func TestRebuildBenchReplaysLessWithSnapshots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	args := []string{"-rebuild", "-workload", "hello", "-n", "300", "-c", "20", "-warmup", "0", "-shards", "2", "-json", "-progress=false"}
	if err := run(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, errOut.String())
	}
	var res rebuildResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not a rebuild result: %v: %s", err, out.String())
	}
	t.Logf("%s", out.String())
	if len(res.Runs) != 2 || res.Entities < 300 {
		t.Fatalf("result %+v, want two runs and a snapshot of at least 300 instances", res)
	}
	without, with := res.Runs[0], res.Runs[1]
	if without.RecordsReplayed < 600 {
		t.Errorf("without snapshots %d records replayed, want the whole log (at least 2 per instance)", without.RecordsReplayed)
	}
	if with.RecordsReplayed != 0 {
		t.Errorf("with snapshots %d records replayed, want none (nothing was written after the snapshots)", with.RecordsReplayed)
	}
	if with.LogBytes >= without.LogBytes || with.PebbleBytes <= 0 {
		t.Errorf("log %d bytes after trimming, %d before; Pebble %d bytes after the restore", with.LogBytes, without.LogBytes, with.PebbleBytes)
	}
}

func TestCostsBetweenCountsStoredAndRemovedPerOrchestration(t *testing.T) {
	before := streamCounts{"log": {last: 10, msgs: 10}, "work": {last: 5, msgs: 1}, "idle": {last: 3, msgs: 3}}
	after := streamCounts{"log": {last: 30, msgs: 28}, "work": {last: 35, msgs: 1}, "idle": {last: 3, msgs: 3}, "new": {last: 4, msgs: 4}}
	got := costsBetween(before, after, 10)
	want := []streamCost{{"log", 2, 0.2}, {"new", 0.4, 0}, {"work", 3, 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("costs %+v, want %+v", got, want)
	}
}
