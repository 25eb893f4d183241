package ui_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/reprise/reprise/runtime"
)

// fanOut is an orchestration that calls the activity "noop" n times at
// once: its history holds about 2n+4 events.
const fanOut = "bench.fanout"

func registerFanOut(reg *runtime.Registry) error {
	return errors.Join(
		runtime.RegisterActivity(reg, "noop", func(_ context.Context, i int) (int, error) { return i, nil }),
		runtime.RegisterOrchestration(reg, fanOut, func(ctx *runtime.OrchestrationContext, n int) (int, error) {
			futures := make([]runtime.Future, n)
			for i := range futures {
				futures[i] = ctx.CallActivity("noop", i)
			}
			sum := 0
			for _, f := range futures {
				var v int
				if err := f.Await(&v); err != nil {
					return 0, err
				}
				sum += v
			}
			return sum, nil
		}),
	)
}

// BenchmarkPages measures the UI's pages over HTTP on the embedded default
// (the orchestrator with embedded NATS and Pebble), API round trips
// included: the instance page of an instance with 1,000 history events (its
// table and timeline), and the list page of 100 instances.
func BenchmarkPages(b *testing.B) {
	n := startNode(b, nil, registerFanOut)
	n.run(b, fanOut, "big", 498)
	events, err := n.client.History(testContext(b), "big")
	if err != nil {
		b.Fatal(err)
	}
	if len(events) < 1000 {
		b.Fatalf("the instance has %d events, want at least 1000", len(events))
	}
	for i := range 99 {
		n.run(b, "hello", fmt.Sprintf("hello-%03d", i), "bench")
	}
	c := &http.Client{}
	fetch := func(b *testing.B, u string) int {
		resp, err := c.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d %v", u, resp.StatusCode, err)
		}
		return len(body)
	}
	for _, bc := range []struct{ name, path string }{
		{fmt.Sprintf("instance/%d-events", len(events)), "instance?id=big"},
		{"list/100-instances", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			size := 0
			for b.Loop() {
				size = fetch(b, n.url+bc.path)
			}
			b.ReportMetric(float64(size), "page-bytes")
		})
	}
}
