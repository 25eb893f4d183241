package chaos

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/internal/servicetest"
	leases "github.com/reprise/reprise/services/cluster"
)

var failoverLong = flag.Bool("failover.long", false,
	"run the whole fail-over suite (make cluster-chaos): kill, pause, rolling restart, 3->5->3, NATS node kill")

// Timing of the fail-over suite's processes: servers that drop a silent
// client after about two 1 s pings. The short run takes leases of 3 s, so
// that a dead orchestrator's shards move in seconds; the long run the
// default (12 s), which must outlast a stream leader election when a NATS
// node dies.
const (
	failoverShards = 16
	serverPing     = "1s"
)

// fleet is a 3-node NATS cluster (R3 streams) with orchestrators and
// workers as separate processes.
type fleet struct {
	t        *testing.T
	bin      string
	dir      string
	leaseTTL time.Duration
	env      []string
	execLog  string

	natsAddrs, routeAddrs []string
	nats                  []*servicetest.Process

	mu    sync.Mutex
	orchs map[string]*servicetest.Process // by name; a name keeps its data directory
	// retired are the earlier processes of each name, for their logs.
	retired []named
	// disruptions is written by the test goroutine only.
	disruptions []disruption
	workers     []*servicetest.Process
}

func newFleet(t *testing.T, bin string, orchestrators int, leaseTTL time.Duration) *fleet {
	dir := t.TempDir()
	f := &fleet{t: t, bin: bin, dir: dir, leaseTTL: leaseTTL, execLog: filepath.Join(dir, "executions.log"), orchs: map[string]*servicetest.Process{}}
	f.env = []string{"CHAOS_EXEC_LOG=" + f.execLog}
	for range 3 {
		f.natsAddrs = append(f.natsAddrs, servicetest.FreeAddr(t))
		f.routeAddrs = append(f.routeAddrs, servicetest.FreeAddr(t))
	}
	var wg sync.WaitGroup
	f.nats = make([]*servicetest.Process, 3)
	for i := range 3 {
		wg.Go(func() { f.nats[i] = f.startNATS(i) })
	}
	wg.Wait()
	for i := range orchestrators {
		f.startOrchestrator(fmt.Sprintf("orch-%d", i+1))
	}
	f.startWorker()
	f.startWorker()
	return f
}

func (f *fleet) url() string {
	var urls []string
	for _, a := range f.natsAddrs {
		urls = append(urls, "nats://"+a)
	}
	return strings.Join(urls, ",")
}

func (f *fleet) startNATS(i int) *servicetest.Process {
	var routes []string
	for _, a := range f.routeAddrs {
		routes = append(routes, "nats-route://"+a)
	}
	return servicetest.StartEnv(f.t, fmt.Sprintf("nats-%d", i+1), f.bin, nil, "nats", "-listen", f.natsAddrs[i],
		"-store-dir", filepath.Join(f.dir, fmt.Sprintf("nats-%d", i+1)), "-name", fmt.Sprintf("n%d", i+1),
		"-cluster", "reprise", "-cluster-listen", f.routeAddrs[i], "-routes", strings.Join(routes, ","),
		"-ping-interval", serverPing)
}

func (f *fleet) startOrchestrator(name string) *servicetest.Process {
	p := servicetest.StartEnv(f.t, name, f.bin, f.env, "orchestrator", "-nats-url", f.url(), "-replicas", "3",
		"-shards", strconv.Itoa(failoverShards), "-lease-ttl", f.leaseTTL.String(),
		"-data-dir", filepath.Join(f.dir, name), "-metrics-addr", "127.0.0.1:0", "-ui-addr", "off",
		"-activities=false", "-lock-timeout", lockTimeout, "-concurrency", "8")
	f.mu.Lock()
	if old := f.orchs[name]; old != nil {
		f.retired = append(f.retired, named{name, old})
	}
	f.orchs[name] = p
	f.mu.Unlock()
	return p
}

func (f *fleet) startWorker() {
	f.workers = append(f.workers, servicetest.StartEnv(f.t, fmt.Sprintf("worker %d", len(f.workers)+1), f.bin, f.env, "worker",
		"-nats-url", f.url(), "-metrics-addr", "127.0.0.1:0", "-replicas", "3",
		"-lock-timeout", lockTimeout, "-activity-concurrency", "8"))
}

func (f *fleet) orch(name string) *servicetest.Process {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.orchs[name]
}

func (f *fleet) orchNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n, p := range f.orchs {
		if p.Alive() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

type named struct {
	name string
	p    *servicetest.Process
}

// all returns every orchestrator process, live or retired. mu held.
func (f *fleet) all() []named {
	out := slices.Clone(f.retired)
	for n, p := range f.orchs {
		out = append(out, named{n, p})
	}
	return out
}

// shardEvent is one "shard acquired" or "shard handed over" line.
type shardEvent struct {
	shard int
	at    time.Time
	by    string
}

// shardEvents returns the events of msg ("shard acquired", "shard handed
// over", "shard dropped: lease lost") in every orchestrator's log since t0.
func (f *fleet) shardEvents(msg string, since time.Time) []shardEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []shardEvent
	for _, np := range f.all() {
		name, p := np.name, np.p
		for _, l := range p.Lines() {
			if !strings.Contains(l, `msg="`+msg+`"`) {
				continue
			}
			at, shard, ok := parseShardLine(l)
			if ok && !at.Before(since) {
				out = append(out, shardEvent{shard: shard, at: at, by: name})
			}
		}
	}
	slices.SortFunc(out, func(a, b shardEvent) int { return a.at.Compare(b.at) })
	return out
}

// parseShardLine reads the time= and shard= fields of a log line.
func parseShardLine(l string) (time.Time, int, bool) {
	var at time.Time
	shard := -1
	for _, fld := range strings.Fields(l) {
		if v, ok := strings.CutPrefix(fld, "time="); ok {
			at, _ = time.Parse(time.RFC3339Nano, v)
		}
		if v, ok := strings.CutPrefix(fld, "shard="); ok {
			shard, _ = strconv.Atoi(v)
		}
	}
	return at, shard, !at.IsZero() && shard >= 0
}

// awaitAcquired waits until every shard in shards has a "shard acquired"
// line after since, and returns the pause of each: from since to then.
func (f *fleet) awaitAcquired(ctx context.Context, shards []int, since time.Time) map[int]time.Duration {
	f.t.Helper()
	for {
		got := map[int]time.Duration{}
		for _, e := range f.shardEvents("shard acquired", since) {
			if _, seen := got[e.shard]; !seen {
				got[e.shard] = e.at.Sub(since)
			}
		}
		all, mine := true, map[int]time.Duration{}
		for _, s := range shards {
			d, ok := got[s]
			all = all && ok
			mine[s] = d
		}
		if all {
			return mine
		}
		if err := pollWait(ctx); err != nil {
			f.t.Fatalf("shards %v not all taken over since %s (got %v): %v", shards, since.Format(time.StampMilli), got, err)
		}
	}
}

// ownedBy returns the shards name holds now: acquired and not since handed
// over or dropped, per its log.
func (f *fleet) ownedBy(name string) []int {
	p := f.orch(name)
	owned := map[int]bool{}
	for _, l := range p.Lines() {
		_, shard, ok := parseShardLine(l)
		if !ok {
			continue
		}
		switch {
		case strings.Contains(l, `msg="shard acquired"`):
			owned[shard] = true
		case strings.Contains(l, `msg="shard handed over"`), strings.Contains(l, `msg="shard dropped: lease lost"`):
			delete(owned, shard)
		}
	}
	var out []int
	for s := range owned {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// awaitAllOwned waits until the live orchestrators' logs account for every
// shard exactly once.
func (f *fleet) awaitAllOwned(ctx context.Context) map[string][]int {
	f.t.Helper()
	for {
		count := map[int]int{}
		by := map[string][]int{}
		for _, n := range f.orchNames() {
			by[n] = f.ownedBy(n)
			for _, s := range by[n] {
				count[s]++
			}
		}
		ok := len(count) == failoverShards
		for _, c := range count {
			ok = ok && c == 1
		}
		if ok {
			return by
		}
		if err := pollWait(ctx); err != nil {
			f.t.Fatalf("the shards never settled on one owner each: %v", by)
		}
	}
}

// awaitAssigned waits until every live orchestrator owns exactly the shards
// rendezvous hashing assigns it among the live ones (their member ids are
// in their data directories), and returns the owners.
func (f *fleet) awaitAssigned(ctx context.Context) map[string][]int {
	f.t.Helper()
	for {
		names := f.orchNames()
		ids := map[string]string{}
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(f.dir, n, "member-id"))
			if err != nil {
				f.t.Fatal(err)
			}
			ids[strings.TrimSpace(string(b))] = n
		}
		want := map[string][]int{}
		for s, id := range leases.Assign(failoverShards, slices.Collect(maps.Keys(ids))) {
			want[ids[id]] = append(want[ids[id]], s)
		}
		by := map[string][]int{}
		ok := true
		for _, n := range names {
			by[n] = f.ownedBy(n)
			ok = ok && slices.Equal(by[n], want[n])
		}
		if ok {
			return by
		}
		if err := pollWait(ctx); err != nil {
			f.t.Fatalf("the shards never settled as assigned: own %v, assigned %v", by, want)
		}
	}
}

func pauseSummary(p map[int]time.Duration) string {
	var ds []time.Duration
	for _, d := range p {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	if len(ds) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d shards, min %s, median %s, max %s", len(ds), ds[0].Round(time.Millisecond),
		ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}

// TestFailover runs load against a 3-node NATS cluster and 3 orchestrator
// processes sharing 16 shards by leases, and moves the shards under it: an
// orchestrator SIGKILLed, a rolling restart, (long) an orchestrator paused
// past its lease, scaling 3 -> 5 -> 3, a NATS node killed. Then it checks
// that no instance was lost, no event recorded twice, and no activity re-run
// without a worker or NATS kill to explain it.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a NATS cluster and the node binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	began := time.Now()
	leaseTTL := 3 * time.Second
	if *failoverLong {
		leaseTTL = leases.DefaultLeaseTTL
	}
	f := newFleet(t, servicetest.Build(t, "./internal/chaosnode", "chaosnode"), 3, leaseTTL)
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			f.dumpLeaseLines()
		}
	})
	t.Logf("3 NATS nodes, 3 orchestrators, 2 workers started in %s", time.Since(began).Round(time.Millisecond))
	owners := f.awaitAssigned(ctx)
	t.Logf("initial owners: %v", owners)

	nc, err := nats.Connect(f.url(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cl := client.New(nc, client.WithRequestTimeout(5*time.Second), client.WithWaitInterval(time.Second))
	p := plan{inFlight: 16, fanout: 3, minInstances: 100}
	l := &loader{c: cl, plan: p, stop: make(chan struct{}), results: map[string]result{}}
	var wg sync.WaitGroup
	for range p.inFlight {
		wg.Go(func() { l.run(ctx) })
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	growth := func() { f.awaitGrowthIn(ctx, 60) }
	growth()

	// 1. SIGKILL an owner under load: its shards move after the lease TTL.
	victim := "orch-2"
	lostShards := f.ownedBy(victim)
	at := time.Now()
	d := disruption{kind: "orchestrator", pid: f.orch(victim).Pid(), from: at}
	f.orch(victim).Kill(f.t)
	d.to = time.Now()
	f.disruptions = append(f.disruptions, d)
	pauses := f.awaitAcquired(ctx, lostShards, at)
	t.Logf("SIGKILL %s: its shards %v resumed elsewhere; pause per shard (kill to acquired): %s; lease TTL %s",
		victim, lostShards, pauseSummary(pauses), f.leaseTTL)
	for s, pause := range pauses {
		t.Logf("  shard %d: %s", s, pause.Round(time.Millisecond))
	}
	growth()
	f.startOrchestrator(victim) // same data directory: same member, takes its share back
	f.awaitAssigned(ctx)
	growth()

	// 2. Rolling restart with graceful hand-off.
	for _, name := range []string{"orch-1", "orch-2", "orch-3"} {
		at := time.Now()
		held := f.ownedBy(name)
		f.orch(name).Terminate(t)
		fromStop := f.awaitAcquired(ctx, held, at)
		handed := f.handOffPauses(name, held, at)
		f.startOrchestrator(name)
		f.awaitAssigned(ctx)
		t.Logf("rolling restart %s: shards %v handed over; pause per shard (stopped pulling to served elsewhere): %s; from SIGTERM: %s",
			name, held, pauseSummary(handed), pauseSummary(fromStop))
		// No ping-pong: each of its shards went away once and came back
		// once (speed is reported above, not asserted: the machine may be
		// loaded).
		moves := map[int]int{}
		for _, e := range f.shardEvents("shard acquired", at) {
			moves[e.shard]++
		}
		for _, sh := range held {
			if moves[sh] != 2 {
				t.Errorf("rolling restart %s: shard %d was acquired %d times, want 2 (away and back)", name, sh, moves[sh])
			}
		}
		// The quotas change with the member count, so a shard of another
		// member may move too, but only once each way.
		for sh, n := range moves {
			if n > 2 {
				t.Errorf("rolling restart %s: shard %d was acquired %d times, want at most 2", name, sh, n)
			}
		}
		growth()
	}
	if *failoverLong {
		f.longScenarios(ctx, t, cl, growth)
	}

	close(l.stop)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		t.Fatalf("the run did not finish in time: %d instances started", l.next.Load())
	}
	t.Logf("load done: %d instances in %s; %s", len(l.results), time.Since(began).Round(time.Millisecond), latencies(l.results))
	if dropped := f.shardEvents("shard dropped: lease lost", began); len(dropped) > 0 && !*failoverLong {
		t.Errorf("shards dropped for a lost lease without a pause or partition: %v", dropped)
	}
	v := verifier{t: t, c: cl, results: l.results, plan: p}
	v.outputs()
	v.listing(ctx)
	v.histories(ctx)
	v.executions(f.execLog, f.disruptions, 0, false)
}

// longScenarios: an owner paused past its lease, 3 -> 5 -> 3, a NATS node
// killed.
func (f *fleet) longScenarios(ctx context.Context, t *testing.T, cl *client.Client, growth func()) {
	// 3. SIGSTOP past the lease, then SIGCONT: it drops its shards (lost)
	// and takes its share back gracefully.
	name := "orch-3"
	held := f.ownedBy(name)
	p := f.orch(name)
	at := time.Now()
	d := disruption{kind: "orchestrator", pid: p.Pid(), from: at}
	_ = p.Signal(syscall.SIGSTOP)
	pauses := f.awaitAcquired(ctx, held, at)
	// API requests while it is stopped: the servers dropped its connection
	// after missed pings, so none waits on it.
	var slowest time.Duration
	for i := range 20 {
		began := time.Now()
		_, err := cl.Status(ctx, instanceID(int64(i)))
		if err != nil {
			t.Errorf("status of %s while %s is stopped: %v", instanceID(int64(i)), name, err)
		}
		slowest = max(slowest, time.Since(began))
	}
	t.Logf("20 status requests while %s is stopped: slowest answered in %s", name, slowest.Round(time.Millisecond))
	time.Sleep(f.leaseTTL) // stay stopped past the lease: the point of the scenario
	_ = p.Signal(syscall.SIGCONT)
	d.to = time.Now()
	f.disruptions = append(f.disruptions, d)
	t.Logf("SIGSTOP %s: shards %v taken over, pause per shard: %s", name, held, pauseSummary(pauses))
	for {
		dropped := f.shardEvents("shard dropped: lease lost", at)
		if len(dropped) >= len(held) {
			t.Logf("after SIGCONT %s dropped %d shards as lost before any commit", name, len(dropped))
			break
		}
		if err := pollWait(ctx); err != nil {
			t.Fatalf("%s did not drop its lost shards after SIGCONT: %v", name, dropped)
		}
	}
	f.awaitAllOwned(ctx)
	growth()

	// 4. 3 -> 5 -> 3 under load.
	at = time.Now()
	f.startOrchestrator("orch-4")
	f.startOrchestrator("orch-5")
	by := f.awaitAssigned(ctx)
	moved := len(by["orch-4"]) + len(by["orch-5"])
	t.Logf("3 -> 5: %d of %d shards moved (%.0f%%; about 2/5 expected): %v", moved, failoverShards,
		100*float64(moved)/failoverShards, by)
	growth()
	for _, n := range []string{"orch-4", "orch-5"} {
		f.orch(n).Terminate(t)
	}
	by = f.awaitAssigned(ctx)
	t.Logf("5 -> 3: owners %v (%s since scaling up)", by, time.Since(at).Round(time.Millisecond))
	growth()

	// 5. A NATS node killed and restarted: transient renewal errors hand
	// nothing over.
	at = time.Now()
	d = disruption{kind: "nats", pid: f.nats[1].Pid(), from: at}
	f.nats[1].Kill(f.t)
	growth()
	f.nats[1] = f.startNATS(1)
	// Until the node is back and current: work in flight meanwhile
	// (completions of activities whose stream leader moved) may run again.
	d.to = time.Now()
	f.disruptions = append(f.disruptions, d)
	growth()
	if dropped := f.shardEvents("shard dropped: lease lost", at); len(dropped) > 0 {
		t.Errorf("a NATS node kill dropped %d shards: %v", len(dropped), dropped)
	}
	if handed := f.shardEvents("shard handed over", at); len(handed) > 0 {
		t.Errorf("a NATS node kill moved %d shards: %v", len(handed), handed)
	}
	t.Logf("NATS node n2 killed and restarted: no shard moved")
}

// awaitGrowthIn waits until the execution log has n more lines.
func (f *fleet) awaitGrowthIn(ctx context.Context, n int) {
	f.t.Helper()
	base := len(readExecLog(f.t, f.execLog))
	for len(readExecLog(f.t, f.execLog)) < base+n {
		if err := pollWait(ctx); err != nil {
			f.t.Fatalf("the execution log stopped growing (waiting for %d more lines): %v", n, err)
		}
	}
}

// dumpLeaseLines logs the orchestrators' warnings and errors.
func (f *fleet) dumpLeaseLines() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, np := range f.all() {
		name, p := np.name, np.p
		for _, l := range p.Lines() {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "shard") {
				f.t.Logf("%s: %s", name, l)
			}
		}
	}
}

// handOffPauses returns, for each shard name handed over since at, the time
// from its "handing shard over" line to the first "shard acquired" line of
// another orchestrator after it.
func (f *fleet) handOffPauses(name string, shards []int, at time.Time) map[int]time.Duration {
	start := map[int]time.Time{}
	for _, e := range f.shardEvents("handing shard over", at) {
		if e.by == name {
			if _, ok := start[e.shard]; !ok {
				start[e.shard] = e.at
			}
		}
	}
	out := map[int]time.Duration{}
	for _, e := range f.shardEvents("shard acquired", at) {
		from, ok := start[e.shard]
		if _, done := out[e.shard]; ok && !done && e.by != name && !e.at.Before(from) && slices.Contains(shards, e.shard) {
			out[e.shard] = e.at.Sub(from)
		}
	}
	return out
}
