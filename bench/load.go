package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
)

// sample is one instance's end-to-end latency: from just before the start
// request until its terminal notification arrived.
type sample struct {
	latency time.Duration
	failed  bool
}

// recorder collects samples from concurrent instances.
type recorder struct {
	mu       sync.Mutex
	samples  []time.Duration
	failures int
	firstErr error
	done     atomic.Int64
	started  atomic.Int64
}

func (r *recorder) add(s sample, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || s.failed {
		r.failures++
		if r.firstErr == nil {
			r.firstErr = err
		}
	} else {
		r.samples = append(r.samples, s.latency)
	}
	r.done.Add(1)
}

// runner drives one workload against a deployment.
type runner struct {
	d      *deployment
	w      workload
	o      options
	input  json.RawMessage
	prefix string
	seq    atomic.Int64
}

func newRunner(d *deployment, w workload, o options, runID string) (*runner, error) {
	in, err := json.Marshal(w.input(o))
	if err != nil {
		return nil, fmt.Errorf("encode %s input: %w", w.name, err)
	}
	return &runner{d: d, w: w, o: o, input: in, prefix: "bench-" + runID + "-" + w.name + "-"}, nil
}

// one starts one instance and waits for its end.
func (r *runner) one(ctx context.Context, rec *recorder) {
	id := r.prefix + strconv.FormatInt(r.seq.Add(1), 10)
	ch := r.d.tracker.expect(id)
	begin := time.Now()
	rec.started.Add(1)
	if _, err := r.d.client.Start(ctx, r.w.orch, r.input, client.WithID(id)); err != nil {
		r.d.tracker.forget(id)
		rec.add(sample{}, fmt.Errorf("start %s: %w", id, err))
		return
	}
	if r.w.raise {
		if err := r.d.client.RaiseEvent(ctx, id, eventName, 7); err != nil {
			r.d.tracker.forget(id)
			rec.add(sample{}, fmt.Errorf("raise event on %s: %w", id, err))
			return
		}
	}
	out, err := r.d.waitFor(ctx, id, ch)
	if err != nil {
		rec.add(sample{}, fmt.Errorf("wait for %s: %w", id, err))
		return
	}
	if out.status != api.StatusCompleted {
		rec.add(sample{failed: true}, fmt.Errorf("%s: %w: %s %s", id, errFailed, out.status, out.err))
		return
	}
	rec.add(sample{latency: out.at.Sub(begin)}, nil)
}

// closedLoop runs n instances with c in flight at a time.
func (r *runner) closedLoop(ctx context.Context, n, c int, rec *recorder) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c, n) {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				r.one(ctx, rec)
			}
		})
	}
	wg.Wait()
}

// openLoop starts rate instances per second for d, whatever the engine's
// pace, then waits for every started instance to end.
func (r *runner) openLoop(ctx context.Context, rate float64, d time.Duration, rec *recorder) {
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	begin := time.Now()
	total := int(rate * d.Seconds())
	for i := range total {
		// Schedule by the clock, not by the previous start, so a slow
		// start does not lower the offered rate.
		at := begin.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() { r.one(ctx, rec) })
	}
	wg.Wait()
}
