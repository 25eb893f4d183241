package servicetest

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ReadyTimeout bounds how long a process may take to log that it is ready
// (an orchestrator recovers its shards first).
const ReadyTimeout = 2 * time.Minute

// Build compiles the main package in dir (a path relative to the test's
// package directory, or absolute) into a temporary directory and returns the
// binary's path. It skips the test when no go command is available.
func Build(t testing.TB, dir, name string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// FreeAddr returns a 127.0.0.1 address whose port was free at the time.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Process is a running service binary whose log (stderr) is collected.
type Process struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	// health is the metrics address from the "ready" log line.
	health string
	mu     sync.Mutex
	log    []string
}

// Start runs bin with args and returns once it logged that it is ready; see
// [StartEnv].
func Start(t testing.TB, name, bin string, args ...string) *Process {
	t.Helper()
	return StartEnv(t, name, bin, nil, args...)
}

// StartEnv runs bin with args and returns once it logged that it is ready
// ("msg=ready"), failing the test if it exits first or takes longer than
// [ReadyTimeout]. REPRISE_* variables of the caller's environment are
// removed, so only args and env configure it, except that the web UI is off
// (REPRISE_UI_ADDR=off) unless args or env turn it on: tests run side by
// side. The process is killed when the test ends, and its last log lines
// are printed if the test failed.
func StartEnv(t testing.TB, name, bin string, env []string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REPRISE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "REPRISE_UI_ADDR=off")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{name: name, cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go p.collect(stderr, ready)
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s (pid %d) log, last lines:\n%s", p.name, p.Pid(), p.tail(40))
		}
	})
	timer := time.NewTimer(ReadyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("%s exited before it was ready:\n%s", name, p.tail(40))
	case <-timer.C:
		t.Fatalf("%s not ready within %s:\n%s", name, ReadyTimeout, p.tail(40))
	}
	return p
}

// collect reads the log until EOF, signals ready at the first "msg=ready"
// line (noting its health= address), and closes exited once the process has
// been waited for.
func (p *Process) collect(r io.Reader, ready chan struct{}) {
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
			for f := range strings.FieldsSeq(line) {
				if h, found := strings.CutPrefix(f, "health="); found {
					p.health = h
				}
			}
			close(ready)
		}
	}
	// A line over the scanner's limit ends the scan: keep draining, so the
	// process never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
	_ = p.cmd.Wait()
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Lines returns a copy of the log so far.
func (p *Process) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

func (p *Process) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log[max(0, len(p.log)-n):], "\n")
}

// Alive reports whether the process has not exited.
func (p *Process) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// CheckReady asks the process's /readyz, which must answer 200.
func (p *Process) CheckReady(t testing.TB) {
	t.Helper()
	resp, err := http.Get("http://" + p.health + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s /readyz: %d %s", p.name, resp.StatusCode, body)
	}
}

// Signal sends sig to the process (SIGSTOP and SIGCONT pause and resume it).
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL (if the process still runs) and waits for it to exit.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.kill()
}

func (p *Process) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Terminate sends SIGTERM and checks that the process drained and exited
// with status 0 within a minute.
func (p *Process) Terminate(t testing.TB) {
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
