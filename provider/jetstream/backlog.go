package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// ShardBacklog reads one shard of an entity-locked queue: how many of its
// messages wait or are in flight (the shard consumer's pending plus ack
// pending), and when the oldest of them was stored (zero when none). It
// makes one request to the server when the shard is empty, two otherwise;
// metrics call it on scrape to expose a stuck shard.
func (p *Provider) ShardBacklog(ctx context.Context, queue string, shard int) (int, time.Time, error) {
	if err := p.checkOpen(); err != nil {
		return 0, time.Time{}, err
	}
	if !p.topo.IsEntityQueue(queue) || shard < 0 || shard >= p.opts.Shards {
		return 0, time.Time{}, fmt.Errorf("backlog of queue %q shard %d: not a shard of an entity-locked queue", queue, shard)
	}
	cons, err := p.js.Consumer(ctx, p.names.workStream(), p.names.entityConsumer(queue, shard))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("backlog of queue %q shard %d: %w", queue, shard, err)
	}
	info := cons.CachedInfo()
	pending := int(info.NumPending) + info.NumAckPending
	if pending == 0 {
		return 0, time.Time{}, nil
	}
	// Acked messages leave the work stream, so the first stored message of
	// the shard at or above the ack floor is the oldest unprocessed one.
	msg, err := p.workStream.GetMsg(ctx, info.AckFloor.Stream+1, natsjs.WithGetMsgSubject(p.names.entityShardFilter(queue, shard)))
	if errors.Is(err, natsjs.ErrMsgNotFound) {
		return pending, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("backlog of queue %q shard %d: oldest message: %w", queue, shard, err)
	}
	return pending, msg.Time, nil
}
