package host

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/internal/servicetest"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
)

// The power-loss test (make power-loss) runs the orchestrator in a child
// process (this test binary again, TestPowerLossChild) with its data
// directory on an ext4 image mounted through a loop device, with the
// kernel's periodic writeback turned off, so that nothing reaches the image
// but what is explicitly flushed. Under load it SIGKILLs the child and at
// once copies the image file: the copy holds exactly what the loop device
// received, and the dirty pages still in the page cache of the mounted
// filesystem are lost, as in a power loss. The engine restarts on the copy
// (mounted on a second loop device, its journal replayed), and everything
// acknowledged before the kill must be there:
//
//   - every instance whose start the client saw acknowledged completes,
//     with its output;
//   - every completion the client observed is still Completed, with the
//     same output;
//   - every activity whose result the worker had acknowledged
//     (CompleteWork returned; the child prints it) does not run again (the
//     activity appends each run to a file outside the image).
//
// Subtest "fsync" runs the engine with -fsync and must hold; subtest
// "default-control" runs the same scenario without it and must lose
// acknowledged work: the negative control that shows the test is as hard
// as the fault.
const (
	// powerLossEnv, set to 1, runs the test (it needs root and changes
	// system-wide writeback settings for its duration).
	powerLossEnv = "REPRISE_POWER_LOSS"
	// The child's configuration.
	plChildEnv = "REPRISE_POWER_LOSS_CHILD" // its data directory
	plAddrEnv  = "REPRISE_POWER_LOSS_ADDR"  // its NATS address
	plRunsEnv  = "REPRISE_POWER_LOSS_RUNS"  // the activity runs file
	plFsyncEnv = "REPRISE_POWER_LOSS_FSYNC" // "1": -fsync

	plOrder = "powerloss.order"
	plStep  = "powerloss.step"
	// plSteps activities per instance, one after the other.
	plSteps = 3
)

type plStepInput struct {
	Instance string `json:"instance"`
	Step     int    `json:"step"`
}

// plResult is the result of step of instance; the child finds it in the
// completion's reply to report the acknowledgement.
func plResult(instance string, step int) string {
	return fmt.Sprintf("res:%s:%d|", instance, step)
}

// plOutput is the output of instance.
func plOutput(instance string) string {
	var b strings.Builder
	for i := range plSteps {
		b.WriteString(plResult(instance, i))
	}
	return b.String()
}

// plRegistry is the child's workload: an order of plSteps activities,
// each of which appends "<instance>\t<step>\t<pid>" to the runs file.
func plRegistry(runs string) (*runtime.Registry, error) {
	reg := runtime.NewRegistry()
	err := errors.Join(
		runtime.RegisterOrchestration(reg, plOrder, func(ctx *runtime.OrchestrationContext, _ int) (string, error) {
			var out string
			for i := range plSteps {
				var r string
				if err := ctx.CallActivity(plStep, plStepInput{Instance: ctx.InstanceID(), Step: i}).Await(&r); err != nil {
					return "", err
				}
				out += r
			}
			return out, nil
		}),
		runtime.RegisterActivity(reg, plStep, func(_ context.Context, in plStepInput) (string, error) {
			f, err := os.OpenFile(runs, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				return "", err
			}
			_, werr := fmt.Fprintf(f, "%s\t%d\t%d\n", in.Instance, in.Step, os.Getpid())
			if err := errors.Join(werr, f.Close()); err != nil {
				return "", err
			}
			return plResult(in.Instance, in.Step), nil
		}),
	)
	return reg, err
}

// ackReporter prints "ACK <instance>:<step>" on stdout once CompleteWork of
// a step's result returned.
type ackReporter struct {
	provider.Provider
}

func (a ackReporter) Unwrap() provider.Provider { return a.Provider }

func (a ackReporter) CompleteWork(ctx context.Context, l provider.WorkLock, replies []provider.Outgoing) error {
	err := a.Provider.CompleteWork(ctx, l, replies)
	if err != nil {
		return err
	}
	for _, r := range replies {
		d := r.Message.Data
		if i := bytes.Index(d, []byte("res:")); i >= 0 {
			if j := bytes.IndexByte(d[i:], '|'); j > 0 {
				fmt.Fprintf(os.Stdout, "ACK %s\n", d[i+4:i+j])
			}
		}
	}
	return nil
}

// TestPowerLossChild is the engine of TestPowerLoss, in its own process.
func TestPowerLossChild(t *testing.T) {
	dir := os.Getenv(plChildEnv)
	if dir == "" {
		t.Skip("the child process of TestPowerLoss")
	}
	reg, err := plRegistry(os.Getenv(plRunsEnv))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		DataDir:     dir,
		NATSListen:  os.Getenv(plAddrEnv),
		MetricsAddr: "off",
		UIAddr:      "off",
		FSync:       os.Getenv(plFsyncEnv) == "1",
		LockTimeout: 2 * time.Second,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		wrapProvider: func(p provider.Provider) provider.Provider {
			return ackReporter{p}
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := Start(ctx, Orchestrator, cfg, reg); err != nil {
		fmt.Fprintf(os.Stderr, "start: %v\n", err)
		os.Exit(3)
	}
	fmt.Fprintln(os.Stdout, "READY")
	select {} // until killed
}

func TestPowerLoss(t *testing.T) {
	if os.Getenv(powerLossEnv) != "1" {
		t.Skip("needs root and loop devices, and turns the kernel's periodic writeback off while it runs: make power-loss (REPRISE_POWER_LOSS=1)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount -o loop, /proc/sys/vm)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no loop devices: %v", err)
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skipf("no mkfs.ext4: %v", err)
	}
	restore := holdWriteback(t)
	defer restore()
	t.Run("fsync", func(t *testing.T) {
		lost := runPowerLoss(t, true)
		for _, l := range lost {
			t.Error(l)
		}
	})
	t.Run("default-control", func(t *testing.T) {
		lost := runPowerLoss(t, false)
		if len(lost) == 0 {
			t.Fatal("the default mode lost nothing acknowledged: the test does not reproduce a power loss")
		}
		t.Logf("the default mode lost %d acknowledged items, as expected without -fsync; the first ones:", len(lost))
		for _, l := range lost[:min(len(lost), 10)] {
			t.Log("  " + l)
		}
	})
}

// holdWriteback turns the kernel's periodic writeback of dirty pages off
// (and their expiry to an hour), so that only explicit flushes reach the
// image, and returns the function restoring the settings.
func holdWriteback(t *testing.T) func() {
	t.Helper()
	settings := map[string]string{
		"/proc/sys/vm/dirty_writeback_centisecs": "0",
		"/proc/sys/vm/dirty_expire_centisecs":    "360000",
	}
	saved := map[string][]byte{}
	for path, v := range settings {
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		saved[path] = old
		if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
			t.Fatalf("set %s: %v", path, err)
		}
	}
	return func() {
		for path, old := range saved {
			if err := os.WriteFile(path, old, 0o644); err != nil {
				t.Errorf("restore %s: %v", path, err)
			}
		}
	}
}

func command(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// mountImage mounts img on a new directory through a loop device and
// unmounts it when the test ends (if still mounted). With first, a mount
// that fails skips the test: the machine has no usable loop device (an
// unprivileged container).
func mountImage(t *testing.T, img, dir string, first bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		if first {
			t.Skipf("no usable loop device: mount -o loop: %v: %s", err, out)
		}
		t.Fatalf("mount -o loop %s: %v: %s", img, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
}

// plChild is a running engine process.
type plChild struct {
	cmd    *exec.Cmd
	ready  chan struct{}
	exited chan struct{}
	mu     sync.Mutex
	acks   map[string]bool
	stderr bytes.Buffer
}

func (c *plChild) ackCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acks)
}

// startChild runs TestPowerLossChild over dataDir and waits until it serves.
func startChild(t *testing.T, dataDir, addr, runs string, fsync bool) (*plChild, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPowerLossChild$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), plChildEnv+"="+dataDir, plAddrEnv+"="+addr, plRunsEnv+"="+runs)
	if fsync {
		cmd.Env = append(cmd.Env, plFsyncEnv+"=1")
	}
	c := &plChild{cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{}), acks: map[string]bool{}}
	cmd.Stderr = &lockedWriter{mu: &c.mu, w: &c.stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "READY":
				once.Do(func() { close(c.ready) })
			case strings.HasPrefix(line, "ACK "):
				c.mu.Lock()
				c.acks[strings.TrimPrefix(line, "ACK ")] = true
				c.mu.Unlock()
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})
	select {
	case <-c.ready:
		return c, nil
	case <-c.exited:
		c.mu.Lock()
		defer c.mu.Unlock()
		return nil, fmt.Errorf("the engine exited before serving:\n%s", tail(c.stderr.String(), 30))
	case <-time.After(2 * time.Minute):
		return nil, errors.New("the engine did not serve within 2 minutes")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// runPowerLoss runs the scenario and returns what acknowledged work was
// lost, one line each.
func runPowerLoss(t *testing.T, fsync bool) []string {
	base := t.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		// The image files in memory: the test's flushes then do not wait
		// for the host's disk.
		d, err := os.MkdirTemp("/dev/shm", "reprise-power-loss-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		base = d
	}
	img, copied := filepath.Join(base, "disk.img"), filepath.Join(base, "after-power-loss.img")
	command(t, "truncate", "-s", "512M", img)
	command(t, "mkfs.ext4", "-q", "-F", img)
	mnt := filepath.Join(base, "mnt")
	mountImage(t, img, mnt, true)
	runs := filepath.Join(t.TempDir(), "runs.log") // outside the image: every real run counts
	addr := servicetest.FreeAddr(t)

	first, err := startChild(t, filepath.Join(mnt, "data"), addr, runs, fsync)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+addr, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cl := client.New(nc, client.WithRequestTimeout(3*time.Second), client.WithWaitInterval(time.Second))

	// The load: inFlight loops start an instance, wait for it, start the
	// next. A start or completion counts once the client saw it.
	const inFlight = 24
	var (
		mu        sync.Mutex
		started   = map[string]bool{}
		completed = map[string]string{}
		next      atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		// progress is poked at every completion (the acknowledgements of
		// its activities came before it).
		progress = make(chan struct{}, 1)
	)
	loadCtx, cancelLoad := context.WithCancel(context.Background())
	for range inFlight {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("pl-%05d", next.Add(1))
				if _, err := cl.Start(loadCtx, plOrder, 0, client.WithID(id)); err != nil {
					select {
					case <-stop:
					case <-time.After(50 * time.Millisecond):
					}
					continue
				}
				mu.Lock()
				started[id] = true
				mu.Unlock()
				st, err := cl.Wait(loadCtx, id)
				if err != nil || st.Status != client.StatusCompleted {
					continue
				}
				var out string
				if err := st.DecodeOutput(&out); err != nil {
					continue
				}
				mu.Lock()
				completed[id] = out
				mu.Unlock()
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	counts := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(started), len(completed)
	}
	tooSlow := time.NewTimer(2 * time.Minute)
	defer tooSlow.Stop()
	for {
		s, c := counts()
		if first.ackCount() >= 400 && c >= 60 && s > c {
			break
		}
		select {
		case <-progress:
		case <-tooSlow.C:
			t.Fatalf("load too slow: %d started, %d completed, %d activity results acknowledged in 2 minutes", s, c, first.ackCount())
		}
	}

	// The power loss: SIGKILL, and the image as the device has it.
	_ = first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.exited
	command(t, "cp", "--sparse=always", img, copied)
	close(stop)
	cancelLoad()
	wg.Wait()
	// Nothing from the killed engine's page cache may reach the copy; the
	// original is unmounted (which writes its dirty pages back to the
	// original image, not to the copy).
	command(t, "umount", mnt)
	s, c := counts()
	first.mu.Lock()
	acked := first.acks
	first.mu.Unlock()
	t.Logf("at the power loss: %d starts acknowledged, %d completions observed, %d activity results acknowledged", s, c, len(acked))

	mnt2 := filepath.Join(base, "mnt2")
	mountImage(t, copied, mnt2, false)
	var lost []string
	second, err := startChild(t, filepath.Join(mnt2, "data"), addr, runs, fsync)
	if err != nil {
		return []string{fmt.Sprintf("the engine does not start after the power loss: %v", err)}
	}
	defer func() {
		_ = second.cmd.Process.Kill()
		<-second.exited
	}()

	// Every acknowledged start must finish. An id the engine does not
	// know is waited for too (a start shows once its first turn ran), so
	// the waits share one deadline; past it, what is left is classified by
	// its status.
	settle := 90 * time.Second
	if !fsync {
		settle = 20 * time.Second // the control: what is lost stays lost
	}
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	for id := range started {
		st, err := cl.Wait(ctx, id)
		if err != nil {
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			st, err = cl.Status(sctx, id)
			scancel()
			if err == nil && !st.Status.IsTerminal() {
				err = fmt.Errorf("still %s after %s", st.Status, settle)
			}
		}
		what := "acknowledged start"
		if _, ok := completed[id]; ok {
			what = "observed completion"
		}
		if err != nil {
			lost = append(lost, fmt.Sprintf("%s %s: %v", what, id, err))
			continue
		}
		var out string
		_ = st.DecodeOutput(&out)
		if st.Status != client.StatusCompleted || out != plOutput(id) {
			lost = append(lost, fmt.Sprintf("%s %s: %s %q, want Completed %q", what, id, st.Status, out, plOutput(id)))
			continue
		}
		if was, ok := completed[id]; ok && was != out {
			lost = append(lost, fmt.Sprintf("observed completion %s: output %q, was %q", id, out, was))
		}
	}
	// An acknowledged activity result must not be lost. Its activity may
	// still run again for the reason it may after any crash of the
	// embedded deployment (package provider/jetstream, "Exactly once"):
	// recovery sends again the tasks of the records above the last
	// dispatch mark, and a restarted embedded server has forgotten the ids
	// of the copies already consumed. Those re-runs are bounded by the
	// messages recovery re-sent; more would mean a lost result.
	second.mu.Lock()
	resent := recoveredMessages(second.stderr.String())
	second.mu.Unlock()
	ranAgain := 0
	runCount := readRuns(t, runs)
	var again []string
	for key := range acked {
		if pids := runCount[key]; len(pids) > 1 {
			ranAgain++
			again = append(again, fmt.Sprintf("%s (pids %v)", key, pids))
		}
	}
	if ranAgain > resent {
		lost = append(lost, fmt.Sprintf("%d acknowledged activity results ran again after the restart, more than the %d messages recovery re-sent: %s",
			ranAgain, resent, strings.Join(again, ", ")))
	}
	t.Logf("recovery re-sent %d messages (records above the last dispatch mark); %d acknowledged activities ran again", resent, ranAgain)
	t.Logf("after the restart: %d of %d acknowledged starts lost (not found, never finishing, or another output), %d of them observed completed before the power loss",
		countPrefix(lost, "acknowledged start")+countPrefix(lost, "observed completion"), len(started), countPrefix(lost, "observed completion"))
	return lost
}

// recoveredMessages sums the messages=N of the "recovered" log lines: the
// messages recovery sent again.
func recoveredMessages(log string) int {
	total := 0
	for l := range strings.SplitSeq(log, "\n") {
		if !strings.Contains(l, "msg=recovered ") {
			continue
		}
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, "messages="); ok {
				var n int
				if _, err := fmt.Sscan(v, &n); err == nil {
					total += n
				}
			}
		}
	}
	return total
}

// readRuns returns the processes that ran each activity, by
// "<instance>:<step>", one entry per run.
func readRuns(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 3 {
			out[f[0]+":"+f[1]] = append(out[f[0]+":"+f[1]], f[2])
		}
	}
	return out
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}
