package providertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

func longPollTests() []conformanceTest {
	return []conformanceTest{
		{"BlockedFetchEntityWakesOnSend", testBlockedFetchEntityWakesOnSend},
		{"BlockedFetchWorkWakesOnSend", testBlockedFetchWorkWakesOnSend},
		{"BlockedFetchWakesOnAMessageSentByACommit", testBlockedFetchWakesOnCommitSend},
		{"BlockedFetchWakesOnAReplySentByCompleteWork", testBlockedFetchWakesOnCompleteWorkReply},
		{"BlockedFetchWakesWhenALockIsAbandoned", testBlockedFetchWakesOnAbandon},
		{"BlockedFetchWakesWhenACommitLeavesNewMessages", testBlockedFetchWakesOnCommitRelease},
		{"FetchEntityReturnsContextCanceled", testFetchEntityReturnsContextCanceled},
		{"FetchEntityReturnsDeadlineExceeded", testFetchEntityReturnsDeadlineExceeded},
		{"FetchWorkReturnsContextCanceled", testFetchWorkReturnsContextCanceled},
		{"FetchWorkReturnsDeadlineExceeded", testFetchWorkReturnsDeadlineExceeded},
		{"CanceledFetchLosesNothing", testCanceledFetchLosesNothing},
	}
}

type entityResult struct {
	batch *provider.EntityBatch
	err   error
}

type workResult struct {
	item *provider.WorkItem
	err  error
}

// blockedFetchEntity starts a fetch in a goroutine and returns once the
// goroutine is about to call FetchEntity; the result arrives on the channel.
func (e *env) blockedFetchEntity(ctx context.Context, queue string) <-chan entityResult {
	started := make(chan struct{})
	out := make(chan entityResult, 1)
	go func() {
		close(started)
		b, err := e.p.FetchEntity(ctx, queue)
		out <- entityResult{b, err}
	}()
	<-started
	return out
}

func (e *env) blockedFetchWork(ctx context.Context, queue string) <-chan workResult {
	started := make(chan struct{})
	out := make(chan workResult, 1)
	go func() {
		close(started)
		w, err := e.p.FetchWork(ctx, queue)
		out <- workResult{w, err}
	}()
	<-started
	return out
}

// wokenEntity waits for a blocked fetch's batch, which must be entity's.
func (e *env) wokenEntity(res <-chan entityResult, entity string) *provider.EntityBatch {
	e.t.Helper()
	r := <-res // the fetch's own context bounds the wait
	if r.err != nil {
		e.t.Fatalf("blocked FetchEntity: %v", r.err)
	}
	if r.batch.Lock.Entity != entity {
		e.t.Fatalf("blocked FetchEntity woke with entity %q, want %q", r.batch.Lock.Entity, entity)
	}
	return r.batch
}

func testBlockedFetchEntityWakesOnSend(t *testing.T, s *suite) {
	e := s.open(t)
	ctx, cancel := e.waitCtx()
	defer cancel()
	res := e.blockedFetchEntity(ctx, queueA)
	m := e.msg(queueA, "sleeper")
	e.send(m)
	requireMessages(t, e.wokenEntity(res, "sleeper").Messages, []provider.Outgoing{m}, 1)
}

func testBlockedFetchWorkWakesOnSend(t *testing.T, s *suite) {
	e := s.open(t)
	ctx, cancel := e.waitCtx()
	defer cancel()
	res := e.blockedFetchWork(ctx, workA)
	m := e.msg(workA, "sleeper")
	e.send(m)
	r := <-res
	if r.err != nil {
		t.Fatalf("blocked FetchWork: %v", r.err)
	}
	requireMessage(t, r.item.Message, m.Message, 1)
}

func testBlockedFetchWakesOnCommitSend(t *testing.T, s *suite) {
	e := s.open(t)
	ctx, cancel := e.waitCtx()
	defer cancel()
	res := e.blockedFetchEntity(ctx, queueB)
	m := e.msg(queueB, "listener")
	e.commitTo(queueA, "speaker", provider.Commit{Send: []provider.Outgoing{m}})
	requireMessages(t, e.wokenEntity(res, "listener").Messages, []provider.Outgoing{m}, 1)
}

func testBlockedFetchWakesOnCompleteWorkReply(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(workA, "listener"))
	w := e.fetchWork(workA)
	ctx, cancel := e.waitCtx()
	defer cancel()
	res := e.blockedFetchEntity(ctx, queueA)
	reply := e.msg(queueA, "listener")
	if err := e.p.CompleteWork(e.ctx, w.Lock, []provider.Outgoing{reply}); err != nil {
		t.Fatalf("CompleteWork: %v", err)
	}
	requireMessages(t, e.wokenEntity(res, "listener").Messages, []provider.Outgoing{reply}, 1)
}

func testBlockedFetchWakesOnAbandon(t *testing.T, s *suite) {
	e := s.open(t)
	m := e.msg(queueA, "contended")
	e.send(m)
	b := e.fetchEntity(queueA, "contended")
	ctx, cancel := e.waitCtx()
	defer cancel()
	res := e.blockedFetchEntity(ctx, queueA)
	if err := e.p.AbandonEntity(e.ctx, b.Lock, 0); err != nil {
		t.Fatalf("AbandonEntity: %v", err)
	}
	requireMessages(t, e.wokenEntity(res, "contended").Messages, []provider.Outgoing{m}, 2)
}

func testBlockedFetchWakesOnCommitRelease(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(queueA, "contended"))
	b := e.fetchEntity(queueA, "contended")
	late := e.msg(queueA, "contended")
	e.send(late)
	ctx, cancel := e.waitCtx()
	defer cancel()
	res := e.blockedFetchEntity(ctx, queueA)
	e.commit(b, provider.Commit{})
	requireMessages(t, e.wokenEntity(res, "contended").Messages, []provider.Outgoing{late}, 1)
}

func testFetchEntityReturnsContextCanceled(t *testing.T, s *suite) {
	e := s.open(t)
	ctx, cancel := context.WithCancel(e.ctx)
	res := e.blockedFetchEntity(ctx, queueA)
	cancel()
	r := <-res
	if !errors.Is(r.err, context.Canceled) || r.batch != nil {
		t.Fatalf("FetchEntity after cancel = (%v, %v), want (nil, context.Canceled)", r.batch, r.err)
	}
}

func testFetchEntityReturnsDeadlineExceeded(t *testing.T, s *suite) {
	e := s.open(t)
	ctx, cancel := context.WithTimeout(e.ctx, 50*time.Millisecond)
	defer cancel()
	b, err := e.p.FetchEntity(ctx, queueA)
	if !errors.Is(err, context.DeadlineExceeded) || b != nil {
		t.Fatalf("FetchEntity past its deadline = (%v, %v), want (nil, context.DeadlineExceeded)", b, err)
	}
}

func testFetchWorkReturnsContextCanceled(t *testing.T, s *suite) {
	e := s.open(t)
	ctx, cancel := context.WithCancel(e.ctx)
	res := e.blockedFetchWork(ctx, workA)
	cancel()
	r := <-res
	if !errors.Is(r.err, context.Canceled) || r.item != nil {
		t.Fatalf("FetchWork after cancel = (%v, %v), want (nil, context.Canceled)", r.item, r.err)
	}
}

func testFetchWorkReturnsDeadlineExceeded(t *testing.T, s *suite) {
	e := s.open(t)
	ctx, cancel := context.WithTimeout(e.ctx, 50*time.Millisecond)
	defer cancel()
	w, err := e.p.FetchWork(ctx, workA)
	if !errors.Is(err, context.DeadlineExceeded) || w != nil {
		t.Fatalf("FetchWork past its deadline = (%v, %v), want (nil, context.DeadlineExceeded)", w, err)
	}
}

func testCanceledFetchLosesNothing(t *testing.T, s *suite) {
	e := s.open(t)
	e.send(e.msg(queueA, "untouched"), e.msg(workA, "untouched"))
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	// A fetch may race a cancel, so a provider that returns work here must
	// at least not lose it; a second, live fetch must get it at attempt 1 or
	// (if the canceled fetch locked it) the lock must be released by abandon.
	if b, err := e.p.FetchEntity(ctx, queueA); err == nil {
		if err := e.p.AbandonEntity(e.ctx, b.Lock, 0); err != nil {
			t.Fatalf("AbandonEntity: %v", err)
		}
	} else if !errors.Is(err, context.Canceled) {
		t.Fatalf("FetchEntity with a canceled context: %v", err)
	}
	if w, err := e.p.FetchWork(ctx, workA); err == nil {
		if err := e.p.AbandonWork(e.ctx, w.Lock, 0); err != nil {
			t.Fatalf("AbandonWork: %v", err)
		}
	} else if !errors.Is(err, context.Canceled) {
		t.Fatalf("FetchWork with a canceled context: %v", err)
	}
	e.fetchEntity(queueA, "untouched")
	if w := e.fetchWork(workA); w.Message.ID == "" {
		t.Fatal("work message lost after a canceled fetch")
	}
}
