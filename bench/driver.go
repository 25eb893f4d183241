package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// deployment is what the generator drives: an in-process orchestrator over
// the embedded default, or a remote one.
type deployment struct {
	node    *host.Node // nil with -remote
	dataDir string     // removed on close unless kept
	nc      *nats.Conn
	client  *client.Client
	tracker *tracker
	// fallbacks are the Wait requests of waiters that heard nothing.
	fallbacks sync.WaitGroup
}

// startDeployment starts the in-process node (unless o.remote is set),
// connects the generator's own NATS connection and subscribes to the
// status notifications.
func startDeployment(ctx context.Context, o options, log *slog.Logger) (*deployment, error) {
	d := &deployment{}
	url := o.remote
	if url == "" {
		dir := o.dataDir
		if dir == "" {
			var err error
			if dir, err = os.MkdirTemp("", "reprise-bench-"); err != nil {
				return nil, fmt.Errorf("data directory: %w", err)
			}
			d.dataDir = dir
		}
		reg := runtime.NewRegistry()
		if err := register(reg); err != nil {
			d.close(ctx)
			return nil, err
		}
		node, err := host.Start(ctx, host.Orchestrator, hostConfig(o, dir, log), reg)
		if err != nil {
			d.close(ctx)
			return nil, err
		}
		d.node = node
		url = node.NATSURL()
	}
	nc, err := nats.Connect(url, nats.Name("reprise-bench"), nats.MaxReconnects(-1))
	if err != nil {
		d.close(ctx)
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	d.nc = nc
	d.client = client.New(nc, client.WithPrefix(o.prefix))
	if d.tracker, err = newTracker(nc, o.prefix); err != nil {
		d.close(ctx)
		return nil, err
	}
	return d, nil
}

// hostConfig is the in-process deployment's configuration over dir.
func hostConfig(o options, dir string, log *slog.Logger) host.Config {
	var owned []int
	if o.rebuild {
		// Every shard pinned to this process: Start returns once each
		// is recovered.
		for s := range o.shards {
			owned = append(owned, s)
		}
	}
	return host.Config{
		OwnedShards:         owned,
		DataDir:             dir,
		NATSListen:          "127.0.0.1:0",
		MetricsAddr:         "off",
		UIAddr:              "off",
		Prefix:              o.prefix,
		Shards:              o.shards,
		Concurrency:         o.concurrencyTurns,
		ActivityConcurrency: o.concurrencyActivities,
		NATSSync:            o.natsSync,
		FSync:               o.fsync,
		SnapshotRecords:     o.snapshotRecords,
		Retention:           o.retention,
		Logger:              log,
	}
}

func (d *deployment) close(ctx context.Context) {
	d.fallbacks.Wait()
	if d.tracker != nil {
		d.tracker.close()
	}
	if d.nc != nil {
		d.nc.Close()
	}
	if d.node != nil {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = d.node.Stop(stopCtx)
		cancel()
	}
	if d.dataDir != "" {
		_ = os.RemoveAll(d.dataDir)
	}
}

// outcome is how one instance ended, as its terminal notification (or a
// fallback wait) reported it.
type outcome struct {
	status api.Status
	err    string
	at     time.Time
}

// tracker watches every status notification of the deployment
// (<prefix>.notify.*) with one subscription and wakes the generator's
// waiter of the instance that reached a terminal status. One wildcard
// subscription is what a fast client does: a Wait request per instance
// would double the API server's request load and measure the wait path
// rather than the engine. Notifications are best effort, so a waiter that
// hears nothing for a while falls back to a Wait request (see waitFor).
type tracker struct {
	sub *nats.Subscription

	mu      sync.Mutex
	waiting map[string]chan outcome
}

func newTracker(nc *nats.Conn, prefix string) (*tracker, error) {
	t := &tracker{waiting: map[string]chan outcome{}}
	sub, err := nc.Subscribe(api.NotifyWildcard(prefix), t.onNotify)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", api.NotifyWildcard(prefix), err)
	}
	// Never drop notifications for being slow: the generator would then
	// wait for the fallback.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("notification subscription: %w", err)
	}
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("notification subscription: %w", err)
	}
	t.sub = sub
	return t, nil
}

// note is the part of a status notification the tracker reads.
type note struct {
	ID     string     `json:"id"`
	Status api.Status `json:"status"`
	Error  string     `json:"error"`
}

func (t *tracker) onNotify(m *nats.Msg) {
	now := time.Now()
	var n note
	if json.Unmarshal(m.Data, &n) != nil || !n.Status.IsTerminal() {
		return
	}
	t.finish(n.ID, outcome{status: n.Status, err: n.Error, at: now})
}

// finish delivers the outcome of id to its waiter, if any is still
// waiting.
func (t *tracker) finish(id string, o outcome) {
	t.mu.Lock()
	ch, ok := t.waiting[id]
	delete(t.waiting, id)
	t.mu.Unlock()
	if ok {
		ch <- o
	}
}

// expect registers a waiter for id; call it before starting id so that no
// notification is missed.
func (t *tracker) expect(id string) <-chan outcome {
	ch := make(chan outcome, 1)
	t.mu.Lock()
	t.waiting[id] = ch
	t.mu.Unlock()
	return ch
}

// forget drops the waiter of id (a start that failed).
func (t *tracker) forget(id string) {
	t.mu.Lock()
	delete(t.waiting, id)
	t.mu.Unlock()
}

func (t *tracker) close() {
	if t.sub != nil {
		_ = t.sub.Unsubscribe()
	}
}

// fallbackAfter is how long a waiter trusts the notifications before it
// also asks with a Wait request.
const fallbackAfter = 15 * time.Second

// waitFor waits for id's outcome: its notification, or after
// fallbackAfter a Wait request, until ctx ends.
func (d *deployment) waitFor(ctx context.Context, id string, ch <-chan outcome) (outcome, error) {
	t := time.NewTimer(fallbackAfter)
	defer t.Stop()
	select {
	case o := <-ch:
		return o, nil
	case <-ctx.Done():
		d.tracker.forget(id)
		return outcome{}, ctx.Err()
	case <-t.C:
	}
	// No notification yet: ask, and take whichever answer comes first.
	d.fallbacks.Go(func() {
		st, err := d.client.Wait(ctx, id)
		if err == nil {
			d.tracker.finish(id, outcome{status: st.Status, err: st.Error, at: time.Now()})
		}
	})
	select {
	case o := <-ch:
		return o, nil
	case <-ctx.Done():
		d.tracker.forget(id)
		return outcome{}, ctx.Err()
	}
}

// errFailed marks an instance that did not complete.
var errFailed = errors.New("instance did not complete")
