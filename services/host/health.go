package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// httpServer serves /healthz, /readyz and /metrics.
type httpServer struct {
	srv  *http.Server
	addr string
	done sync.WaitGroup
}

// startHTTP listens on addr and serves the node's endpoints until stop.
//
//   - /healthz: 200 while the process's loops make progress (liveness): 503
//     naming the loops busy with one unit of work (a turn, an activity's
//     completion, a pass of a provider loop) for longer than
//     Config.StallTimeout. Loops waiting for work are alive.
//   - /readyz: 200 once the node is ready (NATS connected, streams present,
//     store open, recovery done) and until it starts draining; 503 with the
//     reason otherwise.
//   - /metrics: the node's metrics (package services/metrics).
//
// Every /readyz answer also sets reprise_ready.
func startHTTP(addr string, n *Node, log *slog.Logger) (*httpServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := n.live.Check(n.cfg.StallTimeout); err != nil {
			log.Warn("liveness check failed", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		err := n.checkReady(ctx)
		n.metrics.SetReady(err == nil)
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", n.metrics.Handler())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on metrics address %s: %w", addr, err)
	}
	h := &httpServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		addr: ln.Addr().String(),
	}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return h, nil
}

func (h *httpServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
	h.done.Wait()
}
