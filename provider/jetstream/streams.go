package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

func (p *Provider) storage() natsjs.StorageType {
	if p.opts.MemoryStorage {
		return natsjs.MemoryStorage
	}
	return natsjs.FileStorage
}

// stream creates or updates the stream cfg describes (EnsureStream), or,
// with Options.VerifyStreams, waits for it and checks it (VerifyStream).
func (p *Provider) stream(ctx context.Context, cfg natsjs.StreamConfig) (natsjs.Stream, error) {
	if p.opts.VerifyStreams {
		return VerifyStream(ctx, p.js, cfg, p.logInfo)
	}
	return EnsureStream(ctx, p.js, cfg)
}

func (p *Provider) logInfo(msg string) { p.log.Info(msg) }

// consumer creates or updates the durable consumer cfg describes on the
// work stream, or, with Options.VerifyStreams, checks it: after New a
// missing consumer is an error (New waits for those of Options.WorkQueues).
func (p *Provider) consumer(ctx context.Context, cfg natsjs.ConsumerConfig) (natsjs.Consumer, error) {
	if p.opts.VerifyStreams {
		return verifyConsumer(ctx, p.workStream, cfg)
	}
	c, err := p.workStream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", cfg.Durable, err)
	}
	return c, nil
}

// ensureStreams creates or updates (with Options.VerifyStreams: checks) the
// log and work streams and the consumers of Options.WorkQueues.
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
		// The shard count is the deployment's: every process must hash
		// entities alike (RecordedShards).
		Metadata: map[string]string{shardsMetadata: strconv.Itoa(p.opts.Shards)},
	}
	s, err := p.stream(ctx, logCfg)
	if err != nil {
		return fmt.Errorf("log stream: %w", err)
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
	s, err = p.stream(ctx, workCfg)
	if err != nil {
		return fmt.Errorf("work stream: %w", err)
	}
	p.workStream = s
	if p.store != nil {
		if err := p.ensureSnapStream(ctx); err != nil {
			return err
		}
	}
	for _, q := range p.opts.WorkQueues {
		if p.opts.VerifyStreams {
			// Wait (outside the work queues' lock) for an administering
			// process to create the consumer.
			name := p.workConsumerConfig(q).Durable
			err := awaitExisting(ctx, "consumer "+name, natsjs.ErrConsumerNotFound, p.logInfo, func(ctx context.Context) error {
				_, err := p.workStream.Consumer(ctx, name)
				return err
			})
			if err != nil {
				return fmt.Errorf("work queue %q: %w", q, err)
			}
		}
		if _, err := p.workQueue(ctx, q); err != nil {
			return fmt.Errorf("work queue %q: %w", q, err)
		}
	}
	return nil
}

// ensureEntityConsumer creates or updates (or verifies) the durable consumer of one shard
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
	return p.consumer(ctx, cfg)
}

// ensureWorkConsumer creates or updates (or verifies) the durable consumer
// shared by every process fetching from a work queue.
func (p *Provider) ensureWorkConsumer(ctx context.Context, queue string) (natsjs.Consumer, error) {
	return p.consumer(ctx, p.workConsumerConfig(queue))
}

// workConsumerConfig is the durable consumer of a work queue.
func (p *Provider) workConsumerConfig(queue string) natsjs.ConsumerConfig {
	return natsjs.ConsumerConfig{
		Durable:       p.names.workConsumer(queue),
		FilterSubject: p.names.workFilter(queue),
		AckPolicy:     natsjs.AckExplicitPolicy,
		AckWait:       p.topo.LockTimeout,
		MaxDeliver:    -1,
		MaxAckPending: p.opts.MaxAckPending,
		DeliverPolicy: natsjs.DeliverAllPolicy,
	}
}

// shardsMetadata is the log stream's metadata key recording the
// deployment's shard count.
const shardsMetadata = "reprise.shards"

// LegacyShards is the shard count of a deployment whose log stream records
// none: it was created by an earlier version, whose processes all used the
// same -shards, 16 unless set.
const LegacyShards = 16

// RecordedShards returns the shard count of the deployment under prefix as
// its log stream records it: LegacyShards for a log stream an earlier
// version created, 0 when there is no log stream (a new deployment).
func RecordedShards(ctx context.Context, js natsjs.JetStream, prefix string) (int, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	s, err := js.Stream(ctx, names{prefix: prefix}.logStream())
	if errors.Is(err, natsjs.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the shard count of %q: %w", prefix, err)
	}
	v, ok := s.CachedInfo().Config.Metadata[shardsMetadata]
	if !ok {
		return LegacyShards, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: the log stream of %q records shard count %q", errCorrupt, prefix, v)
	}
	return n, nil
}
