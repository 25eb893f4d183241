package host_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// healthz returns /healthz's status code and body.
func healthz(t *testing.T, n *host.Node) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + n.HealthAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// awaitHealthz polls /healthz until it answers want (at most 30 s) and
// returns the body.
func awaitHealthz(t *testing.T, n *host.Node, want int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		code, body := healthz(t, n)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still answers %d %q, want %d", code, body, want)
		}
		<-tick.C
	}
}

// TestHealthzFailsWhileATurnIsWedged: liveness is progress. An
// orchestration whose code blocks (a real wedged turn: the dispatcher
// goroutine never comes back) makes /healthz answer 503 naming the loop
// once it has been stuck longer than -stall-timeout, while the idle loops
// (31 turn loops waiting for work, the provider's loops) stay alive; once
// the code returns, /healthz answers 200 again and the instance completes.
func TestHealthzFailsWhileATurnIsWedged(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	reg := testOrchestrations(t)
	if err := runtime.RegisterOrchestration(reg, "wedge", func(_ *runtime.OrchestrationContext, in string) (string, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release // blocks the turn, as a deadlock in user code would
		return in, nil
	}); err != nil {
		t.Fatal(err)
	}
	const stall = 300 * time.Millisecond
	n, nc := startNode(t, reg, func(c *host.Config) { c.StallTimeout = stall })
	released := false
	t.Cleanup(func() {
		if !released {
			close(release) // let the node drain
		}
	})
	if code, body := healthz(t, n); code != http.StatusOK {
		t.Fatalf("/healthz of an idle node: %d %q", code, body)
	}

	ok(t, nc, api.VerbStart, `{"name":"wedge","id":"stuck","input":"x"}`, nil)
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the wedge orchestration never ran")
	}
	body := awaitHealthz(t, n, http.StatusServiceUnavailable)
	if !strings.Contains(body, "orchestration turns busy for") || !strings.Contains(body, "limit "+stall.String()) {
		t.Fatalf("/healthz body %q does not name the stuck loop and the limit", body)
	}
	t.Logf("/healthz while the turn is wedged: 503 %s", strings.TrimSpace(body))
	// Only the wedged loop is named: the other turn loops and the
	// provider's loops have been idle (or brief) all along.
	if strings.Contains(body, "jetstream") || strings.Count(body, "busy for") != 1 {
		t.Fatalf("/healthz body %q names more than the wedged loop", body)
	}
	// Readiness is another question: the node still serves.
	if resp, err := http.Get("http://" + n.HealthAddr() + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz while a turn is wedged: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	close(release)
	released = true
	awaitHealthz(t, n, http.StatusOK)
	if st := waitTerminal(t, nc, "stuck"); st.Status != api.StatusCompleted {
		t.Fatalf("wedged instance ended %s, want completed", st.Status)
	}
}
