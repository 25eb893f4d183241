// Package natsembed runs nats-server with JetStream inside the process, for
// tests and for the one-command default deployment: one server over a store
// directory, restartable on the same address and directory, or a cluster of
// servers in one process for replicated (R3) streams.
//
// It owns the server's lifecycle only; it knows nothing of what the streams
// on it hold.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds how long Start waits for a server to accept clients.
const readyTimeout = 30 * time.Second

// Options configures one embedded server.
type Options struct {
	// StoreDir is the JetStream store directory (required).
	StoreDir string
	// Host to listen on (default 127.0.0.1).
	Host string
	// Port for clients (default: a free port, chosen once and kept across
	// restarts).
	Port int
	// ServerName (default: derived by the server; required unique in a
	// cluster, which StartCluster sets).
	ServerName string
	// SyncAlways makes the file store fsync every write: acknowledged
	// writes then survive power loss, at a large cost.
	SyncAlways bool
	// Logging writes the server's log to stderr.
	Logging bool
	// ClusterName, ClusterHost, ClusterPort and Routes make the server one
	// node of a cluster run as separate processes (each lists every node's
	// route URL, nats-route://host:port). StartCluster sets them itself.
	ClusterName string
	ClusterHost string
	ClusterPort int
	Routes      []string
	// PingInterval and MaxPingsOut bound how long the server keeps a client
	// that stopped answering (a paused process) before closing its
	// connection and its subscriptions (server defaults: 2 min, 2).
	PingInterval time.Duration
	MaxPingsOut  int

	cluster *server.ClusterOpts
	routes  []*url.URL
}

// Server is one embedded nats-server. Its methods are safe for concurrent
// use.
type Server struct {
	mu   sync.Mutex
	opts Options
	srv  *server.Server
}

// Start starts a server and waits until it accepts clients.
func Start(opts Options) (*Server, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("natsembed: StoreDir is required")
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.ClusterName != "" && opts.cluster == nil {
		host := opts.ClusterHost
		if host == "" {
			host = opts.Host
		}
		opts.cluster = &server.ClusterOpts{Name: opts.ClusterName, Host: host, Port: opts.ClusterPort}
		for _, r := range opts.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("natsembed: route %q: %w", r, err)
			}
			opts.routes = append(opts.routes, u)
		}
	}
	s := &Server{opts: opts}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) serverOptions() *server.Options {
	o := &server.Options{
		ServerName:   s.opts.ServerName,
		Host:         s.opts.Host,
		Port:         s.opts.Port,
		JetStream:    true,
		StoreDir:     s.opts.StoreDir,
		SyncAlways:   s.opts.SyncAlways,
		NoSigs:       true,
		NoLog:        !s.opts.Logging,
		MaxPayload:   8 << 20,
		Routes:       s.opts.routes,
		PingInterval: s.opts.PingInterval,
		MaxPingsOut:  s.opts.MaxPingsOut,
	}
	if s.opts.Port == 0 {
		o.Port = server.RANDOM_PORT
	}
	if s.opts.cluster != nil {
		o.Cluster = *s.opts.cluster
	}
	return o
}

// start runs the server; s.mu held or s not shared yet.
func (s *Server) start() error {
	srv, err := server.NewServer(s.serverOptions())
	if err != nil {
		return fmt.Errorf("natsembed: %w", err)
	}
	if s.opts.Logging {
		srv.ConfigureLogger()
	}
	go srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		return errors.New("natsembed: server not ready for connections")
	}
	// Keep the ports, so a restart comes back on the same address.
	if addr, ok := srv.Addr().(*net.TCPAddr); ok {
		s.opts.Port = addr.Port
	}
	if s.opts.cluster != nil && s.opts.cluster.Port == server.RANDOM_PORT {
		if ca := srv.ClusterAddr(); ca != nil {
			s.opts.cluster.Port = ca.Port
		}
	}
	s.srv = srv
	return nil
}

// ClientURL is the URL clients connect to.
func (s *Server) ClientURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "nats://" + net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port))
}

// NATS returns the running nats-server (nil while shut down).
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Shutdown stops the server and waits until it has stopped. Stored data
// stays in StoreDir.
func (s *Server) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown()
}

func (s *Server) shutdown() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart shuts the server down (if running) and starts it again on the
// same address and store directory.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown()
	return s.start()
}

// Cluster is a set of servers in one process routed to each other, with
// JetStream clustered.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts n servers (n >= 3 for R3 streams), named <name>-<i>,
// with store directories <baseDir>/<i>, and waits until JetStream has a
// meta leader.
func StartCluster(name string, n int, baseDir string) (*Cluster, error) {
	if n < 1 {
		return nil, errors.New("natsembed: cluster needs at least one server")
	}
	// Cluster ports must be known before the first server starts, so that
	// every server lists every route.
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p))})
	}
	c := &Cluster{}
	type result struct {
		i   int
		s   *Server
		err error
	}
	results := make(chan result, n)
	for i := range n {
		opts := Options{
			StoreDir:   fmt.Sprintf("%s/%d", baseDir, i),
			ServerName: fmt.Sprintf("%s-%d", name, i),
			cluster:    &server.ClusterOpts{Name: name, Host: "127.0.0.1", Port: ports[i]},
			routes:     routes,
		}
		go func() {
			s, err := Start(opts)
			results <- result{i, s, err}
		}()
	}
	c.Servers = make([]*Server, n)
	var errs []error
	for range n {
		r := <-results
		c.Servers[r.i] = r.s
		errs = append(errs, r.err)
	}
	if err := errors.Join(errs...); err != nil {
		c.Shutdown()
		return nil, err
	}
	if err := c.WaitForLeader(readyTimeout); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// ClientURLs is the comma-separated list of the servers' client URLs, as
// nats.Connect takes it.
func (c *Cluster) ClientURLs() string {
	var s string
	for i, srv := range c.Servers {
		if i > 0 {
			s += ","
		}
		s += srv.ClientURL()
	}
	return s
}

// WaitForLeader waits until a running server is the JetStream meta leader
// and every running server is current.
func (c *Cluster) WaitForLeader(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		leader, current := false, true
		for _, s := range c.Servers {
			if s == nil {
				continue
			}
			srv := s.NATS()
			if srv == nil {
				continue
			}
			leader = leader || srv.JetStreamIsLeader()
			current = current && srv.JetStreamIsCurrent()
		}
		if leader && current {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("natsembed: no JetStream meta leader in time")
}

// Shutdown stops every server.
func (c *Cluster) Shutdown() {
	var wg sync.WaitGroup
	for _, s := range c.Servers {
		if s != nil {
			wg.Go(s.Shutdown)
		}
	}
	wg.Wait()
}

// freePorts returns n TCP ports free on 127.0.0.1 at the time of the call.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("natsembed: %w", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
