package apiserver

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/api"
)

// Notifying wraps p so that every successful commit that changes an
// instance's status publishes the instance's status object on
// [api.NotifySubject]. Give the wrapped provider to the runtime.Worker of
// the orchestrator.
//
// The runtime writes the status metadata key only when the status changes
// (see runtime.MetaStatus), so the wrapper publishes once per change. It
// reads the committed metadata back to publish the whole status object.
// Notifications are best effort (core NATS): waiters re-read the status
// after subscribing, so a lost one only delays a wait until its timeout.
func Notifying(p provider.Provider, nc *nats.Conn, prefix string, logger *slog.Logger) provider.Provider {
	if logger == nil {
		logger = slog.Default()
	}
	if prefix == "" {
		prefix = api.DefaultPrefix
	}
	return &notifying{
		Provider: p,
		nc:       nc,
		prefix:   prefix,
		client:   runtime.NewClient(p, runtime.ClientOptions{}),
		log:      logger,
	}
}

type notifying struct {
	provider.Provider
	nc     *nats.Conn
	prefix string
	client *runtime.Client
	log    *slog.Logger
}

// Commit implements provider.Provider.
func (n *notifying) Commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) error {
	if err := n.Provider.Commit(ctx, lock, c); err != nil {
		return err
	}
	if _, changed := c.SetMetadata[runtime.MetaStatus]; changed {
		n.publish(ctx, lock.Entity)
	}
	return nil
}

// publish reads the instance's status back (it may already be newer than
// the commit that triggered it, which only makes the notification fresher)
// and publishes it.
func (n *notifying) publish(ctx context.Context, id string) {
	obj, err := statusObject(ctx, n.client, n.Provider, id)
	if err != nil {
		n.log.Warn("read status for notification", "instance", id, "err", err)
		return
	}
	body, err := json.Marshal(obj)
	if err != nil {
		n.log.Warn("encode notification", "instance", id, "err", err)
		return
	}
	if err := n.nc.Publish(api.NotifySubject(n.prefix, id), body); err != nil {
		n.log.Warn("publish notification", "instance", id, "err", err)
	}
}
