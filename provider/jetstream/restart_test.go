package jetstream

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/reprise/reprise/internal/natsembed"
	"github.com/reprise/reprise/provider"
)

// TestNATSRestartLosesNothing restarts the NATS server (file storage) while
// a worker processes messages. Operations during the outage fail with an
// error; the connection comes back by itself; every message is committed
// exactly once: each entity's history holds each of its message ids once.
func TestNATSRestartLosesNothing(t *testing.T) {
	t.Parallel()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	topo := crashTopology()
	topo.LockTimeout = 2 * time.Second
	r := newRig(t, srv.ClientURL(), topo, Options{Shards: 4})
	ctx := context.Background()

	const entities, perEntity = 10, 6
	sendRound := func(round int) {
		t.Helper()
		for e := range entities {
			id := fmt.Sprintf("m%d", round)
			out := provider.Outgoing{Queue: qMain, Message: provider.Message{ID: id, Entity: fmt.Sprintf("e%d", e), Data: []byte(id)}}
			for {
				err := r.p.Send(ctx, out)
				if err == nil {
					break
				}
				t.Logf("send retried: %v", err)
			}
		}
	}

	// The worker commits each batch as events numbered after the history,
	// one per message, carrying the message id.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			fctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			b, err := r.p.FetchEntity(fctx, qMain)
			cancel()
			if err != nil {
				continue
			}
			next := uint64(len(b.History)) + 1
			var c provider.Commit
			for i, m := range b.Messages {
				c.Events = append(c.Events, provider.Event{Seq: next + uint64(i), Data: []byte(m.ID)})
			}
			if err := r.p.Commit(ctx, b.Lock, c); err != nil {
				t.Logf("commit %s failed (retried by redelivery): %v", b.Lock.Entity, err)
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()

	for round := range perEntity / 2 {
		sendRound(round)
	}
	srv.Shutdown()
	// The provider notices: the next operation fails instead of hanging.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = r.p.Send(sctx, provider.Outgoing{Queue: qMain, Message: provider.Message{ID: "during-outage", Entity: "outage"}})
	cancel()
	if err == nil {
		t.Error("Send during the outage succeeded")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	for round := perEntity / 2; round < perEntity; round++ {
		sendRound(round)
	}

	deadline := time.Now().Add(60 * time.Second)
	for e := range entities {
		entity := fmt.Sprintf("e%d", e)
		for {
			hist, err := r.p.History(ctx, entity, 0)
			if err == nil && len(hist) >= perEntity {
				seen := map[string]int{}
				for _, ev := range hist {
					seen[string(ev.Data)]++
				}
				for round := range perEntity {
					if n := seen[fmt.Sprintf("m%d", round)]; n != 1 {
						t.Errorf("%s: message m%d committed %d times (history %d events)", entity, round, n, len(hist))
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: history has %d events, want %d (err %v)", entity, len(hist), perEntity, err)
			}
			// No event marks progress of another goroutine's commits:
			// poll.
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Everything stored was consumed (the outage message too, if the
	// server stored it before going down).
	for depth(t, r.p, qMain) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("depth = %d after the run, want 0", depth(t, r.p, qMain))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
