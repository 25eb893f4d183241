package jetstream

import (
	"context"
	"fmt"
	"sync"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// A commit acks its consumed deliveries without waiting for the server's
// confirmation: a lost ack only brings a delivery back, which is then acked
// as consumed (the store records it). What an unconfirmed ack changes is
// what the server reports for a while: a work-queue stream removes a
// message when its ack is processed, so a stream count read right after a
// commit could still include what the commit consumed. QueueDepth therefore
// first waits for the acks made before it (ackBarrier).

// shardConsumer names one entity queue's consumer of one shard.
type shardConsumer struct {
	queue string
	shard int
}

// unconfirmedAcks remembers, per consumer, the last delivery acked without
// confirmation since the last barrier.
type unconfirmedAcks struct {
	mu   sync.Mutex
	last map[shardConsumer]natsjs.Msg
}

// ackUnconfirmed acks msgs of queue and shard without waiting, and
// remembers the last for the next barrier.
func (p *Provider) ackUnconfirmed(queue string, shard int, msgs []*delivery) error {
	for _, d := range msgs {
		if err := d.msg.Ack(); err != nil {
			return err
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	p.acks.mu.Lock()
	if p.acks.last == nil {
		p.acks.last = map[shardConsumer]natsjs.Msg{}
	}
	p.acks.last[shardConsumer{queue, shard}] = msgs[len(msgs)-1].msg
	p.acks.mu.Unlock()
	return nil
}

// ackBarrier returns once the server has processed every ack this provider
// made without confirmation on queue's consumers before the call. The
// server processes the acks of one consumer in the order they arrive, and
// answers an ack request even for a delivery already acked, so one ack
// request repeating the last ack of each consumer is the barrier.
func (p *Provider) ackBarrier(ctx context.Context, queue string) error {
	p.acks.mu.Lock()
	var pending []natsjs.Msg
	for k, m := range p.acks.last {
		if k.queue == queue {
			pending = append(pending, m)
			delete(p.acks.last, k)
		}
	}
	p.acks.mu.Unlock()
	for _, m := range pending {
		if err := p.ackRequest(ctx, m, []byte("+ACK")); err != nil {
			return fmt.Errorf("confirm the acks of queue %q: %w", queue, err)
		}
	}
	return nil
}
