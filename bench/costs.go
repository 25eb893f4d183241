package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/services/host"
)

// streamCounts is what every stream of the deployment's account has stored
// so far: its last sequence (messages ever stored) and its current message
// count, by stream name.
type streamCounts map[string]struct{ last, msgs uint64 }

// readStreamCounts reads every stream's state (one request per stream).
func readStreamCounts(ctx context.Context, js natsjs.JetStream) (streamCounts, error) {
	out := streamCounts{}
	lister := js.ListStreams(ctx)
	for info := range lister.Info() {
		out[info.Config.Name] = struct{ last, msgs uint64 }{info.State.LastSeq, info.State.Msgs}
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	return out, nil
}

// streamCost is one stream's JetStream writes per orchestration during a
// measured run: messages stored, and messages removed (acks of a work
// queue, expiries, purges). With -nats-sync each stored message is one
// fsync, and so is each removal of a single message (its tombstone).
type streamCost struct {
	Stream  string  `json:"stream"`
	Stored  float64 `json:"stored_per_orchestration"`
	Removed float64 `json:"removed_per_orchestration"`
}

// costsBetween turns two readings around n orchestrations into per
// orchestration figures, for the streams that changed.
func costsBetween(before, after streamCounts, n int) []streamCost {
	if n <= 0 {
		return nil
	}
	var out []streamCost
	for _, name := range slices.Sorted(maps.Keys(after)) {
		a, b := after[name], before[name]
		stored := a.last - b.last
		removed := int64(stored) - (int64(a.msgs) - int64(b.msgs))
		if stored == 0 && removed <= 0 {
			continue
		}
		out = append(out, streamCost{Stream: name, Stored: float64(stored) / float64(n),
			Removed: float64(max(removed, 0)) / float64(n)})
	}
	return out
}

// costMeter reads the stream counts before and after a measured run.
type costMeter struct {
	js     natsjs.JetStream
	before streamCounts
	// node and fsyncs count the group-commit flushes of -fsync (node is
	// nil with -remote).
	node      *host.Node
	fsyncs    uint64
	fsyncTime time.Duration
	// msgsIn and msgsOut are the embedded server's message counters
	// (hasMsgs false with -remote).
	msgsIn, msgsOut uint64
	hasMsgs         bool
}

func newCostMeter(d *deployment) *costMeter {
	js, err := natsjs.New(d.nc)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	before, err := readStreamCounts(ctx, js)
	if err != nil {
		return nil
	}
	m := &costMeter{js: js, before: before, node: d.node}
	if d.node != nil {
		m.fsyncs, m.fsyncTime = d.node.Fsyncs(), d.node.FsyncTime()
		m.msgsIn, m.msgsOut, m.hasMsgs = d.node.NATSMessages()
	}
	return m
}

// fsyncsPer returns the group-commit flushes per orchestration since the
// meter was made.
func (m *costMeter) fsyncsPer(n int) float64 {
	if m == nil || m.node == nil || n <= 0 {
		return 0
	}
	return float64(m.node.Fsyncs()-m.fsyncs) / float64(n)
}

// fsyncMean returns the mean duration of the group-commit flushes since
// the meter was made.
func (m *costMeter) fsyncMean() time.Duration {
	if m == nil || m.node == nil {
		return 0
	}
	n := m.node.Fsyncs() - m.fsyncs
	if n == 0 {
		return 0
	}
	return (m.node.FsyncTime() - m.fsyncTime) / time.Duration(n)
}

// natsMessagesPer returns the messages the embedded NATS server received
// and sent per orchestration since the meter was made (0, 0 with -remote).
func (m *costMeter) natsMessagesPer(n int) (in, out float64) {
	if m == nil || !m.hasMsgs || n <= 0 {
		return 0, 0
	}
	i, o, ok := m.node.NATSMessages()
	if !ok {
		return 0, 0
	}
	return float64(i-m.msgsIn) / float64(n), float64(o-m.msgsOut) / float64(n)
}

// done returns the per orchestration costs of the n orchestrations run since
// the meter was made (nil when a reading failed).
func (m *costMeter) done(n int) []streamCost {
	if m == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	after, err := readStreamCounts(ctx, m.js)
	if err != nil {
		return nil
	}
	return costsBetween(m.before, after, n)
}

// writeCosts prints each workload's JetStream writes per orchestration.
func writeCosts(w io.Writer, results []result) {
	for _, r := range results {
		if len(r.Costs) == 0 {
			continue
		}
		var parts []string
		var stored, removed float64
		for _, c := range r.Costs {
			parts = append(parts, fmt.Sprintf("%s %.2f+%.2f", c.Stream, c.Stored, c.Removed))
			stored += c.Stored
			removed += c.Removed
		}
		fsyncs := ""
		if r.Fsyncs > 0 {
			fsyncs = fmt.Sprintf("; %.2f fsyncs (group commit) of %.3f ms each", r.Fsyncs, r.FsyncMS)
		}
		msgs := ""
		if r.NATSIn > 0 {
			msgs = fmt.Sprintf("; NATS messages %.1f in + %.1f out", r.NATSIn, r.NATSOut)
		}
		fmt.Fprintf(w, "%s: JetStream writes per orchestration %.2f stored + %.2f removed (%s)%s%s\n",
			r.Workload, stored, removed, strings.Join(parts, ", "), fsyncs, msgs)
	}
}
