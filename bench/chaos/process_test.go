package chaos

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildNode compiles internal/chaosnode into a temporary directory.
func buildNode(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the node binary with")
	}
	bin := filepath.Join(t.TempDir(), "chaosnode")
	cmd := exec.Command(goBin, "build", "-o", bin, "./internal/chaosnode")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// readyTimeout bounds how long a process may take to log that it is ready
// (an orchestrator recovers its shards first).
const readyTimeout = 2 * time.Minute

// process is one running chaosnode whose log (stderr) is kept.
type process struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	log    []string
}

// startProcess runs bin with args and env (added to the caller's, minus
// REPRISE_* variables) and returns once it logged "msg=ready". The process
// is killed when the test ends; its last log lines are printed if the test
// failed.
func startProcess(t *testing.T, name, bin string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REPRISE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{name: name, cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go p.collect(stderr, ready)
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s (pid %d) log, last lines:\n%s", p.name, p.pid(), p.tail(30))
		}
	})
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("%s exited before it was ready:\n%s", name, p.tail(40))
	case <-timer.C:
		t.Fatalf("%s not ready within %s:\n%s", name, readyTimeout, p.tail(40))
	}
	return p
}

// collect reads the log until EOF, signals ready at the first "msg=ready"
// line, and closes exited once the process has been waited for.
func (p *process) collect(r io.Reader, ready chan struct{}) {
	defer close(p.exited)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	signalled := false
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.log = append(p.log, line)
		p.mu.Unlock()
		if !signalled && strings.Contains(line, "msg=ready") {
			signalled = true
			close(ready)
		}
	}
	_, _ = io.Copy(io.Discard, r)
	_ = p.cmd.Wait()
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// lines returns a copy of the log so far.
func (p *process) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

// kill sends SIGKILL (if the process still runs) and waits for it to exit.
func (p *process) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// alive reports whether the process has not exited.
func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// terminate sends SIGTERM and fails the test unless the process exits with
// status 0 within a minute.
func (p *process) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", p.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case <-p.exited:
	case <-ctx.Done():
		t.Fatalf("%s did not exit within a minute of SIGTERM", p.name)
	}
	if st := p.cmd.ProcessState; !st.Success() {
		t.Fatalf("%s exited with %v after SIGTERM:\n%s", p.name, st, p.tail(20))
	}
}

func (p *process) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log[max(0, len(p.log)-n):], "\n")
}
