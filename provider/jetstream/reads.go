package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
)

// readable checks the provider and the entity, completing a commit of the
// entity that stopped midway, so that reads see every commit that returned
// or passed its durability point.
func (p *Provider) readable(ctx context.Context, entity string) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	if err := provider.ValidateEntity(entity); err != nil {
		return err
	}
	if p.store == nil {
		return ErrNoStore
	}
	if p.needsRepair(entity) {
		return p.repair(ctx, entity)
	}
	return nil
}

// History returns the events of one partition of an entity of an owned
// shard, from the local store.
func (p *Provider) History(ctx context.Context, entity string, partition uint64) ([]provider.Event, error) {
	if err := p.readable(ctx, entity); err != nil {
		return nil, err
	}
	return p.store.History(entity, partition)
}

// CurrentPartition returns the entity's current partition; ErrNotFound if it
// never committed.
func (p *Provider) CurrentPartition(ctx context.Context, entity string) (uint64, error) {
	if err := p.readable(ctx, entity); err != nil {
		return 0, err
	}
	es, err := p.store.Entity(entity)
	if err != nil {
		return 0, err
	}
	if !es.Exists {
		return 0, fmt.Errorf("%w: entity %q", provider.ErrNotFound, entity)
	}
	return es.Partition, nil
}

// Metadata returns a copy of the entity's metadata; ErrNotFound if it never
// committed.
func (p *Provider) Metadata(ctx context.Context, entity string) (provider.Metadata, error) {
	if err := p.readable(ctx, entity); err != nil {
		return nil, err
	}
	return p.store.Metadata(entity)
}

// ListEntities pages through the entities of the owned shards by an indexed
// metadata key.
func (p *Provider) ListEntities(ctx context.Context, q provider.ListQuery) (provider.ListPage, error) {
	if err := p.checkOpen(); err != nil {
		return provider.ListPage{}, err
	}
	if !p.topo.IsIndexed(q.Key) {
		return provider.ListPage{}, fmt.Errorf("%w: metadata key %q is not indexed", provider.ErrInvalidArgument, q.Key)
	}
	if p.store == nil {
		return provider.ListPage{}, ErrNoStore
	}
	if err := p.repairAll(ctx); err != nil {
		return provider.ListPage{}, err
	}
	return p.store.List(q)
}

// QueueDepth counts the messages stored for a queue in the work stream:
// waiting, buffered by a provider, locked, abandoned with a delay, and
// delayed (pending schedules). It reads the work stream's per-subject counts
// for the queue (one request, paged above 100,000 subjects), so its cost
// grows with the number of entities that have messages in the queue.
//
// On a replicated stream an acked message is removed by a later replicated
// proposal, so the stored count lags acks briefly: QueueDepth then also reads
// the queue's consumers (pending + ack pending) and re-reads, for up to
// depthSettle, until both agree.
func (p *Provider) QueueDepth(ctx context.Context, queue string) (int, error) {
	if err := p.checkOpen(); err != nil {
		return 0, err
	}
	if err := provider.ValidateQueueName(queue); err != nil {
		return 0, err
	}
	if err := p.ackBarrier(ctx, queue); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(depthSettle)
	for {
		queued, delayed, err := p.storedCounts(ctx, queue)
		if err != nil || p.opts.Replicas == 1 {
			return int(queued + delayed), err
		}
		held, ok, err := p.consumerCounts(ctx, queue)
		if err != nil || !ok || held == queued || time.Now().After(deadline) {
			return int(queued + delayed), err
		}
		// Replication offers no event to wait for.
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// depthSettle bounds how long QueueDepth waits for a replicated stream's
// count to agree with its consumers'.
const depthSettle = time.Second

// storedCounts returns how many messages are stored for queue: queued
// (waiting or delivered) and delayed (schedules).
func (p *Provider) storedCounts(ctx context.Context, queue string) (queued, delayed uint64, err error) {
	info, err := p.workStream.Info(ctx, natsjs.WithSubjectFilter(p.names.queueFilter(queue)))
	if err != nil {
		return 0, 0, fmt.Errorf("depth of queue %q: %w", queue, err)
	}
	schedules := p.names.prefix + ".s."
	for subject, n := range info.State.Subjects {
		if strings.HasPrefix(subject, schedules) {
			delayed += n
		} else {
			queued += n
		}
	}
	return queued, delayed, nil
}

// consumerCounts sums pending and ack-pending messages over the consumers
// of queue; ok is false when one of them does not exist.
func (p *Provider) consumerCounts(ctx context.Context, queue string) (n uint64, ok bool, err error) {
	var durables []string
	if p.topo.IsEntityQueue(queue) {
		for shard := range p.opts.Shards {
			durables = append(durables, p.names.entityConsumer(queue, shard))
		}
	} else {
		durables = []string{p.names.workConsumer(queue)}
	}
	for _, d := range durables {
		c, err := p.workStream.Consumer(ctx, d)
		if errors.Is(err, natsjs.ErrConsumerNotFound) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("depth of queue %q: %w", queue, err)
		}
		info := c.CachedInfo()
		n += info.NumPending + uint64(info.NumAckPending)
	}
	return n, true, nil
}
