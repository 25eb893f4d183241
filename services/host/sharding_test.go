package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// forwards records the requests orchestrators forward to each other, by
// verb, from a plain subscription to the internal subjects (outside their
// queue group, so it sees a copy of each and answers none).
type forwards struct {
	ch   chan *nats.Msg
	seen map[string]int
}

func watchForwards(t *testing.T, nc *nats.Conn) *forwards {
	t.Helper()
	f := &forwards{ch: make(chan *nats.Msg, 4096), seen: map[string]int{}}
	sub, err := nc.ChanSubscribe("reprise.internal.shard.*.*", f.ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return f
}

// count returns how many forwarded requests of verb were seen so far. A
// forwarded request is delivered to the test's connection before the reply
// it causes, so everything a returned request forwarded is counted.
func (f *forwards) count(verb api.Verb) int {
	for {
		select {
		case m := <-f.ch:
			f.seen[m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]]++
		default:
			return f.seen[string(verb)]
		}
	}
}

// untilForwarded repeats send until one of its requests was forwarded to
// the other orchestrator. Requests reach either orchestrator at random (a
// queue group), so each is forwarded with probability 1/2 for an instance
// of the other's shards; 64 tries all staying local has probability 2^-64.
func (f *forwards) untilForwarded(t *testing.T, verb api.Verb, send func(i int)) {
	t.Helper()
	before := f.count(verb)
	for i := range 64 {
		send(i)
		if f.count(verb) > before {
			return
		}
	}
	t.Fatalf("no %s request was forwarded in 64 tries", verb)
}

// TestTwoOrchestratorsShareShards runs two orchestrators on one NATS
// server, each owning half the shards in its own data directory, and drives
// every verb of the API through whichever receives the request: instances
// of either orchestrator's shards work, and list pages over both.
func TestTwoOrchestratorsShareShards(t *testing.T) {
	reg := testOrchestrations(t)
	shard := func(ordinal int) func(*host.Config) {
		return func(c *host.Config) {
			c.Orchestrators, c.Ordinal = 2, ordinal
			c.Activities = host.ActivitiesOn
			c.LockTimeout = 2 * time.Second
		}
	}
	a, nc := startNode(t, reg, shard(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfgB := host.Config{
		NATSURL:      a.NATSURL(),
		DataDir:      t.TempDir(),
		MetricsAddr:  "127.0.0.1:0",
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		DrainTimeout: 10 * time.Second,
	}
	shard(1)(&cfgB)
	b, err := host.Start(ctx, host.Orchestrator, cfgB, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.Stop(ctx); err != nil {
			t.Errorf("stop b: %v", err)
		}
	})
	fw := watchForwards(t, nc)

	// owner says which orchestrator's store holds id.
	owner := func(id string) string {
		_, errA := a.Provider().Metadata(ctx, id)
		_, errB := b.Provider().Metadata(ctx, id)
		switch {
		case errA == nil && errors.Is(errB, provider.ErrNotFound):
			return "a"
		case errB == nil && errors.Is(errA, provider.ErrNotFound):
			return "b"
		}
		t.Fatalf("%s: metadata on a: %v, on b: %v; want it on exactly one", id, errA, errB)
		return ""
	}

	// Starts: until one was forwarded, then enough for both owners.
	var ids []string
	startTwice := func(i int) {
		id := fmt.Sprintf("t-%d", i)
		ok(t, nc, api.VerbStart, fmt.Sprintf(`{"name":"twice","id":%q,"input":%d}`, id, i), nil)
		ids = append(ids, id)
	}
	fw.untilForwarded(t, api.VerbStart, startTwice)
	for len(ids) < 12 {
		startTwice(len(ids))
	}
	owners := map[string][]string{}
	for i, id := range ids {
		if st := waitTerminal(t, nc, id); st.Status != api.StatusCompleted || string(st.Output) != fmt.Sprint(4*i) {
			t.Fatalf("%s: %s %s %s", id, st.Status, st.Output, st.Error)
		}
		owners[owner(id)] = append(owners[owner(id)], id)
	}
	if len(owners["a"]) == 0 || len(owners["b"]) == 0 {
		t.Fatalf("instances by owner: %v; want both to own some", owners)
	}
	onA, onB := owners["a"][0], owners["b"][0]

	// A start of an id in use is refused wherever it lands.
	for _, id := range []string{onA, onB} {
		fw.untilForwarded(t, api.VerbStart, func(int) {
			fails(t, nc, api.VerbStart, `{"name":"twice","id":`+quote(id)+`}`, api.CodeAlreadyExists, id)
		})
	}

	// Status, wait and history of instances of both owners, forwarded or
	// not, answer from the owner's store.
	for _, id := range []string{onA, onB} {
		fw.untilForwarded(t, api.VerbStatus, func(int) {
			var st api.InstanceStatus
			ok(t, nc, api.VerbStatus, `{"id":`+quote(id)+`}`, &st)
			if st.ID != id || st.Status != api.StatusCompleted {
				t.Fatalf("status %s: %+v", id, st)
			}
		})
		fw.untilForwarded(t, api.VerbWait, func(int) { waitTerminal(t, nc, id) })
		fw.untilForwarded(t, api.VerbHistory, func(int) {
			var h api.HistoryReply
			ok(t, nc, api.VerbHistory, `{"id":`+quote(id)+`}`, &h)
			var kinds []string
			for _, e := range h.Events {
				kinds = append(kinds, e.Kind)
			}
			if k := strings.Join(kinds, ","); !strings.Contains(k, "ExecutionStarted") || !strings.HasSuffix(k, "ExecutionCompleted") {
				t.Fatalf("history of %s: %s", id, k)
			}
		})
		fw.untilForwarded(t, api.VerbStatus, func(i int) {
			fails(t, nc, api.VerbStatus, fmt.Sprintf(`{"id":"%s-missing-%d"}`, id, i), api.CodeNotFound)
		})
	}

	// Raise, suspend, resume and terminate only queue messages: any
	// orchestrator sends them. A wait for a running instance is answered
	// when it finishes, through whichever orchestrator took the wait.
	for i, who := range []string{"a", "b"} {
		var gate string
		for j := 0; gate == ""; j++ {
			id := fmt.Sprintf("g-%d-%d", i, j)
			sub := notes(t, nc, id)
			ok(t, nc, api.VerbStart, `{"name":"gate","id":`+quote(id)+`,"input":"in"}`, nil)
			awaitStatus(t, sub, api.StatusRunning)
			if owner(id) == who {
				gate = id
				ok(t, nc, api.VerbSuspend, `{"id":`+quote(id)+`}`, nil)
				awaitStatus(t, sub, api.StatusSuspended)
				ok(t, nc, api.VerbResume, `{"id":`+quote(id)+`}`, nil)
				awaitStatus(t, sub, api.StatusRunning)
				ok(t, nc, api.VerbRaise, `{"id":`+quote(id)+`,"event":"go","payload":"ev"}`, nil)
				if st := waitTerminal(t, nc, id); string(st.Output) != `"in:ev"` {
					t.Fatalf("gate %s: %+v", id, st)
				}
			} else {
				ok(t, nc, api.VerbTerminate, `{"id":`+quote(id)+`,"reason":"not this one"}`, nil)
				if st := waitTerminal(t, nc, id); st.Status != api.StatusTerminated {
					t.Fatalf("terminated %s: %+v", id, st)
				}
			}
		}
	}

	// List walks both orchestrators: every instance exactly once, in pages.
	listAll := func(filter string, limit int) map[string]int {
		seen := map[string]int{}
		cursor := ""
		for range 200 {
			var page api.ListReply
			ok(t, nc, api.VerbList, fmt.Sprintf(`{%s"limit":%d,"cursor":%s}`, filter, limit, quote(cursor)), &page)
			if len(page.Instances) > limit {
				t.Fatalf("a page of %d instances, limit %d", len(page.Instances), limit)
			}
			for _, st := range page.Instances {
				seen[st.ID]++
			}
			if cursor = page.NextCursor; cursor == "" {
				return seen
			}
		}
		t.Fatal("list did not end in 200 pages")
		return nil
	}
	for _, filter := range []string{``, `"name":"twice",`, `"status":"Completed",`} {
		seen := listAll(filter, 5)
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("list {%s}: %s seen %d times", filter, id, seen[id])
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("list {%s}: %s seen %d times", filter, id, n)
			}
		}
	}
	if seen := listAll(`"name":"twice",`, 1000); len(seen) != len(ids) {
		t.Errorf("one page of twice: %d instances, want %d", len(seen), len(ids))
	}
	for _, c := range []string{"16:", "-1:", "x:", "02:", "1:garbage"} { // 16 shards: 0-15
		fails(t, nc, api.VerbList, `{"cursor":`+quote(c)+`}`, api.CodeBadRequest, "cursor")
	}

	// Purge of both owners' instances.
	for _, id := range []string{onA, onB} {
		fails(t, nc, api.VerbPurge, `{"id":`+quote(id)+`-nope}`, api.CodeBadRequest)
	}
	purged := 0
	fw.untilForwarded(t, api.VerbPurge, func(int) {
		id := ids[purged]
		purged++
		ok(t, nc, api.VerbPurge, `{"id":`+quote(id)+`}`, nil)
		fails(t, nc, api.VerbStatus, `{"id":`+quote(id)+`}`, api.CodeNotFound)
	})
	if seen := listAll(`"name":"twice",`, 4); len(seen) != len(ids)-purged {
		t.Errorf("after %d purges, list has %d of %d instances", purged, len(seen), len(ids))
	}
}

// TestShardWithoutOwner runs one orchestrator pinned to half the shards, as
// if the other half's owner were down: list answers with what it can reach
// and names the other shards; fire-and-forget starts of ids in them wait,
// past the delivery count that used to dead-letter them, and are started
// once an owner comes.
func TestShardWithoutOwner(t *testing.T) {
	reg := testOrchestrations(t)
	pin := func(shards []int) func(*host.Config) {
		return func(c *host.Config) {
			c.Shards, c.OwnedShards = 16, shards
			c.Activities = host.ActivitiesOn
			host.SetSubmitMaxDeliveries(c, 2)
		}
	}
	low, high := []int{0, 1, 2, 3, 4, 5, 6, 7}, []int{8, 9, 10, 11, 12, 13, 14, 15}
	a, nc := startNode(t, reg, pin(low))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	shardOf := a.Provider().(interface{ ShardOf(string) int }).ShardOf

	orphans, owned := idsByHalf(shardOf, "o", 4, 2)
	for _, id := range owned[:2] {
		ok(t, nc, api.VerbStart, `{"name":"twice","id":`+quote(id)+`,"input":1}`, nil)
		waitTerminal(t, nc, id)
	}
	var page api.ListReply
	ok(t, nc, api.VerbList, `{"limit":100}`, &page)
	if len(page.Instances) != 2 || fmt.Sprint(page.UnreachableShards) != fmt.Sprint(high) {
		t.Fatalf("list without an owner for shards 8-15: %d instances, unreachable %v; want 2 and %v",
			len(page.Instances), page.UnreachableShards, high)
	}
	if cp, err := client.New(nc).List(ctx, client.ListQuery{}); err != nil || fmt.Sprint(cp.UnreachableShards) != fmt.Sprint(high) {
		t.Fatalf("the Go client's page: %+v, %v; want unreachable shards %v", cp, err, high)
	}

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range orphans[:4] {
		if _, err := js.Publish(ctx, api.SubmitSubject(api.DefaultPrefix), []byte(`{"name":"twice","id":`+quote(id)+`,"input":2}`)); err != nil {
			t.Fatal(err)
		}
	}
	// Each submission is tried at least 3 times (12 deliveries), past the
	// 2 after which an internal error is dead-lettered.
	cons, err := js.Consumer(ctx, api.SubmitStream(api.DefaultPrefix), api.DefaultPrefix+"_submit")
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Delivered.Consumer >= 12 {
			t.Logf("4 submissions without an owner: %d deliveries, none dead-lettered", info.Delivered.Consumer)
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("submissions delivered %d times in all, want 12", info.Delivered.Consumer)
		case <-time.After(100 * time.Millisecond):
		}
	}
	requireNoDeadLetters(ctx, t, js)

	// The owner comes: every waiting submission starts.
	startSecond(ctx, t, a, reg, pin(high))
	for _, id := range orphans[:4] {
		if st := waitTerminal(t, nc, id); st.Status != api.StatusCompleted {
			t.Fatalf("%s: %s %s", id, st.Status, st.Error)
		}
	}
	page = api.ListReply{}
	ok(t, nc, api.VerbList, `{"limit":100}`, &page)
	if len(page.Instances) != 6 || len(page.UnreachableShards) != 0 {
		t.Fatalf("list with both owners: %d instances, unreachable %v; want 6, none", len(page.Instances), page.UnreachableShards)
	}
}

// TestSettingsMustMatch: an orchestrator started on the cluster of another
// with a different shard count or lock timeout is refused, naming them.
func TestSettingsMustMatch(t *testing.T) {
	reg := testOrchestrations(t)
	a, _ := startNode(t, reg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := host.Config{
		NATSURL: a.NATSURL(), DataDir: t.TempDir(), MetricsAddr: "off", Shards: 4, LockTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	_, err := host.Start(ctx, host.Orchestrator, cfg, reg)
	if err == nil {
		t.Fatal("an orchestrator with 4 shards joined an 8-shard cluster")
	}
	for _, want := range []string{"shards is 8 in the cluster, 4 here", "lock_timeout is 30s in the cluster, 5s here"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	t.Logf("refused: %v", err)
}

// An owner down for long (scaled: every submission comes back past the
// delivery count after which an internal error is dead-lettered): the
// submissions for its shards wait without blocking the others — more of
// them than the API handles at once (twice its concurrency of 2 used to
// fill the submit consumer's pending limit and stop every submission) —,
// none is dead-lettered, and they all start once the shards get an owner.
func TestSubmissionsWaitOutAnOutage(t *testing.T) {
	reg := testOrchestrations(t)
	pin := func(shards []int) func(*host.Config) {
		return func(c *host.Config) {
			c.Shards, c.OwnedShards = 16, shards
			c.Activities = host.ActivitiesOn
			host.SetSubmitMaxDeliveries(c, 2)
			host.SetAPIConcurrency(c, 2)
		}
	}
	low, high := []int{0, 1, 2, 3, 4, 5, 6, 7}, []int{8, 9, 10, 11, 12, 13, 14, 15}
	a, nc := startNode(t, reg, pin(low))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	shardOf := a.Provider().(interface{ ShardOf(string) int }).ShardOf
	const orphanCount = 24
	orphans, owned := idsByHalf(shardOf, "outage", orphanCount, 3)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(id string, in int) {
		t.Helper()
		if _, err := js.Publish(ctx, api.SubmitSubject(api.DefaultPrefix), []byte(`{"name":"twice","id":`+quote(id)+`,"input":`+fmt.Sprint(in)+`}`)); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range orphans {
		submit(id, i)
	}
	cons, err := js.Consumer(ctx, api.SubmitStream(api.DefaultPrefix), api.DefaultPrefix+"_submit")
	if err != nil {
		t.Fatal(err)
	}
	awaitConsumer := func(what string, done func(*jetstream.ConsumerInfo) bool) *jetstream.ConsumerInfo {
		t.Helper()
		for {
			info, err := cons.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if done(info) {
				return info
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: consumer at %d deliveries, %d pending acks", what, info.Delivered.Consumer, info.NumAckPending)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	awaitConsumer("every orphan delivered", func(i *jetstream.ConsumerInfo) bool { return i.NumAckPending >= orphanCount })

	// Submissions for owned shards are not stuck behind the waiting ones.
	for i, id := range owned {
		submit(id, 100+i)
	}
	for i, id := range owned {
		if st := waitTerminal(t, nc, id); st.Status != api.StatusCompleted || string(st.Output) != fmt.Sprint(4*(100+i)) {
			t.Fatalf("%s during the outage: %s %s %s", id, st.Status, st.Output, st.Error)
		}
	}

	// Every orphan comes back past the delivery count of 2.
	info := awaitConsumer("every orphan tried 3 times", func(i *jetstream.ConsumerInfo) bool {
		return i.Delivered.Consumer >= 3*orphanCount+uint64(len(owned))
	})
	t.Logf("%d submissions without an owner: %d deliveries, %d waiting, none dead-lettered; %d others started meanwhile",
		orphanCount, info.Delivered.Consumer, info.NumAckPending, len(owned))
	requireNoDeadLetters(ctx, t, js)

	// The owner comes: the backlog drains.
	startSecond(ctx, t, a, reg, pin(high))
	for i, id := range orphans {
		if st := waitTerminal(t, nc, id); st.Status != api.StatusCompleted || string(st.Output) != fmt.Sprint(4*i) {
			t.Fatalf("%s after the outage: %s %s %s", id, st.Status, st.Output, st.Error)
		}
	}
	awaitConsumer("every submission acked", func(i *jetstream.ConsumerInfo) bool { return i.NumAckPending == 0 && i.NumPending == 0 })
}

// The wait for an owner is bounded by time: past it (shortened here to 2 s)
// a submission is dead-lettered with the reason and its exact bytes.
func TestSubmissionWaitIsBoundedByAge(t *testing.T) {
	reg := testOrchestrations(t)
	a, nc := startNode(t, reg, func(c *host.Config) {
		c.Shards, c.OwnedShards = 16, []int{0, 1, 2, 3, 4, 5, 6, 7}
		host.SetSubmitMaxDeliveries(c, 2)
		host.SetSubmitUnavailableMaxAge(c, 2*time.Second)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shardOf := a.Provider().(interface{ ShardOf(string) int }).ShardOf
	id := "aged-0"
	for i := 1; shardOf(id) < 8; i++ {
		id = fmt.Sprintf("aged-%d", i)
	}
	body := `{"name":"twice", "id":` + quote(id) + `, "input":7}`
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, api.SubmitSubject(api.DefaultPrefix), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := js.Stream(ctx, api.SubmitStream(api.DefaultPrefix))
	if err != nil {
		t.Fatal(err)
	}
	submitted, err := sub.GetMsg(ctx, ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	dl, err := js.OrderedConsumer(ctx, api.DeadLetterStream(api.DefaultPrefix), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := dl.Next(jetstream.FetchMaxWait(45 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	var letter api.DeadLetter
	if err := json.Unmarshal(m.Data(), &letter); err != nil {
		t.Fatal(err)
	}
	md, err := m.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	waited := md.Timestamp.Sub(submitted.Time)
	if letter.Reason == nil || letter.Reason.Code != api.CodeUnavailable || letter.Original != body || waited < 2*time.Second {
		t.Fatalf("dead letter after %s: %+v (reason %+v); want code unavailable, the exact body, after 2s", waited, letter, letter.Reason)
	}
	t.Logf("dead-lettered %s after its 2s bound: %s", waited.Round(10*time.Millisecond), letter.Reason.Message)
}

// The cluster verb (reprise cluster) shows the members and who holds which
// shard: two leased orchestrators split a new deployment's shards
// (host.DefaultShards) half and half; when one stops, the other holds all.
// A pinned orchestrator shows its own shards.
func TestClusterVerbShowsTheLeases(t *testing.T) {
	reg := testOrchestrations(t)
	a, nc := startNode(t, reg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := startSecond(ctx, t, a, reg, nil)
	c := client.New(nc)
	await := func(what string, done func(*client.ClusterInfo) bool) *client.ClusterInfo {
		t.Helper()
		for {
			info, err := c.Cluster(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if done(info) {
				return info
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: last reply %+v", what, info)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	half := host.DefaultShards / 2
	info := await("two members with half the shards each", func(i *client.ClusterInfo) bool {
		return len(i.Members) == 2 && len(i.Members[0].Shards) == half && len(i.Members[1].Shards) == half && len(i.UnownedShards) == 0
	})
	if info.Mode != api.ClusterLeases || info.Shards != host.DefaultShards || info.AnsweredBy == "" {
		t.Fatalf("cluster reply %+v: want mode leases, %d shards, the answering member", info, host.DefaultShards)
	}
	var out bytes.Buffer
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	info = await("one member with every shard", func(i *client.ClusterInfo) bool {
		return len(i.Members) == 1 && len(i.Members[0].Shards) == host.DefaultShards && len(i.UnownedShards) == 0
	})
	_ = json.NewEncoder(&out).Encode(info)
	t.Logf("after one of two stopped: %s", out.String())

	_, ncPinned := startNode(t, reg, func(c *host.Config) { c.OwnedShards = []int{1, 3} })
	pinned, err := client.New(ncPinned).Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pinned.Mode != api.ClusterPinned || len(pinned.Members) != 1 || fmt.Sprint(pinned.Members[0].Shards) != "[1 3]" {
		t.Fatalf("pinned cluster reply %+v: want mode pinned, shards [1 3]", pinned)
	}
}

// startSecond starts another orchestrator on a's NATS server, with its own
// data directory, edited by edit; it is stopped at the end of the test.
func startSecond(ctx context.Context, t *testing.T, a *host.Node, reg *runtime.Registry, edit func(*host.Config)) *host.Node {
	t.Helper()
	cfg := host.Config{
		NATSURL: a.NATSURL(), DataDir: t.TempDir(), MetricsAddr: "off", DrainTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if edit != nil {
		edit(&cfg)
	}
	b, err := host.Start(ctx, host.Orchestrator, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background()) })
	return b
}

// requireNoDeadLetters fails the test if the dead-letter stream holds any.
func requireNoDeadLetters(ctx context.Context, t *testing.T, js jetstream.JetStream) {
	t.Helper()
	dl, err := js.Stream(ctx, api.DeadLetterStream(api.DefaultPrefix))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := dl.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("dead letters: %+v, %v; want none", info.State, err)
	}
}

// idsByHalf returns high ids <prefix>-<n> of shards 8-15 and low ids of
// shards 0-7.
func idsByHalf(shardOf func(string) int, prefix string, high, low int) (upper, lower []string) {
	for i := 0; len(upper) < high || len(lower) < low; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if shardOf(id) >= 8 {
			upper = append(upper, id)
		} else {
			lower = append(lower, id)
		}
	}
	return upper[:high], lower[:low]
}

// TestShardCountIsTheDeployments: the shard count is the deployment's. A
// new deployment gets host.DefaultShards; a process started without
// -shards takes the count the log stream records (16 here), and one started
// with another count is refused, a worker as well as an orchestrator.
func TestShardCountIsTheDeployments(t *testing.T) {
	reg := testOrchestrations(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, fresh := startNode(t, reg, nil)
	if info, err := client.New(fresh).Cluster(ctx); err != nil || info.Shards != host.DefaultShards {
		t.Fatalf("a new deployment: %+v, %v; want %d shards", info, err, host.DefaultShards)
	}

	a, nc := startNode(t, reg, func(c *host.Config) { c.Shards = 16 })
	// Without -shards: the deployment's 16 (with another count the
	// cluster's settings would refuse it, and startSecond fail).
	startSecond(ctx, t, a, reg, nil)
	if info, err := client.New(nc).Cluster(ctx); err != nil || info.Shards != 16 || len(info.Members) != 2 {
		t.Fatalf("after a second orchestrator without -shards: %+v, %v; want 16 shards, 2 members", info, err)
	}
	quiet := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	for _, role := range []host.Role{host.Worker, host.Orchestrator} {
		n, err := host.Start(ctx, role, host.Config{NATSURL: a.NATSURL(), DataDir: t.TempDir(), MetricsAddr: "off",
			Shards: 8, Logger: quiet}, reg)
		if err == nil {
			_ = n.Stop(ctx)
			t.Fatalf("a %s with 8 shards started in a 16-shard deployment", role)
		}
		if want := "shards is 16"; !strings.Contains(err.Error(), want) {
			t.Errorf("%s with 8 shards refused with %q, want it to say %q", role, err, want)
		}
		t.Logf("%s refused: %v", role, err)
	}
}
