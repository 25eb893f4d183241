package natsembed

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// RunNode runs one NATS server with JetStream, configured by command-line
// args, until ctx ends: what the test suites and `make cluster` start as a
// separate process. It logs "msg=ready" once the server accepts clients and,
// in a cluster, follows a JetStream meta leader. It returns the process's
// exit status (2 for bad arguments).
//
//	-listen 127.0.0.1:4222 -store-dir d [-name n1 -cluster c -cluster-listen 127.0.0.1:6222
//	 -routes nats-route://127.0.0.1:6222,... -ping-interval 2s]
func RunNode(ctx context.Context, name string, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:4222", "client address")
	storeDir := fs.String("store-dir", "", "JetStream store directory (required)")
	serverName := fs.String("name", "", "server name (required in a cluster)")
	clusterName := fs.String("cluster", "", "cluster name: run as one node of a cluster")
	clusterListen := fs.String("cluster-listen", "", "route address of this node (host:port)")
	routes := fs.String("routes", "", "every node's route URL, comma-separated (nats-route://host:port)")
	ping := fs.Duration("ping-interval", 0, "how often the server pings clients; a client missing two pings is dropped (0: the server's default, 2m)")
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
	opts := Options{StoreDir: *storeDir, Host: h, Port: port, ServerName: *serverName, PingInterval: *ping, MaxPingsOut: 2}
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
	srv, err := Start(opts)
	if err != nil {
		log.Error("start NATS", "err", err)
		return 1
	}
	defer srv.Shutdown()
	if *clusterName != "" {
		// Ready once this node follows a JetStream meta leader.
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		limit := time.After(time.Minute)
		for !srv.NATS().JetStreamIsCurrent() {
			select {
			case <-ctx.Done():
				return 0
			case <-limit:
				log.Error("no JetStream meta leader within a minute")
				return 1
			case <-tick.C:
			}
		}
	}
	log.Info("ready", "url", srv.ClientURL(), "name", *serverName)
	<-ctx.Done()
	return 0
}
