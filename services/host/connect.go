package host

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/provider/jetstream"
)

// startEmbedded starts the embedded NATS server with JetStream storing
// under <data dir>/nats.
func startEmbedded(cfg Config) (*natsembed.Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.NATSListen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS address %q: %w", cfg.NATSListen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS address %q: bad port", cfg.NATSListen)
	}
	srv, err := natsembed.Start(natsembed.Options{
		StoreDir:   filepath.Join(cfg.DataDir, "nats"),
		Host:       host,
		Port:       port,
		SyncAlways: cfg.NATSSync,
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded NATS server on %s: %w", cfg.NATSListen, err)
	}
	return srv, nil
}

// connectHooks are told about the connection's state changes (for
// metrics); they must not block.
type connectHooks struct {
	disconnected func()
	reconnected  func()
}

// connect dials NATS with the provider's reconnect options plus the
// configured credentials and TLS. It waits for the first connection until
// ctx ends.
func connect(ctx context.Context, cfg Config, url, name string, log *slog.Logger, hooks connectHooks) (*nats.Conn, error) {
	connected := make(chan struct{})
	var once sync.Once
	opts := append(jetstream.ConnectOptions(),
		nats.Name(name),
		nats.ConnectHandler(func(*nats.Conn) { once.Do(func() { close(connected) }) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			hooks.disconnected()
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			hooks.reconnected()
			log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("NATS error", "subject", subject, "err", err)
		}),
	)
	if cfg.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
	}
	if cfg.NATSNKey != "" {
		nkey, err := nats.NkeyOptionFromSeed(cfg.NATSNKey)
		if err != nil {
			return nil, fmt.Errorf("NATS NKey seed %s: %w", cfg.NATSNKey, err)
		}
		opts = append(opts, nkey)
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	if nc.IsConnected() {
		return nc, nil
	}
	// RetryOnFailedConnect returned before the first connection: the
	// connect handler tells when it is made.
	log.Warn("NATS not reachable yet, retrying", "url", url)
	select {
	case <-connected:
		return nc, nil
	case <-ctx.Done():
		nc.Close()
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, ctx.Err())
	}
}
