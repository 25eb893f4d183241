package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/ui"
)

// runUI serves the web UI (package ui) against the deployment the common
// flags name, until ctx ends (SIGINT or SIGTERM).
func runUI(ctx context.Context, args []string, e env) error {
	cl := newCommandFor("ui", e)
	addr := cl.fs.String("addr", ui.DefaultAddr, "address the web UI listens on (host:port)")
	readOnly := cl.fs.Bool("read-only", false, "show instances but offer no action (start, raise, terminate, suspend, resume, purge)")
	if _, err := cl.parse(args, 0, 0); err != nil {
		return err
	}
	c := cl.common
	// The UI outlives NATS hiccups: keep reconnecting.
	nc, err := c.dial(nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	h, err := ui.New(nc, ui.Options{Prefix: c.prefix, ReadOnly: *readOnly, RequestTimeout: c.timeout, Logger: log})
	if err != nil {
		return err
	}
	srv, err := ui.Listen(*addr, h, log)
	if err != nil {
		return err
	}
	mode := ""
	if *readOnly {
		mode = ", read-only"
	}
	fmt.Fprintf(e.stdout, "Reprise UI on %s (NATS %s, prefix %s%s)\n", srv.URL(), c.server, c.prefix, mode)
	<-ctx.Done()
	stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Stop(stop)
}
