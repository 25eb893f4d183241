package host

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/reprise/reprise/runtime"
)

// Main is the whole main function of a service binary: it reads the
// configuration from the command line and the environment, runs the role
// with reg until SIGTERM or SIGINT, drains, and exits (status 1 on error,
// 2 on bad usage). A second signal during the drain exits at once. Unless
// the environment sets GOGC, it sets the garbage collector's target to
// [DefaultGCPercent] first.
func Main(role Role, reg *runtime.Registry) {
	SetDefaultGCPercent(os.Getenv)
	os.Exit(MainArgs(role, reg, os.Args[1:], os.Getenv, os.Stderr))
}

// MainArgs is [Main] with explicit arguments, environment and output; it
// returns the exit status instead of exiting.
func MainArgs(role Role, reg *runtime.Registry, args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("reprise-"+role.String(), flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	envErr := cfg.BindFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if envErr != nil {
		fmt.Fprintln(stderr, "environment:", envErr)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ready := func(n *Node) {
		if role != Orchestrator || n.cfg.LogFormat != "text" {
			return
		}
		// For people at a terminal: what runs and what to try next.
		names := reg.Orchestrations()
		fmt.Fprintf(stderr, "\nReprise is ready. Orchestrations: %s.\n", strings.Join(names, ", "))
		if a := n.UIAddr(); a != "" {
			fmt.Fprintf(stderr, "Web UI: http://%s/\n", a)
		}
		if next := nextCommand(n, names); next != "" {
			fmt.Fprintf(stderr, "Try, in another shell:\n\n    %s\n\n", next)
		}
	}
	if err := run(ctx, role, cfg, reg, stop, ready); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// Run starts the role, serves until ctx ends, then drains within the
// configured drain timeout. onStopping, if not nil, is called when the drain
// begins (Main uses it to let a second signal kill the process).
func Run(ctx context.Context, role Role, cfg Config, reg *runtime.Registry, onStopping func()) error {
	return run(ctx, role, cfg, reg, onStopping, nil)
}

// run is Run, calling ready (when not nil) once the node is ready.
func run(ctx context.Context, role Role, cfg Config, reg *runtime.Registry, onStopping func(), ready func(*Node)) error {
	n, err := Start(ctx, role, cfg, reg)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(n)
	}
	<-ctx.Done()
	if onStopping != nil {
		onStopping()
	}
	drain, cancel := context.WithTimeout(context.Background(), n.cfg.DrainTimeout)
	defer cancel()
	if err := n.Stop(drain); err != nil {
		return fmt.Errorf("host: stop %s: %w", role, err)
	}
	return nil
}
