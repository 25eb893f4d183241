package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
)

// notifyBacklog bounds the status changes waiting to be published.
const notifyBacklog = 4096

// notifyBatch bounds the status changes the publisher takes from the queue
// at once (publishBatch).
const notifyBatch = 256

// notifyReadTimeout bounds the status read of one notification.
const notifyReadTimeout = 10 * time.Second

// Notifier publishes an instance's status object on [api.NotifySubject]
// after every commit that changes its status. Give its OnStatusChange to
// the orchestrator's worker.Options; Start runs the publisher and
// Stop ends it (after the worker has stopped).
//
// OnStatusChange never blocks the dispatcher: it queues the change, and the
// publisher publishes the status the commit left, decoded from the
// change's metadata (a change without metadata is read from the store).
// When the queue is full, the change is published as it is, without the
// output, error and times. A change is not published when a later change
// of the same instance is already queued behind it: only the later status
// is. Notifications are best effort (core NATS); waiters re-read the
// status when notified.
type Notifier struct {
	nc      *nats.Conn
	prefix  string
	client  *control.Client
	log     *slog.Logger
	changes chan runtime.StatusChange
	quit    chan struct{}
	done    chan struct{}
	stop    sync.Once
}

// NewNotifier returns a notifier publishing with nc under prefix (default
// [api.DefaultPrefix]) the statuses client reads.
func NewNotifier(nc *nats.Conn, client *control.Client, prefix string, logger *slog.Logger) *Notifier {
	if logger == nil {
		logger = slog.Default()
	}
	if prefix == "" {
		prefix = api.DefaultPrefix
	}
	return &Notifier{
		nc: nc, prefix: prefix, client: client, log: logger,
		changes: make(chan runtime.StatusChange, notifyBacklog),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// OnStatusChange queues a notification; it is worker.Options'
// OnStatusChange.
func (n *Notifier) OnStatusChange(c runtime.StatusChange) {
	select {
	case n.changes <- c:
	default:
		n.send(c.ID, &api.InstanceStatus{ID: c.ID, Name: c.Name, Status: api.Status(c.Status), Partition: c.Partition})
	}
}

// Start runs the publisher until Stop.
func (n *Notifier) Start() {
	go n.run()
}

// Stop publishes what is queued, then ends the publisher; ctx bounds the
// wait. Stop the worker first: changes reported later are published
// without the store's details.
func (n *Notifier) Stop(ctx context.Context) error {
	n.stop.Do(func() { close(n.quit) })
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("apiserver: stop notifier: %w", ctx.Err())
	}
}

func (n *Notifier) run() {
	defer close(n.done)
	batch := make([]runtime.StatusChange, 0, notifyBatch)
	latest := make(map[string]int, notifyBatch)
	for {
		select {
		case c := <-n.changes:
			batch = n.drain(append(batch[:0], c))
			n.publishBatch(batch, latest)
		case <-n.quit:
			for {
				batch = n.drain(batch[:0])
				if len(batch) == 0 {
					return
				}
				n.publishBatch(batch, latest)
			}
		}
	}
}

// drain appends to b the changes already queued, up to notifyBatch in all.
func (n *Notifier) drain(b []runtime.StatusChange) []runtime.StatusChange {
	for len(b) < notifyBatch {
		select {
		case c := <-n.changes:
			b = append(b, c)
		default:
			return b
		}
	}
	return b
}

// publishBatch publishes the changes of b in order, but for the changes
// that a later change of the same instance in b supersedes: a waiter would
// read the later status anyway, and the earlier one is stale by the time
// it is published. (The worker reports an instance's turns in commit
// order; with group commit, a turn and the next one often become durable
// in the same flush, so their changes arrive together: Running, then
// Completed.) latest is scratch space, reused from batch to batch.
func (n *Notifier) publishBatch(b []runtime.StatusChange, latest map[string]int) {
	if len(b) == 1 {
		n.publish(b[0])
		return
	}
	clear(latest)
	for i, c := range b {
		latest[c.ID] = i
	}
	for i, c := range b {
		if latest[c.ID] == i {
			n.publish(c)
		}
	}
}

// publish publishes the instance's status: the one the commit left when
// the change carries its metadata, else the one read from the store.
func (n *Notifier) publish(c runtime.StatusChange) {
	st, err := n.status(c)
	if err != nil {
		n.log.Warn("read status for notification", "instance", c.ID, "err", err)
		return
	}
	n.send(c.ID, toStatus(st))
}

// status is the status c left. Only a change without metadata, or with
// metadata of an early version (no partition), needs a read, bounded by
// notifyReadTimeout.
func (n *Notifier) status(c runtime.StatusChange) (*control.InstanceStatus, error) {
	if c.Metadata[runtime.MetaPartition] != "" {
		return n.client.StatusFromMetadata(context.Background(), c.ID, c.Metadata)
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyReadTimeout)
	defer cancel()
	if c.Metadata != nil {
		return n.client.StatusFromMetadata(ctx, c.ID, c.Metadata)
	}
	return n.client.Status(ctx, c.ID)
}

func (n *Notifier) send(id string, st *api.InstanceStatus) {
	body, err := json.Marshal(st)
	if err != nil {
		n.log.Warn("encode notification", "instance", id, "err", err)
		return
	}
	if err := n.nc.Publish(api.NotifySubject(n.prefix, id), body); err != nil {
		n.log.Warn("publish notification", "instance", id, "err", err)
	}
}
