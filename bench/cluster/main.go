// Command cluster runs a local multi-process Reprise cluster from this
// repository: 3 NATS servers as one cluster (JetStream streams and buckets
// with 3 replicas), 3 orchestrators sharing the shards by leases (8, the
// default of a new deployment; the workers read the count from the log), and 2
// activity workers, each a separate process running the bench workloads. It
// prints the NATS URL, every process's log file and metrics endpoint, and
// runs until interrupted (then stops the processes gracefully).
//
//	go run ./bench/cluster [-dir .cluster] [-orchestrators 3] [-workers 2]
//	go run ./bench -remote <the printed URL> -workload hello   # in another shell
//
// `make cluster` runs it. The data stays in -dir (delete it to start empty).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// proc is one started process.
type proc struct {
	name, log string
	cmd       *exec.Cmd
	done      chan error
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	dir := fs.String("dir", ".cluster", "directory of the stores, logs and the built binary")
	orchestrators := fs.Int("orchestrators", 3, "orchestrator processes")
	workers := fs.Int("workers", 2, "activity worker processes")
	basePort := fs.Int("base-port", 14222, "first NATS client port (3 in a row; routes at +1000; metrics at +5000)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(abs, "logs"), 0o755); err != nil {
		return err
	}
	bin := filepath.Join(abs, "bench")
	fmt.Fprintln(out, "building ./bench ...")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./bench")
	build.Stdout, build.Stderr = out, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./bench: %w", err)
	}

	var urls, routes []string
	for i := range 3 {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", *basePort+i))
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", *basePort+1000+i))
	}
	for _, u := range append(slicesTrim(urls, "nats://"), slicesTrim(routes, "nats-route://")...) {
		if c, err := net.DialTimeout("tcp", u, 200*time.Millisecond); err == nil {
			c.Close()
			return fmt.Errorf("port %s is in use (another cluster running? pick -base-port)", u)
		}
	}
	natsURL := strings.Join(urls, ",")
	var procs []*proc
	defer func() { stopAll(procs, out) }()
	start := func(name string, wait bool, args ...string) (*proc, error) {
		p, err := startProc(abs, name, bin, args)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		if wait {
			return p, awaitReady(ctx, p)
		}
		return p, nil
	}
	var natsProcs []*proc
	for i := range 3 {
		p, err := start(fmt.Sprintf("nats-%d", i+1), false, "serve", "nats", "-listen", strings.TrimPrefix(urls[i], "nats://"),
			"-store-dir", filepath.Join(abs, fmt.Sprintf("nats-%d", i+1)), "-name", fmt.Sprintf("n%d", i+1),
			"-cluster", "reprise", "-cluster-listen", strings.TrimPrefix(routes[i], "nats-route://"),
			"-routes", strings.Join(routes, ","), "-ping-interval", "2s")
		if err != nil {
			return err
		}
		natsProcs = append(natsProcs, p)
	}
	for _, p := range natsProcs {
		if err := awaitReady(ctx, p); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\nNATS cluster: %s\n", natsURL)
	metrics := *basePort + 5000
	for i := range *orchestrators {
		name := fmt.Sprintf("orchestrator-%d", i+1)
		addr := fmt.Sprintf("127.0.0.1:%d", metrics)
		metrics++
		if _, err := start(name, true, "serve", "-nats-url", natsURL, "-replicas", "3",
			"-data-dir", filepath.Join(abs, name), "-metrics-addr", addr, "-ui-addr", "off", "-activities=false"); err != nil {
			return err
		}
		fmt.Fprintf(out, "%-15s metrics http://%s/metrics  log %s\n", name, addr, filepath.Join(abs, "logs", name+".log"))
	}
	for i := range *workers {
		name := fmt.Sprintf("worker-%d", i+1)
		addr := fmt.Sprintf("127.0.0.1:%d", metrics)
		metrics++
		if _, err := start(name, true, "serve", "worker", "-nats-url", natsURL, "-replicas", "3", "-metrics-addr", addr); err != nil {
			return err
		}
		fmt.Fprintf(out, "%-15s metrics http://%s/metrics  log %s\n", name, addr, filepath.Join(abs, "logs", name+".log"))
	}
	for i, p := range natsProcs {
		fmt.Fprintf(out, "%-15s %s  log %s\n", p.name, urls[i], p.log)
	}
	fmt.Fprintf(out, "\nReady. Drive it from another shell:\n  go run ./bench -remote %s -workload hello -n 5000 -c 100\n  go run ./cmd/reprise --server %s list\nCtrl-C stops every process.\n", natsURL, urls[0])
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\nstopping ...")
			return nil
		case <-time.After(time.Second):
		}
		for _, p := range procs {
			select {
			case err := <-p.done:
				return fmt.Errorf("%s exited (%v); see %s", p.name, err, p.log)
			default:
			}
		}
	}
}

func slicesTrim(in []string, prefix string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.TrimPrefix(s, prefix)
	}
	return out
}

// startProc runs bin with args, its output in logs/<name>.log.
func startProc(dir, name, bin string, args []string) (*proc, error) {
	logPath := filepath.Join(dir, "logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan error, 1)}
	go func() {
		p.done <- cmd.Wait()
		f.Close()
	}()
	return p, nil
}

// awaitReady waits until p's log (truncated at its start) has a
// "msg=ready" line.
func awaitReady(ctx context.Context, p *proc) error {
	limit := time.After(2 * time.Minute)
	for {
		if b, _ := os.ReadFile(p.log); strings.Contains(string(b), "msg=ready") {
			return nil
		}
		select {
		case err := <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); see %s", p.name, err, p.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-limit:
			return fmt.Errorf("%s not ready in 2 minutes; see %s", p.name, p.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopAll sends SIGTERM to every process, last started first, and waits.
func stopAll(procs []*proc, out io.Writer) {
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			if err != nil {
				fmt.Fprintf(out, "%s: %v\n", p.name, err)
			}
		case <-time.After(time.Minute):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}
