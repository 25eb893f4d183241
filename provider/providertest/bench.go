package providertest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// BenchFactory builds a fresh, empty provider for a benchmark and registers
// its cleanup with b.Cleanup, like [Factory].
type BenchFactory func(b *testing.B, topo provider.Topology) provider.Provider

// Benchmark measures the operations an engine leans on, against providers
// built by factory:
//
//   - SendFetchCommit: one turn — send a message, fetch its entity, commit
//     three 200-byte events into a new partition plus a metadata key.
//   - SendFetchCommitAmong10kDelayed: the same while 10,000 other entities
//     hold delayed messages (a fetch must not scan them).
//   - ParallelSendFetchCommit: the turn from GOMAXPROCS goroutines.
//   - WorkRoundTrip: send a 1 KiB work message, fetch it, complete it.
//   - FanOut10k: one commit sends 10,000 work messages; each is completed
//     with a reply to the entity, which collects the replies in batches.
//   - History1000: read a 1,000-event partition.
func Benchmark(b *testing.B, factory BenchFactory) {
	b.Run("SendFetchCommit", func(b *testing.B) { benchTurns(b, factory, 0) })
	b.Run("SendFetchCommitAmong10kDelayed", func(b *testing.B) { benchTurns(b, factory, 10_000) })
	b.Run("ParallelSendFetchCommit", func(b *testing.B) { benchParallelTurns(b, factory) })
	b.Run("WorkRoundTrip", func(b *testing.B) { benchWorkRoundTrip(b, factory) })
	b.Run("FanOut10k", func(b *testing.B) { benchFanOut(b, factory, 10_000) })
	b.Run("History1000", func(b *testing.B) { benchHistory(b, factory, 1000) })
}

func benchPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i * 31)
	}
	return p
}

// turn sends one message to entity, fetches a batch and commits three events
// into the partition after the current one.
func turn(ctx context.Context, p provider.Provider, entity, id string, event []byte) error {
	msg := provider.Outgoing{Queue: queueA, Message: provider.Message{ID: id, Entity: entity, Data: event[:64]}}
	if err := p.Send(ctx, msg); err != nil {
		return err
	}
	batch, err := p.FetchEntity(ctx, queueA)
	if err != nil {
		return err
	}
	return p.Commit(ctx, batch.Lock, provider.Commit{
		Partition:   batch.Partition + 1,
		Events:      []provider.Event{{Seq: 1, Data: event}, {Seq: 2, Data: event}, {Seq: 3, Data: event}},
		SetMetadata: provider.Metadata{keyColor: "x"},
	})
}

func benchTurns(b *testing.B, factory BenchFactory, delayed int) {
	ctx := b.Context()
	p := factory(b, baseTopology())
	later := time.Now().Add(time.Hour)
	for i := range delayed {
		entity := fmt.Sprintf("delayed-%d", i)
		m := provider.Outgoing{Queue: queueA, Message: provider.Message{ID: entity, Entity: entity, NotBefore: later}}
		if err := p.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	event := benchPayload(200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := turn(ctx, p, fmt.Sprintf("entity-%d", i%1024), fmt.Sprintf("m-%d", i), event); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
}

func benchParallelTurns(b *testing.B, factory BenchFactory) {
	ctx := b.Context()
	p := factory(b, baseTopology())
	event := benchPayload(200)
	var workers atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := workers.Add(1)
		for i := 0; pb.Next(); i++ {
			entity := fmt.Sprintf("entity-%d-%d", w, i%256)
			if err := turn(ctx, p, entity, fmt.Sprintf("m-%d-%d", w, i), event); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
}

func benchWorkRoundTrip(b *testing.B, factory BenchFactory) {
	ctx := b.Context()
	p := factory(b, baseTopology())
	data := benchPayload(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		msg := provider.Outgoing{Queue: workA, Message: provider.Message{ID: fmt.Sprintf("w-%d", i), Entity: "owner", Data: data}}
		if err := p.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		item, err := p.FetchWork(ctx, workA)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.CompleteWork(ctx, item.Lock, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "round-trips/s")
}

func benchFanOut(b *testing.B, factory BenchFactory, width int) {
	ctx := b.Context()
	p := factory(b, baseTopology())
	data := benchPayload(256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		entity := fmt.Sprintf("fan-%d", i)
		out := make([]provider.Outgoing, width)
		for j := range out {
			out[j] = provider.Outgoing{Queue: workA, Message: provider.Message{ID: fmt.Sprintf("%s-w%d", entity, j), Entity: entity, Data: data}}
		}
		start := provider.Outgoing{Queue: queueA, Message: provider.Message{ID: entity, Entity: entity}}
		if err := p.Send(ctx, start); err != nil {
			b.Fatal(err)
		}
		batch, err := p.FetchEntity(ctx, queueA)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Commit(ctx, batch.Lock, provider.Commit{Events: []provider.Event{{Seq: 1, Data: data}}, Send: out}); err != nil {
			b.Fatal(err)
		}
		for range width {
			item, err := p.FetchWork(ctx, workA)
			if err != nil {
				b.Fatal(err)
			}
			reply := provider.Outgoing{Queue: queueA, Message: provider.Message{ID: item.Message.ID + "-r", Entity: entity, Data: data}}
			if err := p.CompleteWork(ctx, item.Lock, []provider.Outgoing{reply}); err != nil {
				b.Fatal(err)
			}
		}
		seq := uint64(1)
		for got := 0; got < width; {
			batch, err := p.FetchEntity(ctx, queueA)
			if err != nil {
				b.Fatal(err)
			}
			seq++
			got += len(batch.Messages)
			if err := p.Commit(ctx, batch.Lock, provider.Commit{Events: []provider.Event{{Seq: seq, Data: data}}}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*width)/b.Elapsed().Seconds(), "work-items/s")
}

func benchHistory(b *testing.B, factory BenchFactory, n int) {
	ctx := b.Context()
	p := factory(b, baseTopology())
	if err := p.Send(ctx, provider.Outgoing{Queue: queueA, Message: provider.Message{ID: "h", Entity: "long"}}); err != nil {
		b.Fatal(err)
	}
	batch, err := p.FetchEntity(ctx, queueA)
	if err != nil {
		b.Fatal(err)
	}
	data := benchPayload(200)
	evs := make([]provider.Event, n)
	for i := range evs {
		evs[i] = provider.Event{Seq: uint64(i + 1), Data: data}
	}
	if err := p.Commit(ctx, batch.Lock, provider.Commit{Events: evs}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h, err := p.History(ctx, "long", 0)
		if err != nil || len(h) != n {
			b.Fatalf("History: %d events, %v", len(h), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
