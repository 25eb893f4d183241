// Command chaosnode is the process the chaos suite kills: with the first
// argument "orchestrator" or "worker" it runs that service role (package
// services/host, flags as for the service binaries) with the suite's
// workload registered; with "nats" it runs a NATS server with JetStream on
// a file store, so the suite can SIGKILL the server too.
//
//	chaosnode orchestrator -nats-url nats://127.0.0.1:4222 -data-dir d ...
//	chaosnode worker -nats-url nats://127.0.0.1:4222 ...
//	chaosnode nats -listen 127.0.0.1:4222 -store-dir d
//
// Activities append their executions to the file named by CHAOS_EXEC_LOG
// (see workload.Recorder).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/reprise/reprise/bench/chaos/internal/workload"
	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// ExecLogEnv names the environment variable holding the execution log path.
const ExecLogEnv = "CHAOS_EXEC_LOG"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

func run(args []string, getenv func(string) string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: chaosnode orchestrator|worker|nats [flags]")
		return 2
	}
	var role host.Role
	switch args[0] {
	case "orchestrator":
		role = host.Orchestrator
	case "worker":
		role = host.Worker
	case "nats":
		return runNATS(args[1:], stderr)
	default:
		fmt.Fprintf(stderr, "unknown role %q: want orchestrator, worker or nats\n", args[0])
		return 2
	}
	path := getenv(ExecLogEnv)
	if path == "" {
		fmt.Fprintf(stderr, "%s must name the execution log file\n", ExecLogEnv)
		return 2
	}
	reg := runtime.NewRegistry()
	if err := workload.Register(reg, workload.Recorder{Path: path, PID: os.Getpid()}); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return host.MainArgs(role, reg, args[1:], getenv, stderr)
}

// runNATS runs a NATS server node until SIGTERM or SIGINT (see
// natsembed.RunNode). It logs "msg=ready" once the server accepts clients.
func runNATS(args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return natsembed.RunNode(ctx, "chaosnode nats", args, stderr)
}
