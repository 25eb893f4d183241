package host_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

func TestDefaultLimitsAreConsistent(t *testing.T) {
	l := host.DefaultLimits()
	if l.APIPayload != api.DefaultMaxPayloadBytes || l.EnginePayload < l.APIPayload || 3*int64(l.EnginePayload)+host.RecordOverhead > l.Record || l.Record != host.EmbeddedMaxPayload-host.RecordHeaderRoom {
		t.Fatalf("default limits %+v", l)
	}
	most := host.MaxAPIPayload(host.EmbeddedMaxPayload)
	if most != 2446336 {
		t.Fatalf("largest -max-payload on the embedded server %d, the README says 2446336", most)
	}
	if _, err := host.NewLimits(most, host.EmbeddedMaxPayload); err != nil {
		t.Fatalf("the largest payload the embedded server carries (%d) is refused: %v", most, err)
	}
	_, err := host.NewLimits(most+1, host.EmbeddedMaxPayload)
	if err == nil || !strings.Contains(err.Error(), "max_payload") || !strings.Contains(err.Error(), strconv.Itoa(most)) {
		t.Fatalf("one byte more: %v, want a refusal naming max_payload and the largest allowed value", err)
	}
	// A NATS server left at its default max_payload (1 MB) carries no
	// commit record of a full payload.
	if _, err := host.NewLimits(api.DefaultMaxPayloadBytes, 1<<20); err == nil || !strings.Contains(err.Error(), "max_payload to 8MB") {
		t.Fatalf("NATS with 1 MiB max_payload: %v", err)
	}
}

// TestStartRefusesAPayloadTheEngineCannotCarry: a -max-payload that the
// engine's commit records cannot hold is refused at start, naming the
// limit; one that fits is carried end to end (an input close to it runs
// to completion instead of failing on a smaller engine limit).
func TestStartRefusesAPayloadTheEngineCannotCarry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := host.Start(ctx, host.Orchestrator, host.Config{
		DataDir: t.TempDir(), NATSListen: "127.0.0.1:0", MetricsAddr: "off",
		MaxPayloadBytes: 4 << 20, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, runtime.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "-max-payload 4194304") || !strings.Contains(err.Error(), "at most 2446336") {
		t.Fatalf("start with -max-payload 4 MiB: %v, want a refusal naming the limit", err)
	}

	const limit = 2_400_000 // above the engine's default (2 MiB)
	n, nc := startNode(t, testOrchestrations(t), func(c *host.Config) { c.MaxPayloadBytes = limit })
	if l := n.Limits(); l.EnginePayload != limit || l.Record != host.EmbeddedMaxPayload-host.RecordHeaderRoom {
		t.Fatalf("limits %+v", l)
	}
	// echo starts and finishes in one turn: its commit record carries the
	// input once and the output twice (event and status).
	big := `"` + strings.Repeat("x", limit-2) + `"`
	ok(t, nc, api.VerbStart, `{"name":"echo","id":"big-1","input":`+big+`}`, nil)
	if st := waitTerminal(t, nc, "big-1"); st.Status != api.StatusCompleted || len(st.Output) != len(big) {
		t.Fatalf("an input of -max-payload bytes: %s %q (output %d bytes)", st.Status, st.Error, len(st.Output))
	}
	fails(t, nc, api.VerbStart, `{"name":"echo","id":"big-2","input":"`+strings.Repeat("x", limit-1)+`"}`, api.CodePayloadTooLarge, "2400000")
}
