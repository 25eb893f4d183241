package providertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/reprise/reprise/provider"
)

func concurrencyTests() []conformanceTest {
	return []conformanceTest{
		{"ConcurrentTurnsLoseNothingAndRepeatNothing", testConcurrentTurns},
		{"ConcurrentWorkConsumersCompleteEachMessageOnce", testConcurrentWorkConsumers},
		{"ConcurrentDuplicateSendsEnqueueOnce", testConcurrentDuplicateSends},
	}
}

// testConcurrentTurns sends M messages to each of E entities from several
// goroutines while G workers fetch and commit. Each commit appends one event
// per message with the next seqs of the partition. Nothing may be lost,
// nothing processed twice, and every history must be 1..M without gaps.
func testConcurrentTurns(t *testing.T, s *suite) {
	e := s.open(t)
	const workers, entities, perEntity, senders = 8, 50, 4, 4
	total := entities * perEntity

	var sendWG sync.WaitGroup
	sendErrs := make(chan error, senders)
	for sender := range senders {
		sendWG.Go(func() {
			for i := sender; i < total; i += senders {
				entity, n := fmt.Sprintf("busy-%02d", i%entities), i/entities
				m := provider.Outgoing{Queue: queueA, Message: provider.Message{
					ID: fmt.Sprintf("%s-msg-%d", entity, n), Entity: entity, Data: randomBytes(t, 8),
				}}
				if err := e.p.Send(e.ctx, m); err != nil {
					sendErrs <- err
					return
				}
			}
		})
	}

	ctx, cancel := e.waitCtx()
	defer cancel()
	var (
		mu        sync.Mutex
		processed = map[string]int{}
		done      int
		finished  bool
		allDone   = make(chan struct{})
	)
	var workWG sync.WaitGroup
	workErrs := make(chan error, workers)
	for range workers {
		workWG.Go(func() {
			for {
				b, err := e.p.FetchEntity(ctx, queueA)
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						workErrs <- fmt.Errorf("FetchEntity: %w", err)
					}
					return
				}
				next := uint64(len(b.History))
				if len(b.History) > 0 && b.History[len(b.History)-1].Seq != next {
					workErrs <- fmt.Errorf("entity %q history seqs %v are not 1..n", b.Lock.Entity, seqs(b.History))
					return
				}
				c := provider.Commit{}
				for range b.Messages {
					next++
					c.Events = append(c.Events, provider.Event{Seq: next, Data: randomBytes(t, 8)})
				}
				if err := e.p.Commit(e.ctx, b.Lock, c); err != nil {
					workErrs <- fmt.Errorf("commit for %q: %w", b.Lock.Entity, err)
					return
				}
				mu.Lock()
				for _, m := range b.Messages {
					processed[m.ID]++
				}
				done += len(b.Messages)
				if done >= total && !finished {
					finished = true
					close(allDone)
				}
				mu.Unlock()
			}
		})
	}

	sendWG.Wait()
	close(sendErrs)
	for err := range sendErrs {
		cancel()
		workWG.Wait()
		t.Fatalf("Send: %v", err)
	}
	select {
	case <-allDone:
	case err := <-workErrs:
		cancel()
		workWG.Wait()
		t.Fatal(err)
	case <-ctx.Done():
	}
	cancel()
	workWG.Wait()
	close(workErrs)
	for err := range workErrs {
		t.Fatal(err)
	}
	if len(processed) != total {
		t.Fatalf("%d distinct messages processed, want %d", len(processed), total)
	}
	for id, n := range processed {
		if n != 1 {
			t.Fatalf("message %q processed %d times", id, n)
		}
	}
	for i := range entities {
		entity := fmt.Sprintf("busy-%02d", i)
		h := e.history(entity, 0)
		if len(h) != perEntity {
			t.Fatalf("entity %q has %d events, want %d", entity, len(h), perEntity)
		}
		for j, ev := range h {
			if ev.Seq != uint64(j+1) {
				t.Fatalf("entity %q history seqs %v, want 1..%d", entity, seqs(h), perEntity)
			}
		}
	}
	e.requireDepth(queueA, 0)
}

func testConcurrentWorkConsumers(t *testing.T, s *suite) {
	e := s.open(t)
	const consumers, total = 6, 120
	for i := range total {
		e.send(e.msg(workA, fmt.Sprintf("owner-%d", i%10)))
	}
	ctx, cancel := e.waitCtx()
	defer cancel()
	var (
		mu        sync.Mutex
		completed = map[string]int{}
		wg        sync.WaitGroup
	)
	errs := make(chan error, consumers)
	for range consumers {
		wg.Go(func() {
			for {
				mu.Lock()
				finished := len(completed) == total
				mu.Unlock()
				if finished {
					return
				}
				w, err := e.p.FetchWork(ctx, workA)
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						errs <- err
					}
					return
				}
				if err := e.p.CompleteWork(e.ctx, w.Lock, nil); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				completed[w.Message.ID]++
				if len(completed) == total {
					cancel() // release consumers blocked on an empty queue
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(completed) != total {
		t.Fatalf("%d distinct messages completed, want %d", len(completed), total)
	}
	for id, n := range completed {
		if n != 1 {
			t.Fatalf("message %q completed %d times", id, n)
		}
	}
	e.requireDepth(workA, 0)
}

func testConcurrentDuplicateSends(t *testing.T, s *suite) {
	e := s.open(t)
	const senders, ids = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for range senders {
		wg.Go(func() {
			for i := range ids {
				m := provider.Outgoing{Queue: workA, Message: provider.Message{ID: fmt.Sprintf("same-%d", i), Entity: "owner"}}
				if err := e.p.Send(e.ctx, m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Send: %v", err)
	}
	e.requireDepth(workA, ids)
}
