// Package memory is an in-process implementation of [provider.Provider], for
// the runtime's unit tests and for examples.
//
// It stores everything in process memory: history, metadata and its index,
// queues, locks and the IDs of recently delivered messages. Nothing survives
// Close or a restart. One mutex guards all state, so every commit is atomic
// by construction; commits are staged and then swapped in, so that an
// injected fault ([provider.FaultInjector]) at any step leaves nothing
// behind.
//
// Fetching is indexed rather than scanned: each entity-locked queue keeps a
// min-heap of its entities ordered by the time their next message becomes
// visible (or their lock expires), and each work queue keeps a heap of visible
// messages and a heap of lock expiries. Blocked fetchers wait on a broadcast
// channel that is replaced on every change, plus a per-wait wake-up from the
// [Clock] for the next time-based change; no goroutine runs in the background.
// Expiries ([provider.Commit.ExpireAt]) wait in a heap by due time and are
// carried out by the first operation at or after it.
//
// Like every provider, this package must not know what the events, metadata
// and messages it stores mean, and it never imports the runtime.
package memory

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/reprise/reprise/provider"
)

// Provider is the in-memory provider. Build it with [New]; all methods are
// safe for concurrent use.
type Provider struct {
	topo        provider.Topology
	clock       Clock
	dedupWindow time.Duration
	log         *slog.Logger

	mu sync.Mutex
	// closed is set by Close; done is closed with it to release waiters.
	closed bool
	done   chan struct{}
	// changed is closed and replaced whenever a message may have become
	// fetchable, waking every blocked fetcher to look again.
	changed chan struct{}
	// tokens and arrivals are counters for lock tokens and message arrival
	// order.
	tokens   uint64
	arrivals uint64
	// failAt is the commit step armed by FailNextCommitAt ("" when none).
	failAt       string
	entities     map[string]*entityRecord
	index        metadataIndex
	entityQueues map[string]*entityQueue
	workQueues   map[string]*workQueue
	// expiries holds the scheduled expiries by due time; every operation
	// carries out those due first (expireDue).
	expiries *indexedHeap[*expiryEntry]
}

var (
	_ provider.Provider      = (*Provider)(nil)
	_ provider.FaultInjector = (*Provider)(nil)
	_ provider.DedupSender   = (*Provider)(nil)
	_ provider.HealthChecker = (*Provider)(nil)
)

// New builds an empty provider for topo (validated and defaulted with
// [provider.ValidateTopology]).
func New(topo provider.Topology, opts ...Option) (*Provider, error) {
	topo, err := provider.ValidateTopology(topo)
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	p := &Provider{
		topo:         topo,
		clock:        cfg.clock,
		dedupWindow:  cfg.dedupWindow,
		log:          cfg.logger,
		done:         make(chan struct{}),
		changed:      make(chan struct{}),
		entities:     map[string]*entityRecord{},
		index:        newMetadataIndex(topo.IndexedKeys),
		entityQueues: map[string]*entityQueue{},
		workQueues:   map[string]*workQueue{},
		expiries:     newExpiryHeap(),
	}
	for _, q := range topo.EntityQueues {
		p.entityQueues[q] = newEntityQueue(q, cfg.dedupWindow)
	}
	return p, nil
}

// Topology returns the validated topology the provider was built with.
func (p *Provider) Topology() provider.Topology { return p.topo }

// Close releases blocked fetchers, which return an error wrapping
// [provider.ErrClosed], as does every later call. Closing twice is a no-op.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	return nil
}

// Healthy reports [provider.ErrClosed] after Close and nil otherwise: an
// in-process provider has nothing else that can fail.
func (p *Provider) Healthy(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.lockOpen("health"); err != nil {
		return err
	}
	p.mu.Unlock()
	return nil
}

// lockOpen takes the mutex and fails if the provider is closed; on success
// the caller must unlock. It carries out the expiries that are due, so that
// no operation sees an entity past its expiry.
func (p *Provider) lockOpen(op string) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("memory: %s: %w", op, provider.ErrClosed)
	}
	p.expireDue(p.clock.Now())
	return nil
}

// broadcast wakes every blocked fetcher. Callers hold p.mu.
func (p *Provider) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// newToken returns a lock token never returned before by this provider.
// Callers hold p.mu.
func (p *Provider) newToken() string {
	p.tokens++
	return strconv.FormatUint(p.tokens, 36)
}

// await blocks until something changed, wakeAt has come (zero: no time-based
// wake-up), ctx ends or the provider closes.
func (p *Provider) await(ctx context.Context, changed <-chan struct{}, wakeAt time.Time) error {
	var due <-chan struct{}
	if !wakeAt.IsZero() {
		ch := make(chan struct{})
		stop := p.clock.AfterFunc(wakeAt.Sub(p.clock.Now()), func() { close(ch) })
		defer stop()
		due = ch
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return fmt.Errorf("memory: fetch: %w", provider.ErrClosed)
	case <-changed:
	case <-due:
	}
	return nil
}

// earliest returns the earlier of two wake-up times, where zero means none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	default:
		return b
	}
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

func cloneMetadata(m provider.Metadata) provider.Metadata {
	out := make(provider.Metadata, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
