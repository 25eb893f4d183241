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
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/reprise/reprise/bench/chaos/internal/workload"
	"github.com/reprise/reprise/provider/jetstream/natsembed"
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

// runNATS runs an embedded NATS server until SIGTERM or SIGINT. It logs
// "msg=ready" once the server accepts clients.
func runNATS(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("chaosnode nats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:4222", "client address")
	storeDir := fs.String("store-dir", "", "JetStream store directory (required)")
	name := fs.String("name", "", "server name (required in a cluster)")
	clusterName := fs.String("cluster", "", "cluster name: run as one node of a cluster")
	clusterListen := fs.String("cluster-listen", "", "route address of this node (host:port)")
	routes := fs.String("routes", "", "every node's route URL, comma-separated (nats-route://host:port)")
	ping := fs.Duration("ping-interval", 0, "how often the server pings clients (0: the server's default)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	h, p, err := net.SplitHostPort(*listen)
	if err != nil {
		log.Error("bad -listen", "err", err)
		return 2
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		log.Error("bad -listen port", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts := natsembed.Options{StoreDir: *storeDir, Host: h, Port: port, ServerName: *name, PingInterval: *ping, MaxPingsOut: 2}
	if *clusterName != "" {
		ch, cp, err := net.SplitHostPort(*clusterListen)
		if err != nil {
			log.Error("bad -cluster-listen", "err", err)
			return 2
		}
		opts.ClusterName, opts.ClusterHost = *clusterName, ch
		if opts.ClusterPort, err = strconv.Atoi(cp); err != nil {
			log.Error("bad -cluster-listen port", "err", err)
			return 2
		}
		opts.Routes = strings.Split(*routes, ",")
	}
	srv, err := natsembed.Start(opts)
	if err != nil {
		log.Error("start NATS", "err", err)
		return 1
	}
	if *clusterName != "" {
		// Ready once this node follows a JetStream meta leader.
		for deadline := time.Now().Add(time.Minute); !srv.NATS().JetStreamIsCurrent(); {
			if time.Now().After(deadline) {
				log.Error("no JetStream meta leader within a minute")
				srv.Shutdown()
				return 1
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	log.Info("ready", "url", srv.ClientURL())
	<-ctx.Done()
	srv.Shutdown()
	return 0
}
