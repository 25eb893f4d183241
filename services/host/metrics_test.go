package host_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/examples/hello"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// series is one scraped sample: its family name and labels.
type series struct {
	name   string
	labels map[string]string
}

// samples is a scrape in the Prometheus text format.
type samples []struct {
	series
	value float64
}

// parseText reads the Prometheus text exposition format (no escapes in
// label values are needed by the assertions).
func parseText(t *testing.T, r io.Reader) samples {
	t.Helper()
	var out samples
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		head, val, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("metrics line %q", line)
		}
		v, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		s := series{labels: map[string]string{}}
		name, rest, hasLabels := strings.Cut(head, "{")
		s.name = name
		if hasLabels {
			for pair := range strings.SplitSeq(strings.TrimSuffix(rest, "}"), ",") {
				if k, v, ok := strings.Cut(pair, "="); ok {
					s.labels[k] = strings.Trim(v, `"`)
				}
			}
		}
		out = append(out, struct {
			series
			value float64
		}{s, v})
	}
	return out
}

// get returns the summed value of the samples of name whose labels include
// labels, and whether there was any.
func (ss samples) get(name string, labels ...string) (float64, bool) {
	sum, found := 0.0, false
next:
	for _, s := range ss {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		sum += s.value
		found = true
	}
	return sum, found
}

// want fails unless the samples of name with labels add up to exactly v.
func (ss samples) want(t *testing.T, v float64, name string, labels ...string) {
	t.Helper()
	got, found := ss.get(name, labels...)
	if !found || got != v {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, found, v)
	}
}

// atLeast fails unless the samples of name with labels add up to v or more.
func (ss samples) atLeast(t *testing.T, v float64, name string, labels ...string) {
	t.Helper()
	if got, found := ss.get(name, labels...); !found || got < v {
		t.Errorf("%s%v = %v (present %v), want at least %v", name, labels, got, found, v)
	}
}

func scrape(t *testing.T, addr string) samples {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	return parseText(t, resp.Body)
}

// TestMetricsMove runs hello orchestrations through the API and checks
// that the node's /metrics reports them: starts and finishes, turn,
// end-to-end and activity histograms, provider operations, API requests by
// verb and code, bad requests by reason, and the health gauges.
func TestMetricsMove(t *testing.T) {
	reg := runtime.NewRegistry()
	if err := hello.Register(reg); err != nil {
		t.Fatal(err)
	}
	n, nc := startNode(t, reg, nil)
	idle := scrape(t, n.HealthAddr())
	idle.want(t, 1, "reprise_ready")
	idle.want(t, 1, "reprise_nats_connected")
	idle.want(t, 1, "reprise_pebble_open")
	idle.want(t, 0, "reprise_queue_depth", "queue", runtime.DefaultOrchestratorQueue)
	idle.want(t, 0, "reprise_queue_depth", "queue", runtime.DefaultActivityQueue)
	// Known label values have series at 0 before the first event
	// (metrics.Preset), so rate() sees the first one.
	idle.want(t, 0, "reprise_orchestrations_started_total", "name", hello.Name)
	idle.want(t, 0, "reprise_orchestrations_finished_total", "name", hello.Name, "status", "Failed")
	idle.want(t, 0, "reprise_poison_messages_total", "queue", runtime.DefaultOrchestratorQueue)

	const runs = 6
	for i := range runs {
		ok(t, nc, api.VerbStart, fmt.Sprintf(`{"name":%q,"id":"m-%d","input":"world"}`, hello.Name, i), nil)
	}
	for i := range runs {
		if st := waitTerminal(t, nc, fmt.Sprintf("m-%d", i)); st.Status != api.StatusCompleted {
			t.Fatalf("m-%d: %s %s", i, st.Status, st.Error)
		}
	}
	fails(t, nc, api.VerbStart, `{"name":"nope","id":"m-nope"}`, api.CodeUnknownOrchestration)
	fails(t, nc, api.VerbStatus, `{`, api.CodeBadRequest)
	fails(t, nc, api.VerbStatus, `{"id":"a\u0001"}`, api.CodeInvalidInstanceID)
	failsOn(t, nc, "reprise.api.no-such-verb", `{}`, api.CodeBadRequest)

	// The API counts a request before answering it.
	live := scrape(t, n.HealthAddr())
	live.want(t, runs, "reprise_api_requests_total", "verb", "start", "code", "ok")
	live.want(t, runs, "reprise_api_requests_total", "verb", "wait", "code", "ok")
	live.want(t, 1, "reprise_api_requests_total", "verb", "start", "code", "unknown_orchestration")
	live.want(t, 1, "reprise_api_requests_total", "verb", "status", "code", "bad_request")
	// An unknown subject is one bounded label, never the subject's token.
	live.want(t, 1, "reprise_api_requests_total", "verb", "unknown", "code", "bad_request")
	live.want(t, 2, "reprise_api_bad_requests_total", "reason", "bad_request")
	live.want(t, 1, "reprise_api_bad_requests_total", "reason", "invalid_instance_id")
	live.want(t, 1, "reprise_api_bad_requests_total", "reason", "unknown_orchestration")
	live.atLeast(t, 1, "reprise_provider_operation_duration_seconds_count", "operation", "commit", "result", "ok")
	live.atLeast(t, 1, "reprise_orchestration_turn_duration_seconds_count", "name", hello.Name)
	if _, found := live.get("reprise_orchestration_turn_duration_seconds_bucket", "name", hello.Name, "le", "+Inf"); !found {
		t.Error("the turn histogram has no classic buckets")
	}

	// Once the node has drained, every turn and activity has been
	// observed: the counts are exact. (The handler is the one served on
	// /metrics, whose listener is closed by Stop.)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	n.Metrics().Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	done := parseText(t, rec.Body)
	done.want(t, runs, "reprise_orchestrations_started_total", "name", hello.Name)
	done.want(t, runs, "reprise_orchestrations_finished_total", "name", hello.Name, "status", "Completed")
	done.want(t, runs, "reprise_orchestration_duration_seconds_count", "name", hello.Name)
	// Each hello runs two turns: the start, and the activity's result.
	done.atLeast(t, 2*runs, "reprise_orchestration_turn_duration_seconds_count", "name", hello.Name)
	done.atLeast(t, 2*runs, "reprise_provider_operation_duration_seconds_count", "operation", "commit", "result", "ok")
	done.want(t, runs, "reprise_activity_execution_seconds_count", "name", hello.ActivityGreet, "outcome", "success")
	done.want(t, runs, "reprise_activity_schedule_to_start_seconds_count", "name", hello.ActivityGreet)
	hits, _ := done.get("reprise_orchestration_cache_hits_total")
	misses, _ := done.get("reprise_orchestration_cache_misses_total")
	// A fresh start is neither; every later turn is one or the other.
	if hits+misses < runs {
		t.Errorf("cache hits %v + misses %v, want at least %d turns", hits, misses, runs)
	}
	done.want(t, 0, "reprise_ready")
	done.want(t, 0, "reprise_pebble_open")
}

// TestReadyOnlyAfterRecovery holds the start of a node before its provider
// recovers: /healthz answers, /readyz answers 503 and reprise_ready is 0;
// once recovery is let through, /readyz answers 200.
func TestReadyOnlyAfterRecovery(t *testing.T) {
	cfg := host.Config{
		DataDir:     t.TempDir(),
		NATSListen:  "127.0.0.1:0",
		MetricsAddr: "127.0.0.1:0",
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	held, release := make(chan string), make(chan struct{})
	host.SetBeforeRecovery(&cfg, func(addr string) {
		held <- addr
		<-release
	})
	type result struct {
		n   *host.Node
		err error
	}
	started := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		n, err := host.Start(ctx, host.Orchestrator, cfg, testOrchestrations(t))
		started <- result{n, err}
	}()
	var addr string
	select {
	case addr = <-held:
	case r := <-started:
		t.Fatalf("Start returned %v without recovering", r.err)
	}
	probe := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := probe("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz during recovery: %d", code)
	}
	if code, body := probe("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Errorf("/readyz during recovery: %d %q, want 503", code, body)
	}
	scrape(t, addr).want(t, 0, "reprise_ready")
	close(release)
	r := <-started
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = r.n.Stop(ctx)
	})
	if code, body := probe("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after recovery: %d %q", code, body)
	}
	scrape(t, addr).want(t, 1, "reprise_ready")
}
