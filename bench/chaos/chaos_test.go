package chaos

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/bench/chaos/internal/workload"
	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/internal/servicetest"
)

var (
	longRun  = flag.Bool("chaos.long", false, "run the long chaos variants (make chaos): ≥5 orchestrator kills, ≥2 NATS restarts; then the embedded-NATS variant")
	fsyncArg = flag.Bool("chaos.fsync", false, "run the orchestrator in the durable mode (-fsync, group commit), with NATS embedded in it (-fsync needs the embedded server): the short or, with -chaos.long, the long embedded variant")
	seedArg  = flag.Uint64("chaos.seed", 0, "random seed of the kill points (0: from the clock; the seed is logged)")
)

// plan is one variant of the suite.
type plan struct {
	orchestratorKills int
	natsRestarts      int
	workerKills       int
	// inFlight instances run at once (closed loop); at least minInstances
	// are started in all.
	inFlight     int
	minInstances int
	// The fan-out width of instance i is fanout + i%3.
	fanout int
	// A kill point is after growth ∈ [growthMin, growthMax) more activity
	// execution log lines.
	growthMin, growthMax int
	// deadline bounds the whole run.
	deadline time.Duration
	// embedded runs NATS inside the orchestrator (the one-command default):
	// an orchestrator kill kills the server with it.
	embedded bool
	// fsync runs the orchestrator with -fsync (embedded only).
	fsync bool
}

var (
	shortPlan = plan{orchestratorKills: 2, natsRestarts: 1, workerKills: 1, inFlight: 12, minInstances: 60,
		fanout: 3, growthMin: 20, growthMax: 120, deadline: 3 * time.Minute}
	longPlan = plan{orchestratorKills: 6, natsRestarts: 3, workerKills: 2, inFlight: 24, minInstances: 400,
		fanout: 4, growthMin: 50, growthMax: 400, deadline: 15 * time.Minute}
	embeddedPlan = plan{orchestratorKills: 4, workerKills: 1, inFlight: 24, minInstances: 200,
		fanout: 4, growthMin: 50, growthMax: 400, deadline: 15 * time.Minute, embedded: true}
	// shortEmbeddedPlan is the short variant with NATS embedded (for
	// -chaos.fsync).
	shortEmbeddedPlan = plan{orchestratorKills: 2, workerKills: 1, inFlight: 12, minInstances: 60,
		fanout: 3, growthMin: 20, growthMax: 120, deadline: 3 * time.Minute, embedded: true}
)

// Timing of the processes: a short lock timeout makes work held by a killed
// process come back quickly.
const (
	lockTimeout = "2s"
	slowMS      = 150
	timerMS     = 200
)

// TestChaos runs the load, kills and restarts the processes at random
// points, and checks that nothing was lost or applied twice.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the node binaries")
	}
	if *fsyncArg {
		p := shortEmbeddedPlan
		if *longRun {
			p = embeddedPlan
		}
		p.fsync = true
		runChaos(t, p)
		return
	}
	if !*longRun {
		runChaos(t, shortPlan)
		return
	}
	t.Run("ExternalNATS", func(t *testing.T) { runChaos(t, longPlan) })
	t.Run("EmbeddedNATS", func(t *testing.T) { runChaos(t, embeddedPlan) })
}

func runChaos(t *testing.T, p plan) {
	seed := *seedArg
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -chaos.seed %d)", seed, seed)
	ctx, cancel := context.WithTimeout(context.Background(), p.deadline)
	defer cancel()

	began := time.Now()
	c := newCluster(t, servicetest.Build(t, "./internal/chaosnode", "chaosnode"), p.embedded, p.fsync)
	t.Logf("built and started in %s", time.Since(began).Round(time.Millisecond))
	nc, err := nats.Connect(c.natsURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A short wait interval: a wait held by a killed orchestrator is only
	// noticed when the request times out (hold + request timeout).
	cl := client.New(nc, client.WithRequestTimeout(5*time.Second), client.WithWaitInterval(time.Second))

	l := &loader{c: cl, plan: p, stop: make(chan struct{}), results: map[string]result{}}
	var wg sync.WaitGroup
	for range p.inFlight {
		wg.Go(func() { l.run(ctx) })
	}
	// On a failure before the load ends, stop the loader before returning.
	defer func() {
		cancel()
		wg.Wait()
	}()
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	actions := c.actions(p, rng)
	for i, a := range actions {
		c.awaitGrowth(ctx, p.growthMin+rng.IntN(p.growthMax-p.growthMin))
		at := time.Now()
		a.do(ctx)
		t.Logf("chaos %d/%d: %s at %s, back in %s", i+1, len(actions), a.name, at.Sub(began).Round(time.Millisecond), time.Since(at).Round(time.Millisecond))
	}
	c.awaitGrowth(ctx, p.growthMax)
	close(l.stop)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		t.Fatalf("the run did not finish within %s: %d instances started", p.deadline, l.next.Load())
	}
	t.Logf("load done: %d instances in %s; %s", len(l.results), time.Since(began).Round(time.Millisecond), latencies(l.results))

	v := verifier{t: t, c: cl, results: l.results, plan: p}
	v.outputs()
	v.listing(ctx)
	v.histories(ctx)
	v.executions(c.execLog, c.disruptions, c.resent, c.embedded)
	for _, w := range c.workers {
		if w.Alive() {
			w.Terminate(t)
		}
	}
	c.orch.Terminate(t)
	if c.nats != nil {
		c.nats.Terminate(t)
	}
}

// expectedSum is the output an order of fan-out width n must produce.
func expectedSum(n int) int64 {
	sum := int64(1)
	for x := int64(2); x <= int64(n+1); x++ {
		sum += x * x
	}
	return sum + int64(n+10)*int64(n+10)
}

// instanceID names instance i; width is its fan-out width.
func instanceID(i int64) string { return fmt.Sprintf("chaos-%05d", i) }

func width(p plan, i int64) int { return p.fanout + int(i%3) }

// result is what the loader saw of one instance.
type result struct {
	n      int
	status *client.InstanceStatus
	err    error
	// took is from the first start attempt to the final status.
	took time.Duration
}

// loader keeps plan.inFlight instances running: each of its goroutines
// starts an instance, waits for it, and starts the next, retrying through
// outages, until stop is closed and at least minInstances were started.
type loader struct {
	c       *client.Client
	plan    plan
	stop    chan struct{}
	next    atomic.Int64
	mu      sync.Mutex
	results map[string]result
}

func (l *loader) run(ctx context.Context) {
	for {
		i := l.next.Add(1) - 1
		select {
		case <-l.stop:
			if i >= int64(l.plan.minInstances) {
				return
			}
		default:
		}
		id, n := instanceID(i), width(l.plan, i)
		r := result{n: n}
		began := time.Now()
		if r.err = l.start(ctx, id, n); r.err == nil {
			r.status, r.err = l.wait(ctx, id)
		}
		r.took = time.Since(began)
		l.mu.Lock()
		l.results[id] = r
		l.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
}

// retryDelay is the pause between two attempts of a request that failed
// because a process was down.
const retryDelay = 100 * time.Millisecond

// transient reports whether err may be an outage that a retry outlives.
func transient(err error) bool {
	return errors.Is(err, client.ErrUnavailable) || errors.Is(err, client.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, context.DeadlineExceeded)
}

// pause waits retryDelay or until ctx ends.
func pause(ctx context.Context) error {
	t := time.NewTimer(retryDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start starts instance id, retrying through outages. An attempt that
// failed may still have started it: a retry then finds it existing.
func (l *loader) start(ctx context.Context, id string, n int) error {
	in := workload.OrderInput{N: n, SlowMS: slowMS, TimerMS: timerMS}
	for attempt := 0; ; attempt++ {
		_, err := l.c.Start(ctx, workload.Order, in, client.WithID(id))
		switch {
		case err == nil:
			return nil
		case errors.Is(err, client.ErrAlreadyExists) && attempt > 0:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("start %s: %w", id, ctx.Err())
		case !transient(err):
			return fmt.Errorf("start %s (attempt %d): %w", id, attempt+1, err)
		}
		if err := pause(ctx); err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
	}
}

// wait waits for instance id to finish, retrying through outages.
func (l *loader) wait(ctx context.Context, id string) (*client.InstanceStatus, error) {
	for {
		st, err := l.c.Wait(ctx, id)
		switch {
		case err == nil:
			return st, nil
		case ctx.Err() != nil:
			return nil, fmt.Errorf("wait %s: %w", id, ctx.Err())
		case !transient(err):
			return nil, fmt.Errorf("wait %s: %w", id, err)
		}
		if err := pause(ctx); err != nil {
			return nil, fmt.Errorf("wait %s: %w", id, err)
		}
	}
}

// disruption is one kill or restart the test caused.
type disruption struct {
	kind string // "orchestrator", "worker", "nats" or "embedded" (an orchestrator and its NATS server)
	pid  int    // the process killed
	// from is just before the signal was sent, to once the process had
	// exited: the kill happened in between.
	from, to time.Time
}

// cluster is the NATS server, the orchestrator and the workers.
type cluster struct {
	t        *testing.T
	bin      string
	env      []string
	execLog  string
	natsAddr string
	storeDir string
	dataDir  string

	nats    *servicetest.Process
	orch    *servicetest.Process
	workers []*servicetest.Process
	// disruptions is written by the test goroutine only.
	disruptions []disruption
	// embedded: NATS runs inside the orchestrator.
	embedded bool
	// fsync: the orchestrator runs with -fsync.
	fsync bool
	// resent counts the messages orchestrator recoveries sent again
	// because their dispatch was not confirmed (their log's "recovered"
	// lines).
	resent int
}

func newCluster(t *testing.T, bin string, embedded, fsync bool) *cluster {
	dir := t.TempDir()
	c := &cluster{
		t:        t,
		bin:      bin,
		embedded: embedded,
		fsync:    fsync,
		execLog:  filepath.Join(dir, "executions.log"),
		natsAddr: servicetest.FreeAddr(t),
		storeDir: filepath.Join(dir, "nats"),
		dataDir:  filepath.Join(dir, "orchestrator"),
	}
	c.env = []string{"CHAOS_EXEC_LOG=" + c.execLog}
	c.startNATS()
	c.startOrchestrator()
	c.startWorker()
	c.startWorker()
	return c
}

func (c *cluster) natsURL() string { return "nats://" + c.natsAddr }

func (c *cluster) startNATS() {
	if c.embedded {
		return
	}
	c.nats = servicetest.Start(c.t, "nats", c.bin, "nats", "-listen", c.natsAddr, "-store-dir", c.storeDir)
}

func (c *cluster) startOrchestrator() {
	natsArgs := []string{"-nats-url", c.natsURL()}
	if c.embedded {
		natsArgs = []string{"-nats-listen", c.natsAddr}
	}
	args := append([]string{"orchestrator"}, natsArgs...)
	args = append(args, "-data-dir", c.dataDir, "-metrics-addr", "127.0.0.1:0", "-ui-addr", "off",
		"-activities=false", "-lock-timeout", lockTimeout, "-concurrency", "8")
	if c.fsync {
		args = append(args, "-fsync")
	}
	c.orch = servicetest.StartEnv(c.t, "orchestrator", c.bin, c.env, args...)
	if n := recoveredMessages(c.orch.Lines()); n > 0 {
		c.t.Logf("orchestrator %d re-sent %d messages whose dispatch was not confirmed before the kill", c.orch.Pid(), n)
		c.resent += n
	}
}

// recoveredMessages sums the "recovered" lines of an orchestrator's log
// (one at start, or one per shard it took): the messages its recoveries
// sent again.
func recoveredMessages(lines []string) int {
	total := 0
	for _, l := range lines {
		if !strings.Contains(l, "msg=recovered ") {
			continue
		}
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, "messages="); ok {
				n, _ := strconv.Atoi(v)
				total += n
			}
		}
	}
	return total
}

func (c *cluster) startWorker() {
	c.workers = append(c.workers, servicetest.StartEnv(c.t, fmt.Sprintf("worker %d", len(c.workers)+1), c.bin, c.env, "worker",
		"-nats-url", c.natsURL(), "-metrics-addr", "127.0.0.1:0",
		"-lock-timeout", lockTimeout, "-activity-concurrency", "8"))
}

// kill SIGKILLs p and records the disruption.
func (c *cluster) kill(kind string, p *servicetest.Process) {
	d := disruption{kind: kind, pid: p.Pid(), from: time.Now()}
	p.Kill(c.t)
	d.to = time.Now()
	c.disruptions = append(c.disruptions, d)
}

// action is one disruption to cause.
type action struct {
	name string
	do   func(ctx context.Context)
}

// actions returns the plan's kills and restarts in a random order.
func (c *cluster) actions(p plan, rng *rand.Rand) []action {
	var as []action
	for range p.orchestratorKills {
		as = append(as, action{"SIGKILL orchestrator, restart", func(context.Context) {
			kind := "orchestrator"
			if c.embedded {
				kind = "embedded"
			}
			c.kill(kind, c.orch)
			c.startOrchestrator()
		}})
	}
	for range p.natsRestarts {
		as = append(as, action{"SIGKILL NATS server, restart on the same store", func(context.Context) {
			c.kill("nats", c.nats)
			c.startNATS()
		}})
	}
	for range p.workerKills {
		as = append(as, action{"SIGKILL a worker mid-activity, start another", func(ctx context.Context) {
			// The oldest live worker, once it has an activity running. The
			// activity may end between the look and the kill: then the kill
			// did not land mid-activity, and another worker is killed.
			for attempt := 1; ; attempt++ {
				var w *servicetest.Process
				for _, cand := range c.workers {
					if cand.Alive() {
						w = cand
						break
					}
				}
				c.awaitRunning(ctx, w.Pid())
				c.kill("worker", w)
				c.startWorker()
				if c.cutShort(w.Pid()) > 0 {
					return
				}
				if attempt == 5 {
					c.t.Fatalf("%d worker kills in a row landed between activities", attempt)
				}
				c.t.Logf("worker %d was killed between two activities; killing another", w.Pid())
			}
		}})
	}
	rng.Shuffle(len(as), func(i, j int) { as[i], as[j] = as[j], as[i] })
	return as
}

// cutShort counts the activity runs of process pid that began and did
// not end.
func (c *cluster) cutShort(pid int) int {
	open := map[string]int{}
	for _, e := range c.readLog() {
		if e.pid != pid {
			continue
		}
		if e.phase == workload.Begin {
			open[e.key()]++
		} else {
			open[e.key()]--
		}
	}
	n := 0
	for _, o := range open {
		n += max(o, 0)
	}
	return n
}

// pollInterval is how often the execution log is read while waiting.
const pollInterval = 10 * time.Millisecond

// awaitGrowth waits until the execution log has n more lines, that is
// until activities have made progress.
func (c *cluster) awaitGrowth(ctx context.Context, n int) {
	c.t.Helper()
	base := len(c.readLog())
	for len(c.readLog()) < base+n {
		if err := pollWait(ctx); err != nil {
			c.t.Fatalf("the execution log stopped growing at %d lines (waiting for %d): %v", len(c.readLog()), base+n, err)
		}
	}
}

// awaitRunning waits until process pid has begun an activity it has not
// ended.
func (c *cluster) awaitRunning(ctx context.Context, pid int) {
	c.t.Helper()
	for c.cutShort(pid) == 0 {
		if err := pollWait(ctx); err != nil {
			c.t.Fatalf("worker %d never ran an activity: %v", pid, err)
		}
	}
}

func pollWait(ctx context.Context) error {
	t := time.NewTimer(pollInterval)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// execution is one line of the execution log.
type execution struct {
	instance, step string
	pid            int
	phase          string
	at             time.Time
}

func (e execution) key() string { return e.instance + " " + e.step }

// readLog parses the execution log.
func (c *cluster) readLog() []execution {
	c.t.Helper()
	return readExecLog(c.t, c.execLog)
}

// readExecLog parses the execution log at path; a final line still being
// written is ignored.
func readExecLog(t *testing.T, path string) []execution {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	out := make([]execution, 0, len(lines))
	for _, line := range lines[:len(lines)-1] {
		var e execution
		var nanos int64
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			t.Fatalf("malformed execution log line %q", line)
		}
		e.instance, e.step, e.phase = f[0], f[1], f[3]
		if _, err := fmt.Sscan(f[2], &e.pid); err != nil {
			t.Fatalf("execution log line %q: %v", line, err)
		}
		if _, err := fmt.Sscan(f[4], &nanos); err != nil {
			t.Fatalf("execution log line %q: %v", line, err)
		}
		e.at = time.Unix(0, nanos)
		out = append(out, e)
	}
	return out
}

// latencies summarises how long the instances took, start to finish.
func latencies(results map[string]result) string {
	var d []time.Duration
	for _, r := range results {
		d = append(d, r.took)
	}
	if len(d) == 0 {
		return "no instances"
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(f float64) time.Duration { return d[int(f*float64(len(d)-1))].Round(time.Millisecond) }
	return fmt.Sprintf("latency p50 %s, p90 %s, max %s", q(0.5), q(0.9), q(1))
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
