package jetstream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// A fetch returns every message this provider sent to the entity before
// it (it waits for their delivery, knowing their sequences from the
// PubAcks), and no sent mark outlives the delivery it waits for, whether
// the PubAck or the delivery came first.
func TestFetchHasWhatWasSentBeforeIt(t *testing.T) {
	r := newRig(t, sharedURL, crashTopology(), Options{Shards: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q, err := r.p.entityQueue(qMain)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 50 {
		entity := fmt.Sprint("e", round)
		var out []provider.Outgoing
		for i := range 1 + round%4 {
			out = append(out, provider.Outgoing{Queue: qMain, Message: provider.Message{ID: fmt.Sprint("m", i), Entity: entity, Data: []byte("x")}})
		}
		if err := r.p.Send(ctx, out...); err != nil {
			t.Fatal(err)
		}
		b, err := r.p.FetchEntity(ctx, qMain)
		if err != nil {
			t.Fatal(err)
		}
		if b.Lock.Entity != entity || len(b.Messages) != len(out) {
			t.Fatalf("round %d: fetched %q with %d messages, want %q with all %d sent before the fetch", round, b.Lock.Entity, len(b.Messages), entity, len(out))
		}
		if err := r.p.Commit(ctx, b.Lock, provider.Commit{Events: []provider.Event{{Seq: 1, Data: []byte("e")}}}); err != nil {
			t.Fatal(err)
		}
	}
	q.mu.Lock()
	left := len(q.sent)
	q.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d sent marks left after every message was delivered and consumed", left)
	}
}
