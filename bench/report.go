package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"
)

// result is one workload's figures; its JSON form is the --json line.
type result struct {
	Workload          string  `json:"workload"`
	Mode              string  `json:"mode"` // closed or open
	N                 int     `json:"n"`
	Concurrency       int     `json:"concurrency"`
	Rate              float64 `json:"rate,omitempty"`
	Width             int     `json:"width,omitempty"`
	Failures          int     `json:"failures"`
	Seconds           float64 `json:"seconds"`
	OrchestrationsSec float64 `json:"orchestrations_per_sec"`
	ActivitiesSec     float64 `json:"activities_per_sec"`
	P50MS             float64 `json:"p50_ms"`
	P90MS             float64 `json:"p90_ms"`
	P99MS             float64 `json:"p99_ms"`
	MaxMS             float64 `json:"max_ms"`
	CPUPer1000        float64 `json:"cpu_seconds_per_1000"`
	PeakRSSBytes      int64   `json:"peak_rss_bytes"`
	// Remote is set when the engine ran elsewhere: CPU and RSS are then the
	// generator's own.
	Remote bool `json:"remote,omitempty"`
	// Costs are the JetStream writes per orchestration, by stream.
	Costs []streamCost `json:"jetstream_writes,omitempty"`
	// Fsyncs is the group-commit flushes (syncfs) per orchestration with
	// -fsync (0 otherwise).
	Fsyncs float64 `json:"fsyncs_per_orchestration,omitempty"`
	// FsyncMS is the mean duration of those flushes, in milliseconds.
	FsyncMS float64 `json:"fsync_mean_ms,omitempty"`
	// NATSIn and NATSOut are the messages the embedded NATS server
	// received from and sent to its clients per orchestration (JetStream's
	// API, acks, pulls and deliveries included; 0 with -remote).
	NATSIn  float64 `json:"nats_msgs_in_per_orchestration,omitempty"`
	NATSOut float64 `json:"nats_msgs_out_per_orchestration,omitempty"`
}

// usage is the process's CPU time and peak RSS so far.
type usage struct {
	cpu     time.Duration
	maxRSS  int64
	present bool
}

func readUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	// Linux reports ru_maxrss in KiB.
	return usage{cpu: cpu, maxRSS: int64(ru.Maxrss) * 1024, present: true}
}

// summarize turns what a run recorded into a result.
func summarize(w workload, o options, rec *recorder, elapsed time.Duration, before, after usage) result {
	res := result{
		Workload: w.name,
		Mode:     "closed",
		Failures: rec.failures,
		Seconds:  elapsed.Seconds(),
		Remote:   o.remote != "",
	}
	if w.name == "fanout" || w.name == "chain" {
		res.Width = w.activities(o)
	}
	if o.rate > 0 {
		res.Mode, res.Rate = "open", o.rate
	} else {
		res.Concurrency = o.concurrency
	}
	ok := len(rec.samples)
	res.N = ok + rec.failures
	if elapsed > 0 {
		res.OrchestrationsSec = float64(ok) / elapsed.Seconds()
		res.ActivitiesSec = float64(ok*w.activities(o)) / elapsed.Seconds()
	}
	lat := slices.Clone(rec.samples)
	slices.Sort(lat)
	res.P50MS, res.P90MS, res.P99MS = ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99))
	if len(lat) > 0 {
		res.MaxMS = ms(lat[len(lat)-1])
	}
	if after.present && res.N > 0 {
		res.CPUPer1000 = (after.cpu - before.cpu).Seconds() / float64(res.N) * 1000
		res.PeakRSSBytes = after.maxRSS
	}
	return res
}

// pct is the p-th percentile of sorted (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// writeJSON prints one JSON object per result, one per line.
func writeJSON(w io.Writer, results []result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
	}
	return nil
}

// writeTable prints the results as an aligned table.
func writeTable(w io.Writer, results []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tmode\tn\tc/rate\tfail\torch/s\tact/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tCPU s/1k\tpeak RSS MiB\t")
	for _, r := range results {
		load := fmt.Sprint(r.Concurrency)
		if r.Mode == "open" {
			load = fmt.Sprintf("%g/s", r.Rate)
		}
		name := r.Workload
		if r.Width > 0 {
			name = fmt.Sprintf("%s-%d", r.Workload, r.Width)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.3f\t%.0f\t\n",
			name, r.Mode, r.N, load, r.Failures, r.OrchestrationsSec, r.ActivitiesSec,
			r.P50MS, r.P90MS, r.P99MS, r.MaxMS, r.CPUPer1000, float64(r.PeakRSSBytes)/(1<<20))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
