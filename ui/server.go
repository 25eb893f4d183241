package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
)

// DefaultAddr is the address the UI listens on when an orchestrator runs
// with its defaults (make run).
const DefaultAddr = "127.0.0.1:8233"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the UI.
type Options struct {
	// Prefix is the deployment's subject prefix (default "reprise").
	Prefix string
	// ReadOnly hides the actions and refuses every POST.
	ReadOnly bool
	// Orchestrations are the names offered by the start form (it accepts
	// any name; the API refuses unknown ones).
	Orchestrations []string
	// RequestTimeout bounds each API request (default 10s).
	RequestTimeout time.Duration
	// Logger receives the UI's logs (default slog.Default()).
	Logger *slog.Logger
}

// Handler serves the UI. Create it with [New]; it is an http.Handler. Its
// server-sent event streams end when the request's context ends.
type Handler struct {
	nc     *nats.Conn
	client *client.Client
	opts   Options
	log    *slog.Logger
	pages  map[string]*template.Template
	mux    *http.ServeMux
}

// New returns the UI over the NATS connection nc, which it does not own.
func New(nc *nats.Conn, opts Options) (*Handler, error) {
	if nc == nil {
		return nil, errors.New("ui: New needs a NATS connection")
	}
	if opts.Prefix == "" {
		opts.Prefix = api.DefaultPrefix
	}
	if err := api.ValidatePrefix(opts.Prefix); err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = client.DefaultRequestTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Orchestrations = slices.Sorted(slices.Values(opts.Orchestrations))
	h := &Handler{
		nc:     nc,
		client: client.New(nc, client.WithPrefix(opts.Prefix), client.WithRequestTimeout(opts.RequestTimeout)),
		opts:   opts,
		log:    opts.Logger,
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	h.pages = pages
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: static assets: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	mux.HandleFunc("GET /{$}", h.listPage)
	mux.HandleFunc("GET /instance", h.instancePage)
	mux.HandleFunc("GET /events", h.events)
	mux.HandleFunc("GET /start", h.startPage)
	mux.HandleFunc("POST /action", h.action)
	h.mux = mux
	return h, nil
}

// ServeHTTP serves the UI with its security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// No inline script or style, nothing from elsewhere, no framing.
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

// staticHandler serves the embedded assets, cacheable for an hour.
func staticHandler(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// Server is the UI listening on an address.
type Server struct {
	srv  *http.Server
	addr string
	// cancel ends the base context of every request, so that event
	// streams return before Shutdown waits for them.
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Listen serves h on addr (host:port; port 0 picks one) until Stop.
func Listen(addr string, h http.Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ui: listen on %s: %w", addr, err)
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return base },
		},
		addr:   ln.Addr().String(),
		cancel: cancel,
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ui server", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.addr }

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.addr + "/" }

// Stop ends the event streams and shuts the server down, waiting for
// requests in flight until ctx ends.
func (s *Server) Stop(ctx context.Context) error {
	s.cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	s.done.Wait()
	if err != nil {
		return fmt.Errorf("ui: shutdown: %w", err)
	}
	return nil
}
