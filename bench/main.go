// Command bench is Reprise's load generator. It starts the embedded default
// deployment in-process (embedded NATS with file storage and Pebble in a
// temporary directory, everything as durable as the default configuration,
// orchestrator and activity worker in one process), or drives an existing
// one with -remote, through the public NATS API, and prints throughput,
// end-to-end latency, CPU cost and peak memory per workload.
//
//	go run ./bench -workload all -n 5000 -c 100
//	go run ./bench -workload hello -rate 1500 -duration 10s
//	go run ./bench serve -nats-url nats://...  # an orchestrator with the bench workloads
//	go run ./bench serve nats -listen ...      # a NATS server node (see bench/cluster)
//
// See bench/README.md for the flags, the workloads and measured figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

func main() {
	// In-process and with "serve" this process runs the engine: the
	// garbage collector's target is the service binaries' (host.Main). A
	// -remote generator gets it too; its CPU figure is its own.
	host.SetDefaultGCPercent(os.Getenv)
	if len(os.Args) > 2 && os.Args[1] == "serve" && os.Args[2] == "nats" {
		// A NATS server node (make cluster runs three).
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := natsembed.RunNode(ctx, "bench serve nats", os.Args[3:], os.Stderr)
		stop()
		os.Exit(code)
	}
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		// An orchestrator (or, with "serve worker", a worker) running the
		// bench workloads, for -remote runs.
		role, args := host.Orchestrator, os.Args[2:]
		if len(args) > 0 && args[0] == "worker" {
			role, args = host.Worker, args[1:]
		}
		reg := runtime.NewRegistry()
		if err := register(reg); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		os.Exit(host.MainArgs(role, reg, args, os.Getenv, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// options are the parsed flags.
type options struct {
	workloads   []string
	n           int
	concurrency int
	rate        float64
	duration    time.Duration
	warmup      int
	widthFlag   int
	timer       time.Duration
	json        bool
	progress    bool
	cpuProfile  string
	memProfile  string
	pprofAddr   string

	remote                string
	prefix                string
	dataDir               string
	shards                int
	concurrencyTurns      int
	concurrencyActivities int
	natsSync              bool
	fsync                 bool
	retention             time.Duration
	verbose               bool
	snapshotRecords       int
	storageEvery          time.Duration
	rebuild               bool
}

// width is -width, or def when unset.
func (o options) width(def int) int {
	if o.widthFlag > 0 {
		return o.widthFlag
	}
	return def
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workloads := fs.String("workload", "hello", "workloads to run: all, or a comma-separated list of "+strings.Join(workloadNames(), ","))
	fs.IntVar(&o.n, "n", 2000, "closed loop: orchestrations per workload")
	fs.IntVar(&o.concurrency, "c", 100, "closed loop: orchestrations in flight")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: orchestrations started per second (0: closed loop)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "open loop: how long to keep starting")
	fs.IntVar(&o.warmup, "warmup", 200, "orchestrations run (closed loop, same -c) before each measured workload and not counted")
	fs.IntVar(&o.widthFlag, "width", 0, "activities of fanout (default 5) and chain (default 10)")
	fs.DurationVar(&o.timer, "timer", time.Second, "the timer workload's timer")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per workload per line instead of the table")
	fs.BoolVar(&o.progress, "progress", isTerminal(os.Stderr), "show a progress bar on stderr (default: when stderr is a terminal)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured runs to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile to this file at the end")
	fs.StringVar(&o.pprofAddr, "pprof", "", "serve net/http/pprof on this address while running (e.g. 127.0.0.1:6060)")
	fs.StringVar(&o.remote, "remote", "", "drive the deployment at this NATS URL instead of starting one (it must run the bench workloads: go run ./bench serve)")
	fs.StringVar(&o.prefix, "prefix", api.DefaultPrefix, "subject prefix of the deployment")
	fs.StringVar(&o.dataDir, "data-dir", "", "in-process deployment: data directory (default: a temporary one, removed at the end)")
	fs.IntVar(&o.shards, "shards", 0, "in-process deployment: shards (default: the host's default)")
	fs.IntVar(&o.concurrencyTurns, "turns", 0, "in-process deployment: orchestration turns at once (default: the host's default)")
	fs.IntVar(&o.concurrencyActivities, "activities", 0, "in-process deployment: activities at once (default: the host's default)")
	fs.BoolVar(&o.natsSync, "nats-sync", false, "in-process deployment: fsync every JetStream write")
	fs.BoolVar(&o.fsync, "fsync", false, "in-process deployment: group commit, acknowledge after a shared syncfs of the data directory (survives power loss)")
	fs.DurationVar(&o.retention, "retention", 0, "in-process deployment: how long finished instances are kept (default: the host's, 7 days)")
	fs.BoolVar(&o.verbose, "v", false, "log the deployment's info messages to stderr")
	fs.IntVar(&o.snapshotRecords, "snapshot-records", 0, "in-process deployment: -snapshot-records of the orchestrator (default: the host's default; -1: no snapshots)")
	fs.DurationVar(&o.storageEvery, "storage-every", 0, "print the log, snapshot and work streams' bytes and the Pebble store's size to stderr this often while running (e.g. 10s; 0: never)")
	fs.BoolVar(&o.rebuild, "rebuild", false, "rebuild benchmark: run -n instances of the (single) workload with snapshots off, then time restarts with the Pebble directory deleted, without and with snapshots (see README)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *workloads == "all" {
		o.workloads = workloadNames()
	} else {
		for w := range strings.SplitSeq(*workloads, ",") {
			if _, err := workloadByName(strings.TrimSpace(w)); err != nil {
				return o, err
			}
			o.workloads = append(o.workloads, strings.TrimSpace(w))
		}
	}
	switch {
	case o.n < 1 || o.concurrency < 1:
		return o, errors.New("-n and -c must be at least 1")
	case o.rate < 0 || (o.rate > 0 && o.duration <= 0):
		return o, errors.New("-rate must be positive with a positive -duration")
	case o.warmup < 0:
		return o, errors.New("-warmup must not be negative")
	case o.timer < 0:
		return o, errors.New("-timer must not be negative")
	case o.storageEvery < 0:
		return o, errors.New("-storage-every must not be negative")
	case o.fsync && o.remote != "":
		return o, errors.New("-fsync is for the in-process deployment: start the remote orchestrator with it (go run ./bench serve -fsync)")
	case o.rebuild && (o.remote != "" || len(o.workloads) != 1 || o.rate > 0):
		return o, errors.New("-rebuild runs one closed-loop workload on the in-process deployment (no -remote, -rate or several workloads)")
	}
	return o, nil
}

// run parses args, runs the workloads and prints the results to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if o.rebuild {
		return runRebuild(ctx, o, log, stdout, stderr)
	}
	d, err := startDeployment(ctx, o, log)
	if err != nil {
		return err
	}
	defer d.close(context.Background())

	if o.pprofAddr != "" {
		stop, err := servePprof(o.pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if o.storageEvery > 0 {
		stop := sampleStorage(d, o, stderr)
		defer stop()
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	var results []result
	for _, name := range o.workloads {
		w, _ := workloadByName(name)
		res, err := runWorkload(ctx, d, w, o, runID, stderr)
		if err != nil {
			return err
		}
		results = append(results, res)
	}
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return err
		}
	}
	if o.json {
		return writeJSON(stdout, results)
	}
	if err := writeTable(stdout, results); err != nil {
		return err
	}
	writeCosts(stdout, results)
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("memory profile: %w", err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		return fmt.Errorf("memory profile: %w", err)
	}
	return nil
}

// runWorkload warms up, then runs one measured closed or open loop of w.
func runWorkload(ctx context.Context, d *deployment, w workload, o options, runID string, stderr io.Writer) (result, error) {
	r, err := newRunner(d, w, o, runID)
	if err != nil {
		return result{}, err
	}
	if o.warmup > 0 {
		var rec recorder
		stop := startProgress(o, stderr, w.name+" warm-up", o.warmup, &rec)
		r.closedLoop(ctx, o.warmup, o.concurrency, &rec)
		stop()
		if rec.firstErr != nil {
			return result{}, fmt.Errorf("%s warm-up: %w", w.name, rec.firstErr)
		}
	}
	var rec recorder
	total := o.n
	if o.rate > 0 {
		total = int(o.rate * o.duration.Seconds())
	}
	stop := startProgress(o, stderr, w.name, total, &rec)
	meter := newCostMeter(d)
	before := readUsage()
	begin := time.Now()
	if o.rate > 0 {
		r.openLoop(ctx, o.rate, o.duration, &rec)
	} else {
		r.closedLoop(ctx, o.n, o.concurrency, &rec)
	}
	elapsed := time.Since(begin)
	after := readUsage()
	stop()
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	if rec.firstErr != nil {
		fmt.Fprintf(stderr, "bench: %s: %d failures, the first: %v\n", w.name, rec.failures, rec.firstErr)
	}
	res := summarize(w, o, &rec, elapsed, before, after)
	res.Costs = meter.done(res.N)
	res.Fsyncs = meter.fsyncsPer(res.N)
	res.FsyncMS = float64(meter.fsyncMean().Microseconds()) / 1000
	res.NATSIn, res.NATSOut = meter.natsMessagesPer(res.N)
	return res, nil
}
