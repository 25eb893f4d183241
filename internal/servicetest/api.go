package servicetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
)

// Parallel runs fn(0..n-1) on workers goroutines and fails the test with
// the first error.
func Parallel(t testing.TB, n, workers int, fn func(i int) error) {
	t.Helper()
	next := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) > 0 {
		t.Fatalf("%d of %d failed; first: %v", len(all), n, all[0])
	}
}

// Call sends a raw JSON request to a verb and decodes the reply into out
// (nil discards it); an error reply is returned as an *api.Error.
func Call(nc *nats.Conn, verb api.Verb, body []byte, out any) error {
	reply, err := nc.Request(api.Subject(api.DefaultPrefix, verb), body, 30*time.Second)
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	return api.DecodeReply(reply.Data, out)
}

// StartFanout starts the example orchestration fanout with n activities as
// instance id.
func StartFanout(nc *nats.Conn, id string, n int) error {
	return Call(nc, api.VerbStart, fmt.Appendf(nil, `{"name":"fanout","id":%q,"input":{"n":%d}}`, id, n), nil)
}

// WaitFanout waits until the fanout instance id finishes and checks it
// completed with the sum of the squares of 1..n and that its history
// records no effect twice.
func WaitFanout(nc *nats.Conn, id string, n int) error {
	for {
		var st api.InstanceStatus
		err := Call(nc, api.VerbWait, fmt.Appendf(nil, `{"id":%q,"timeout_ms":20000}`, id), &st)
		if api.IsCode(err, api.CodeTimeout) {
			continue // not finished yet: wait again
		}
		if err != nil {
			return fmt.Errorf("wait %s: %w", id, err)
		}
		sum := 0
		for i := 1; i <= n; i++ {
			sum += i * i
		}
		if want := fmt.Sprintf(`{"n":%d,"sum":%d}`, n, sum); st.Status != api.StatusCompleted || string(st.Output) != want {
			return fmt.Errorf("%s finished %s with output %s (want %s), error %q", id, st.Status, st.Output, want, st.Error)
		}
		return CheckHistory(nc, id, n)
	}
}

// CheckHistory fails if the history of id records an activity scheduled or
// completed twice, an execution started or finished twice, or not exactly
// activities activities scheduled and completed.
func CheckHistory(nc *nats.Conn, id string, activities int) error {
	var h api.HistoryReply
	if err := Call(nc, api.VerbHistory, fmt.Appendf(nil, `{"id":%q}`, id), &h); err != nil {
		return fmt.Errorf("history of %s: %w", id, err)
	}
	counts := map[string]int{}
	for _, e := range h.Events {
		switch e.Kind {
		case "ActivityScheduled", "ActivityCompleted", "ActivityFailed":
			if e.Decision == nil {
				return fmt.Errorf("%s: %s without a decision", id, e.Kind)
			}
			counts[fmt.Sprintf("%s#%d", e.Kind, *e.Decision)]++
		default:
			counts[e.Kind]++
		}
	}
	for k, n := range counts {
		if n > 1 && k != "TurnStarted" {
			return fmt.Errorf("%s: %s recorded %d times", id, k, n)
		}
	}
	for d := range activities {
		for _, kind := range []string{"ActivityScheduled", "ActivityCompleted"} {
			if n := counts[fmt.Sprintf("%s#%d", kind, d)]; n != 1 {
				return fmt.Errorf("%s: %s for decision %d recorded %d times", id, kind, d, n)
			}
		}
	}
	if counts["ExecutionStarted"] != 1 || counts["ExecutionCompleted"] != 1 {
		return fmt.Errorf("%s: started %d times, completed %d times", id, counts["ExecutionStarted"], counts["ExecutionCompleted"])
	}
	return nil
}

// AwaitCompletions reads status notifications from sub until n of them
// reported Completed.
func AwaitCompletions(t testing.TB, sub *nats.Subscription, n int) {
	t.Helper()
	for done := 0; done < n; {
		m, err := sub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatalf("after %d of %d completions: %v", done, n, err)
		}
		var st api.InstanceStatus
		if json.Unmarshal(m.Data, &st) == nil && st.Status == api.StatusCompleted {
			done++
		}
	}
}

// CountRunning lists the running instances through the API.
func CountRunning(t testing.TB, nc *nats.Conn) int {
	t.Helper()
	n, cursor := 0, ""
	for {
		var page api.ListReply
		if err := Call(nc, api.VerbList, fmt.Appendf(nil, `{"status":"Running","cursor":%q,"limit":1000}`, cursor), &page); err != nil {
			t.Fatal(err)
		}
		n += len(page.Instances)
		if cursor = page.NextCursor; cursor == "" {
			return n
		}
	}
}

// Connect connects to NATS at url, reconnecting forever (the server may be
// embedded in a process the test restarts).
func Connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// SubscribeNotifications subscribes to every status notification.
func SubscribeNotifications(t testing.TB, nc *nats.Conn) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync(api.NotifyWildcard(api.DefaultPrefix))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}
