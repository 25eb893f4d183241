package pebble_test

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/reprise/reprise/provider"
	pstore "github.com/reprise/reprise/provider/pebble"
)

// benchEntities is how many entities the apply benchmarks spread commits over.
const benchEntities = 1024

// committer builds the benchmark commit: 3 events of 200 B, 3 metadata keys
// (one of them indexed), 2 consumed ids, a log sequence. It reuses its buffers.
type committer struct {
	entities []string
	ids      [][2]string
	mds      []provider.Metadata
	next     []uint64
	events   []provider.Event
	update   []pstore.Update
	n        int
}

func newCommitter(prefix string) *committer {
	c := &committer{
		events: make([]provider.Event, 3),
		update: make([]pstore.Update, 1),
		next:   make([]uint64, benchEntities),
	}
	for i := range benchEntities {
		c.entities = append(c.entities, fmt.Sprintf("%s-entity-%06d", prefix, i))
		c.ids = append(c.ids, [2]string{fmt.Sprintf("%s-msg-%d-a", prefix, i), fmt.Sprintf("%s-msg-%d-b", prefix, i)})
		c.mds = append(c.mds, provider.Metadata{"phase": fmt.Sprint(i % 4), "note": "benchmark", "detail": prefix})
	}
	payload := bytes.Repeat([]byte("x"), 200)
	for i := range c.events {
		c.events[i].Data = payload
	}
	return c
}

func (c *committer) commit(b *testing.B, s *pstore.Store) {
	e := c.n % benchEntities
	c.n++
	for i := range c.events {
		c.events[i].Seq = c.next[e]
		c.next[e]++
	}
	c.update[0] = pstore.Update{
		Entity:      c.entities[e],
		Events:      c.events,
		SetMetadata: c.mds[e],
		Consumed:    c.ids[e][:],
		LogSeq:      uint64(c.n),
	}
	if err := s.Apply(c.update, nil); err != nil {
		b.Fatal(err)
	}
}

func benchStore(b *testing.B) *pstore.Store {
	s, err := pstore.Open(pstore.Options{Dir: b.TempDir(), IndexedKeys: indexed})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkApply(b *testing.B) {
	s := benchStore(b)
	c := newCommitter("single")
	b.ReportAllocs()
	for b.Loop() {
		c.commit(b, s)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

func BenchmarkApplyParallel(b *testing.B) {
	s := benchStore(b)
	var workers atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := newCommitter(fmt.Sprintf("w%d", workers.Add(1)))
		for pb.Next() {
			c.commit(b, s)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

func BenchmarkHistoryRead(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			s := benchStore(b)
			payload := bytes.Repeat([]byte("y"), 200)
			const perCommit = 100
			for start := 0; start < n; start += perCommit {
				var evs []provider.Event
				for seq := start; seq < min(start+perCommit, n); seq++ {
					evs = append(evs, provider.Event{Seq: uint64(seq), Data: payload})
				}
				if err := s.Apply([]pstore.Update{{Entity: "reader", Events: evs}}, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				evs, err := s.History("reader", 0)
				if err != nil || len(evs) != n {
					b.Fatalf("history: %d events, %v", len(evs), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/event")
		})
	}
}
