package jetstream

import (
	"context"
	"fmt"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

func (p *Provider) storage() natsjs.StorageType {
	if p.opts.MemoryStorage {
		return natsjs.MemoryStorage
	}
	return natsjs.FileStorage
}

// ensureStreams creates or updates the log and work streams.
func (p *Provider) ensureStreams(ctx context.Context) error {
	logCfg := natsjs.StreamConfig{
		Name:        p.names.logStream(),
		Description: "commit records: one per commit, per-entity subjects, the source of truth of the materialized store",
		Subjects:    p.names.logSubjects(),
		Retention:   natsjs.LimitsPolicy,
		Storage:     p.storage(),
		Replicas:    p.opts.Replicas,
		Discard:     natsjs.DiscardOld,
		// The dispatch marks replace their predecessor (Nats-Rollup: sub).
		AllowRollup: true,
		// Direct gets (marks, catch-up, the completer) skip the JetStream
		// API queue; on a replicated stream they could read a lagging
		// replica, so they are used on one replica only.
		AllowDirect: p.opts.Replicas == 1,
	}
	s, err := p.js.CreateOrUpdateStream(ctx, logCfg)
	if err != nil {
		return fmt.Errorf("create log stream %s: %w", logCfg.Name, err)
	}
	p.logStream = s

	workCfg := natsjs.StreamConfig{
		Name:              p.names.workStream(),
		Description:       "queued, locked and delayed messages of every queue",
		Subjects:          p.names.workSubjects(),
		Retention:         natsjs.WorkQueuePolicy,
		Storage:           p.storage(),
		Replicas:          p.opts.Replicas,
		Duplicates:        p.opts.DuplicateWindow,
		AllowMsgSchedules: true,
		// Every fetch reads the last sequence of the entity's subject
		// (awaitComplete). A direct get is served by the stream itself,
		// not queued behind the JetStream API, and costs the server a
		// fraction of it. Replicated streams keep the API read: a
		// follower may answer a direct get with an older last sequence.
		AllowDirect: p.opts.Replicas == 1,
		Discard:     natsjs.DiscardOld,
	}
	s, err = p.js.CreateOrUpdateStream(ctx, workCfg)
	if err != nil {
		return fmt.Errorf("create work stream %s: %w", workCfg.Name, err)
	}
	p.workStream = s
	return nil
}

// ensureEntityConsumer creates or updates the durable consumer of one shard
// of an entity-locked queue. AckWait is the lock timeout: an un-acked
// delivery is the lock.
func (p *Provider) ensureEntityConsumer(ctx context.Context, queue string, shard int) (natsjs.Consumer, error) {
	cfg := natsjs.ConsumerConfig{
		Durable:       p.names.entityConsumer(queue, shard),
		FilterSubject: p.names.entityShardFilter(queue, shard),
		AckPolicy:     natsjs.AckExplicitPolicy,
		AckWait:       p.topo.LockTimeout,
		MaxDeliver:    -1,
		MaxAckPending: p.opts.MaxAckPending,
		DeliverPolicy: natsjs.DeliverAllPolicy,
	}
	c, err := p.workStream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", cfg.Durable, err)
	}
	return c, nil
}

// ensureWorkConsumer creates or updates the durable consumer shared by every
// process fetching from a work queue.
func (p *Provider) ensureWorkConsumer(ctx context.Context, queue string) (natsjs.Consumer, error) {
	cfg := natsjs.ConsumerConfig{
		Durable:       p.names.workConsumer(queue),
		FilterSubject: p.names.workFilter(queue),
		AckPolicy:     natsjs.AckExplicitPolicy,
		AckWait:       p.topo.LockTimeout,
		MaxDeliver:    -1,
		MaxAckPending: p.opts.MaxAckPending,
		DeliverPolicy: natsjs.DeliverAllPolicy,
	}
	c, err := p.workStream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", cfg.Durable, err)
	}
	return c, nil
}
