package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/internal/natsembed"
)

var prefixes atomic.Int64

func startServer(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// fakeShards records what a member asks of its process.
type fakeShards struct {
	mu       sync.Mutex
	owned    map[int]bool
	released []string // "<shard>:graceful" or "<shard>:lost"
	changed  chan struct{}
}

func newFakeShards() *fakeShards {
	return &fakeShards{owned: map[int]bool{}, changed: make(chan struct{}, 1024)}
}

func (f *fakeShards) AcquireShard(_ context.Context, s int) error {
	f.mu.Lock()
	f.owned[s] = true
	f.mu.Unlock()
	f.changed <- struct{}{}
	return nil
}

func (f *fakeShards) ReleaseShard(_ context.Context, s int, lost bool) error {
	f.mu.Lock()
	delete(f.owned, s)
	how := "graceful"
	if lost {
		how = "lost"
	}
	f.released = append(f.released, fmt.Sprintf("%d:%s", s, how))
	f.mu.Unlock()
	f.changed <- struct{}{}
	return nil
}

func (f *fakeShards) ExtendShard(int, time.Duration) {}

func (f *fakeShards) ownedShards() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for s := range f.owned {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func testOptions(prefix string, shards int) Options {
	return Options{
		Prefix: prefix, Shards: shards, MemoryStorage: true, LeaseTTL: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// await waits until cond holds, re-checking after every change of the
// given processes' shards (bounded, so a broken member fails the test).
func await(t *testing.T, what string, cond func() bool, fs ...*fakeShards) {
	t.Helper()
	limit := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond) // leases also move by expiry
	defer tick.Stop()
	for !cond() {
		select {
		case <-limit:
			t.Fatalf("timed out waiting until %s", what)
		case <-tick.C:
		case <-fs[0].changed:
		}
	}
}

func TestAssignMovesAFairShare(t *testing.T) {
	const shards = 1024
	three := Assign(shards, []string{"a", "b", "c"})
	five := Assign(shards, []string{"a", "b", "c", "d", "e"})
	moved, toOld := 0, 0
	count := map[string]int{}
	for s := range shards {
		if three[s] != five[s] {
			moved++
			if five[s] != "d" && five[s] != "e" {
				toOld++
			}
		}
		count[five[s]]++
	}
	// 3 -> 5 should move about 2/5 of the shards (not 3/4, as s % N does).
	if frac := float64(moved) / shards; frac < 0.38 || frac > 0.50 {
		t.Errorf("3 -> 5 members moved %.2f of the shards, want about 0.40", frac)
	}
	for m, n := range count {
		if n != shards/5 && n != shards/5+1 {
			t.Errorf("member %s got %d shards, want %d or %d", m, n, shards/5, shards/5+1)
		}
	}
	t.Logf("3 -> 5 members: %d of %d shards moved (%.1f%%), %d of them between old members; shares %v",
		moved, shards, 100*float64(moved)/shards, toOld, count)
	if !slices.Equal(Assign(shards, []string{"c", "a", "b"}), three) {
		t.Error("the assignment depends on the order members are listed in")
	}
}

// With the default 16 shards and random member ids (as processes pick
// them), shares differ by at most one shard and 3 -> 5 moves about 2/5.
func TestAssignIsEvenWithFewShards(t *testing.T) {
	const shards, trials = 16, 500
	hist := map[int]int{}
	total := 0
	for range trials {
		ids := make([]string, 5)
		for i := range ids {
			ids[i] = NewMemberID()
		}
		for n := 1; n <= 5; n++ {
			count := map[string]int{}
			for _, m := range Assign(shards, ids[:n]) {
				count[m]++
			}
			for _, id := range ids[:n] {
				if c := count[id]; c != shards/n && c != shards/n+1 {
					t.Fatalf("%d members %v: %s got %d of %d shards", n, ids[:n], id, c, shards)
				}
			}
		}
		three, five := Assign(shards, ids[:3]), Assign(shards, ids)
		moved := 0
		for s := range shards {
			if three[s] != five[s] {
				moved++
			}
		}
		// At least 6 must move (the new members' fair shares); a few more
		// may move between old members as the quotas change.
		if moved < 6 || moved > 11 {
			t.Errorf("3 -> 5 members %v moved %d of %d shards", ids, moved, shards)
		}
		hist[moved]++
		total += moved
	}
	t.Logf("3 -> 5 members, %d random id sets: shards moved (of %d) -> sets %v; mean %.1f%%",
		trials, shards, hist, 100*float64(total)/float64(trials*shards))
}

// Exactly one of several members racing for one lease wins it.
func TestOneWinnerPerLease(t *testing.T) {
	js := startServer(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("race%d", prefixes.Add(1))
	const racers = 8
	members := make([]*Member, racers)
	for i := range members {
		o := testOptions(prefix, 1)
		o.MemberID = fmt.Sprintf("m%d", i)
		m, err := Join(ctx, js, newFakeShards(), o)
		if err != nil {
			t.Fatal(err)
		}
		members[i] = m
		m.stopReconcile() // race by hand below
		<-m.reconciled
		t.Cleanup(func() { m.stopRenew(); <-m.renewed })
	}
	// Whoever took it already (reconcile ran once) gives it back first.
	for _, m := range members {
		_ = m.release(ctx, 0, false)
	}
	for round := range 20 {
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, m := range members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if m.acquire(ctx, 0, 0) {
					wins.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d members won the lease, want exactly 1", round, n)
		}
		for _, m := range members {
			_ = m.release(ctx, 0, false)
		}
	}
}

func TestDifferentSettingsAreRefused(t *testing.T) {
	js := startServer(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("set%d", prefixes.Add(1))
	a, err := Join(ctx, js, newFakeShards(), testOptions(prefix, 16))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Leave(ctx) })
	o := testOptions(prefix, 8)
	o.Settings = map[string]string{"lock_timeout": "30s"}
	_, err = Join(ctx, js, newFakeShards(), o)
	if !errors.Is(err, ErrSettingsMismatch) || !strings.Contains(err.Error(), "shards is 16 in the cluster, 8 here") {
		t.Fatalf("join with 8 shards into a 16-shard cluster: %v", err)
	}
	t.Logf("refused: %v", err)
	o = testOptions(prefix, 16)
	o.Replicas = 3
	if _, err = Join(ctx, js, newFakeShards(), o); !errors.Is(err, ErrSettingsMismatch) || !strings.Contains(err.Error(), "replicas is 1 in the cluster, 3 here") {
		t.Fatalf("join with 3 replicas into an R1 cluster: %v", err)
	}
}

// Members share the shards; one that leaves hands its shards over at once;
// one that dies loses them after the lease TTL, without releasing them.
func TestShardsFollowMembership(t *testing.T) {
	js := startServer(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("share%d", prefixes.Add(1))
	const shards = 12
	fa, fb, fc := newFakeShards(), newFakeShards(), newFakeShards()
	join := func(id string, f *fakeShards) *Member {
		o := testOptions(prefix, shards)
		o.MemberID = id
		// The context bounds Join only: ended right after, it must not
		// end the member's watch of the others.
		jctx, cancel := context.WithCancel(ctx)
		defer cancel()
		m, err := Join(jctx, js, f, o)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := join("a", fa)
	await(t, "a owns every shard", func() bool { return len(fa.ownedShards()) == shards }, fa)
	bObs := &countingObserver{}
	b := func() *Member {
		o := testOptions(prefix, shards)
		o.MemberID, o.Observer = "b", bObs
		m, err := Join(ctx, js, fb, o)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}()
	c := join("c", fc)
	want := Assign(shards, []string{"a", "b", "c"})
	split := func() bool {
		for s, owner := range want {
			f := map[string]*fakeShards{"a": fa, "b": fb, "c": fc}[owner]
			if !slices.Contains(f.ownedShards(), s) {
				return false
			}
		}
		return len(fa.ownedShards())+len(fb.ownedShards())+len(fc.ownedShards()) == shards
	}
	await(t, "the shards are split as assigned", split, fa)
	for _, r := range fa.released {
		if !strings.HasSuffix(r, ":graceful") {
			t.Errorf("a released %s while handing shards over", r)
		}
	}

	// b leaves: its shards go to a and c, handed over.
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	want = Assign(shards, []string{"a", "c"})
	await(t, "a and c own everything", func() bool {
		return len(fa.ownedShards())+len(fc.ownedShards()) == shards && len(fb.ownedShards()) == 0
	}, fa)
	if got := bObs.snapshot(); got.acquired == 0 || got.handedOver != got.acquired || got.lost != 0 || got.refused != 0 {
		t.Errorf("b's observer saw %+v: want every shard it acquired handed over, none lost", got)
	}

	// c dies: no release; its leases expire and a takes them.
	c.stopReconcile()
	<-c.reconciled
	c.stopRenew()
	<-c.renewed
	died := time.Now()
	await(t, "a owns every shard after c died", func() bool { return len(fa.ownedShards()) == shards }, fa)
	t.Logf("c's shards moved to a %s after c stopped (lease TTL 1s)", time.Since(died).Round(10*time.Millisecond))
	fc.mu.Lock()
	for _, r := range fc.released {
		if strings.HasSuffix(r, ":lost") {
			t.Errorf("dead member c released %s", r)
		}
	}
	fc.mu.Unlock()
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
}

// A member whose lease was taken over (its revision moved) drops the shard
// as lost at the next renewal.
func TestRevisionMovedLosesTheShard(t *testing.T) {
	js := startServer(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("lost%d", prefixes.Add(1))
	f := newFakeShards()
	o := testOptions(prefix, 1)
	o.MemberID = "a"
	obs := &countingObserver{}
	o.Observer = obs
	m, err := Join(ctx, js, f, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Leave(ctx) })
	await(t, "a owns shard 0", func() bool { return len(f.ownedShards()) == 1 }, f)
	kv, err := js.KeyValue(ctx, prefix+"_leases")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, shardKey(0), []byte("intruder")); err != nil {
		t.Fatal(err)
	}
	await(t, "a dropped shard 0 as lost", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Contains(f.released, "0:lost")
	}, f)
	// The observer hears of the release after the target did.
	await(t, "the observer heard of the loss", func() bool { return obs.snapshot().lost == 1 }, f)
	if got := obs.snapshot(); got.acquired != 1 || got.refused != 1 || got.lost != 1 || got.handedOver != 0 || got.members != 1 {
		t.Errorf("observer saw %+v, want 1 acquired, 1 renewal refused, 1 lost, 1 member", got)
	}
}

// countingObserver counts what a member reports.
type countingObserver struct {
	mu     sync.Mutex
	counts observed
}

type observed struct {
	acquired, handedOver, lost, refused, unanswered, members int
}

func (o *countingObserver) ShardAcquired(int, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.counts.acquired++
}

func (o *countingObserver) ShardReleased(_ int, lost bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if lost {
		o.counts.lost++
	} else {
		o.counts.handedOver++
	}
}

func (o *countingObserver) LeaseRenewalFailed(_ int, refused bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if refused {
		o.counts.refused++
	} else {
		o.counts.unanswered++
	}
}

func (o *countingObserver) MembersChanged(live int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.counts.members = live
}

func (o *countingObserver) snapshot() observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts
}
