package jetstream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// ShardBacklog counts a shard's waiting messages and dates the oldest; an
// empty shard has none and no date; a fetched (locked) message still
// counts, since it is not processed yet.
func TestShardBacklog(t *testing.T) {
	r := newRig(t, sharedURL, crashTopology(), Options{Shards: 2})
	ctx := context.Background()
	shard := r.p.ShardOf("e1")
	before := time.Now().Add(-time.Second) // the server's clock, give or take
	for i := range 3 {
		if err := r.p.Send(ctx, provider.Outgoing{Queue: qMain, Message: provider.Message{ID: fmt.Sprint("m", i), Entity: "e1", Data: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	// The server counts a stored message into the consumer's pending
	// asynchronously: read until it has all three.
	var pending int
	var oldest time.Time
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if pending, oldest, err = r.p.ShardBacklog(ctx, qMain, shard); err != nil {
			t.Fatal(err)
		}
		if pending >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pending != 3 || oldest.Before(before) || oldest.After(time.Now().Add(time.Second)) {
		t.Fatalf("shard %d: %d pending, oldest %v; want 3 and a time of this test", shard, pending, oldest)
	}
	if n, o, err := r.p.ShardBacklog(ctx, qMain, 1-shard); err != nil || n != 0 || !o.IsZero() {
		t.Fatalf("empty shard: %d pending, oldest %v, err %v", n, o, err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := r.p.FetchEntity(fctx, qMain); err != nil {
		t.Fatal(err)
	}
	if n, o, err := r.p.ShardBacklog(ctx, qMain, shard); err != nil || n != 3 || !o.Equal(oldest) {
		t.Fatalf("locked messages: %d pending, oldest %v (was %v), err %v; want them still counted", n, o, oldest, err)
	}
	for _, bad := range []struct {
		queue string
		shard int
	}{{"nope", 0}, {qMain, 2}, {qMain, -1}} {
		if _, _, err := r.p.ShardBacklog(ctx, bad.queue, bad.shard); err == nil {
			t.Errorf("queue %q shard %d: no error", bad.queue, bad.shard)
		}
	}
}
