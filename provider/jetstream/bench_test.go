package jetstream

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
)

// benchWorkers is the concurrency of every benchmark here, so that their
// figures compare.
const benchWorkers = 16

// BenchmarkRawPublishAck is the baseline: 1 KiB synchronous JetStream
// publishes (each waits for its PubAck) to a file-backed WorkQueue stream,
// from benchWorkers goroutines.
func BenchmarkRawPublishAck(b *testing.B) {
	nc := connect(b, sharedURL)
	js, err := natsjs.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	name := uniquePrefix() + "_raw"
	if _, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Retention: natsjs.WorkQueuePolicy}); err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte("x"), 1024)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	runWorkers(b, func() {
		i := next.Add(1)
		m := nats.NewMsg(fmt.Sprintf("%s.%d", name, i%64))
		m.Data = payload
		if _, err := js.PublishMsg(ctx, m); err != nil {
			b.Error(err)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkCommit measures full commits: fetch an entity's batch (one
// message), commit 3 events of 200 B, one metadata key and n outgoing
// 1 KiB messages (to a work queue), through the whole protocol: log record
// with compare-and-set, Pebble apply, dispatch, ack.
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{1, 5} {
		b.Run(fmt.Sprintf("out=%d", n), func(b *testing.B) { benchCommit(b, n) })
	}
}

func benchCommit(b *testing.B, outgoing int) {
	topo := provider.Topology{EntityQueues: []string{qMain}, IndexedKeys: []string{"color"}, LockTimeout: 30 * time.Second}
	r := newRig(b, sharedURL, topo, Options{})
	ctx := context.Background()
	event := bytes.Repeat([]byte("e"), 200)
	payload := bytes.Repeat([]byte("o"), 1024)

	// One trigger per entity, sent before the clock starts.
	for i := 0; i < b.N; i += 256 {
		var batch []provider.Outgoing
		for j := i; j < min(i+256, b.N); j++ {
			batch = append(batch, provider.Outgoing{Queue: qMain, Message: provider.Message{
				ID: "t", Entity: fmt.Sprintf("bench-%d", j), Data: payload[:64],
			}})
		}
		if err := r.p.Send(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	runWorkers(b, func() {
		batch, err := r.p.FetchEntity(ctx, qMain)
		if err != nil {
			b.Error(err)
			return
		}
		c := provider.Commit{
			Events:      []provider.Event{{Seq: 1, Data: event}, {Seq: 2, Data: event}, {Seq: 3, Data: event}},
			SetMetadata: provider.Metadata{"color": "green"},
		}
		for k := range outgoing {
			c.Send = append(c.Send, provider.Outgoing{Queue: qWork, Message: provider.Message{
				ID: fmt.Sprintf("o%d", k), Entity: batch.Lock.Entity, Data: payload,
			}})
		}
		if err := r.p.Commit(ctx, batch.Lock, c); err != nil {
			b.Error(err)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
}

// runWorkers calls op b.N times from benchWorkers goroutines.
func runWorkers(b *testing.B, op func()) {
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				op()
			}
		})
	}
	wg.Wait()
}
