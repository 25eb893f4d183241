package providertest

import (
	"errors"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

func closeTests() []conformanceTest {
	return []conformanceTest{
		{"CloseUnblocksFetchers", testCloseUnblocksFetchers},
		{"UseAfterCloseFailsWithErrClosed", testUseAfterCloseFailsWithErrClosed},
		{"HealthyUntilClosed", testHealthyUntilClosed},
	}
}

// testHealthyUntilClosed covers the optional [provider.HealthChecker].
func testHealthyUntilClosed(t *testing.T, s *suite) {
	e := s.open(t)
	h, ok := provider.As[provider.HealthChecker](e.p)
	if !ok {
		t.Skip("provider does not implement provider.HealthChecker")
	}
	if err := h.Healthy(e.ctx); err != nil {
		t.Fatalf("Healthy on an open provider: %v", err)
	}
	if err := e.p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := h.Healthy(e.ctx); !errors.Is(err, provider.ErrClosed) {
		t.Fatalf("Healthy after Close = %v, want ErrClosed", err)
	}
}

func testCloseUnblocksFetchers(t *testing.T, s *suite) {
	e := s.open(t)
	ctx, cancel := e.waitCtx()
	defer cancel()
	entityRes := e.blockedFetchEntity(ctx, queueA)
	workRes := e.blockedFetchWork(ctx, workA)
	if err := e.p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r := <-entityRes; r.err == nil || r.batch != nil {
		t.Fatalf("FetchEntity blocked across Close = (%v, %v), want an error", r.batch, r.err)
	} else if errors.Is(r.err, ctx.Err()) && ctx.Err() != nil {
		t.Fatalf("FetchEntity was not released by Close but by its deadline: %v", r.err)
	}
	if r := <-workRes; r.err == nil || r.item != nil {
		t.Fatalf("FetchWork blocked across Close = (%v, %v), want an error", r.item, r.err)
	} else if errors.Is(r.err, ctx.Err()) && ctx.Err() != nil {
		t.Fatalf("FetchWork was not released by Close but by its deadline: %v", r.err)
	}
}

func testUseAfterCloseFailsWithErrClosed(t *testing.T, s *suite) {
	e := s.open(t)
	b := e.commitTo(queueA, "closing", provider.Commit{Events: events(t, 1)})
	if err := e.p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := e.ctx
	_, fetchErr := e.p.FetchEntity(ctx, queueA)
	_, workErr := e.p.FetchWork(ctx, workA)
	_, renewErr := e.p.RenewEntityLock(ctx, b.Lock)
	_, renewWorkErr := e.p.RenewWorkLock(ctx, provider.WorkLock{Queue: workA, ID: "x", Token: "y"})
	_, historyErr := e.p.History(ctx, "closing", 0)
	_, partitionErr := e.p.CurrentPartition(ctx, "closing")
	_, metadataErr := e.p.Metadata(ctx, "closing")
	_, listErr := e.p.ListEntities(ctx, provider.ListQuery{Key: keyColor, Value: "x"})
	_, depthErr := e.p.QueueDepth(ctx, queueA)
	checks := map[string]error{
		"FetchEntity":      fetchErr,
		"FetchWork":        workErr,
		"Commit":           e.p.Commit(ctx, b.Lock, provider.Commit{}),
		"RenewEntityLock":  renewErr,
		"AbandonEntity":    e.p.AbandonEntity(ctx, b.Lock, time.Second),
		"CompleteWork":     e.p.CompleteWork(ctx, provider.WorkLock{Queue: workA, ID: "x", Token: "y"}, nil),
		"RenewWorkLock":    renewWorkErr,
		"AbandonWork":      e.p.AbandonWork(ctx, provider.WorkLock{Queue: workA, ID: "x", Token: "y"}, 0),
		"Send":             e.p.Send(ctx, e.msg(queueA, "closing")),
		"History":          historyErr,
		"CurrentPartition": partitionErr,
		"Metadata":         metadataErr,
		"ListEntities":     listErr,
		"DeleteEntity":     e.p.DeleteEntity(ctx, "closing"),
		"QueueDepth":       depthErr,
	}
	for name, err := range checks {
		if !errors.Is(err, provider.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want an error wrapping ErrClosed", name, err)
		}
	}
}
