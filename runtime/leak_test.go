package runtime

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package if orchestration goroutines outlive the tests:
// every instance must be stopped by its owner.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkNoCoroutines(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkNoCoroutines waits briefly for exiting goroutines, then reports any
// coroutine still alive.
func checkNoCoroutines() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:goruntime.Stack(buf, true)])
		if !strings.Contains(stacks, "coroutineMain") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leaked orchestration goroutines:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
