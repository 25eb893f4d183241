package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
	"github.com/reprise/reprise/services/host/hosttest"
)

// testOrchestrations registers the orchestrations the API tests drive:
//   - echo returns its input;
//   - gate waits for the event "go" and returns "<input>:<event data>";
//   - twice calls the activity double twice in sequence and returns the sum.
func testOrchestrations(t testing.TB) *runtime.Registry {
	t.Helper()
	reg := runtime.NewRegistry()
	err := errors.Join(
		runtime.RegisterOrchestration(reg, "echo", func(_ *runtime.OrchestrationContext, in json.RawMessage) (json.RawMessage, error) {
			return in, nil
		}),
		runtime.RegisterOrchestration(reg, "gate", func(ctx *runtime.OrchestrationContext, in string) (string, error) {
			var v string
			if err := ctx.WaitForEvent("go").Await(&v); err != nil {
				return "", err
			}
			return in + ":" + v, nil
		}),
		runtime.RegisterOrchestration(reg, "twice", func(ctx *runtime.OrchestrationContext, in int) (int, error) {
			var a, b int
			if err := ctx.CallActivity("double", in).Await(&a); err != nil {
				return 0, err
			}
			if err := ctx.CallActivity("double", a).Await(&b); err != nil {
				return 0, err
			}
			return b, nil
		}),
		runtime.RegisterActivity(reg, "double", func(_ context.Context, x int) (int, error) { return 2 * x, nil }),
	)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// startNode starts an orchestrator in embedded mode on free ports with a
// temporary data directory, and connects a plain NATS client to it.
func startNode(t *testing.T, reg *runtime.Registry, edit func(*host.Config)) (*host.Node, *nats.Conn) {
	t.Helper()
	n := hosttest.Start(t, reg, func(c *host.Config) { c.MetricsAddr = "127.0.0.1:0" }, edit)
	return n.Node, n.NC
}

// request sends a raw body to a verb's subject and returns the raw reply.
func request(t testing.TB, nc *nats.Conn, verb api.Verb, body string) []byte {
	t.Helper()
	return requestSubject(t, nc, api.Subject(api.DefaultPrefix, verb), body)
}

func requestSubject(t testing.TB, nc *nats.Conn, subject, body string) []byte {
	t.Helper()
	m, err := nc.Request(subject, []byte(body), 20*time.Second)
	if err != nil {
		t.Fatalf("request %s %.200s: %v", subject, body, err)
	}
	if !json.Valid(m.Data) {
		t.Fatalf("request %s: reply is not JSON: %q", subject, m.Data)
	}
	return m.Data
}

// ok sends a request that must succeed and decodes the reply into out.
func ok(t testing.TB, nc *nats.Conn, verb api.Verb, body string, out any) {
	t.Helper()
	reply := request(t, nc, verb, body)
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(reply, &probe); err != nil {
		t.Fatalf("%s: reply %s: %v", verb, reply, err)
	}
	// An error reply's "error" is an object; a status object's is a string.
	if e, isErr := probe["error"]; isErr && strings.HasPrefix(string(e), "{") {
		t.Fatalf("%s %.200s: error reply %s", verb, body, e)
	}
	if out != nil {
		if err := json.Unmarshal(reply, out); err != nil {
			t.Fatalf("%s: decode %s: %v", verb, reply, err)
		}
	}
}

// fails sends a request that must be answered with an error of code whose
// message mentions every string in mention.
func fails(t testing.TB, nc *nats.Conn, verb api.Verb, body string, code api.Code, mention ...string) {
	t.Helper()
	failsOn(t, nc, api.Subject(api.DefaultPrefix, verb), body, code, mention...)
}

func failsOn(t testing.TB, nc *nats.Conn, subject, body string, code api.Code, mention ...string) {
	t.Helper()
	reply := requestSubject(t, nc, subject, body)
	// Decode strictly: an error reply is exactly {"error":{"code","message"}}.
	var got struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(string(reply)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil || got.Error == nil {
		t.Fatalf("%s %.200s: want an error reply with code %s, got %s", subject, body, code, reply)
	}
	if got.Error.Code != string(code) {
		t.Fatalf("%s %.200s: code %q, want %q (message %q)", subject, body, got.Error.Code, code, got.Error.Message)
	}
	if got.Error.Message == "" {
		t.Fatalf("%s %.200s: empty error message", subject, body)
	}
	for _, s := range mention {
		if !strings.Contains(got.Error.Message, s) {
			t.Fatalf("%s %.200s: message %q does not mention %q", subject, body, got.Error.Message, s)
		}
	}
}

// waitTerminal waits (through the API) until id is finished.
func waitTerminal(t testing.TB, nc *nats.Conn, id string) api.InstanceStatus {
	t.Helper()
	var st api.InstanceStatus
	ok(t, nc, api.VerbWait, `{"id":`+quote(id)+`,"timeout_ms":15000}`, &st)
	if !st.Status.IsTerminal() {
		t.Fatalf("wait %q returned non-terminal status %s", id, st.Status)
	}
	return st
}

// notes subscribes to the notifications of id.
func notes(t testing.TB, nc *nats.Conn, id string) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync(api.NotifySubject(api.DefaultPrefix, id))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return sub
}

// awaitStatus reads notifications until one reports want.
func awaitStatus(t testing.TB, sub *nats.Subscription, want api.Status) api.InstanceStatus {
	t.Helper()
	return awaitNote(t, sub, "status "+string(want), func(st api.InstanceStatus) bool { return st.Status == want })
}

// awaitNote reads notifications until one satisfies match. (A notification
// published for an earlier commit may still arrive after the subscription.)
func awaitNote(t testing.TB, sub *nats.Subscription, what string, match func(api.InstanceStatus) bool) api.InstanceStatus {
	t.Helper()
	for {
		m, err := sub.NextMsg(20 * time.Second)
		if err != nil {
			t.Fatalf("no notification with %s: %v", what, err)
		}
		var st api.InstanceStatus
		if err := json.Unmarshal(m.Data, &st); err != nil {
			t.Fatalf("notification %q: %v", m.Data, err)
		}
		if match(st) {
			return st
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
