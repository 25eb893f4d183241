package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
)

// runNATS starts an in-process NATS server on a random local port and
// returns a connection to it.
func runNATS(t *testing.T) *nats.Conn {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// handler answers one request of a verb with a reply body.
type handler func(t *testing.T, req []byte) any

// responder is a tiny in-test stand-in for the orchestrator: it answers
// <prefix>.api.<verb> with the handler registered for the verb and records
// the requests.
type responder struct {
	t  *testing.T
	nc *nats.Conn

	mu       sync.Mutex
	handlers map[api.Verb]handler
	requests map[api.Verb][]json.RawMessage
}

func newResponder(t *testing.T, nc *nats.Conn, prefix string) *responder {
	t.Helper()
	r := &responder{t: t, nc: nc, handlers: map[api.Verb]handler{}, requests: map[api.Verb][]json.RawMessage{}}
	sub, err := nc.Subscribe(api.SubjectWildcard(prefix), func(m *nats.Msg) {
		verb := api.Verb(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
		r.mu.Lock()
		h := r.handlers[verb]
		r.requests[verb] = append(r.requests[verb], json.RawMessage(m.Data))
		r.mu.Unlock()
		if h == nil {
			t.Errorf("unexpected request on %s: %s", m.Subject, m.Data)
			return
		}
		rep := h(t, m.Data)
		if rep == nil {
			return // no reply: the client times out
		}
		body, ok := rep.([]byte)
		if !ok {
			var err error
			if body, err = json.Marshal(rep); err != nil {
				t.Errorf("encode reply: %v", err)
				return
			}
		}
		if err := m.Respond(body); err != nil {
			t.Errorf("respond: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return r
}

func (r *responder) on(v api.Verb, h handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[v] = h
}

// reply answers every request with the same body.
func reply(body any) handler { return func(*testing.T, []byte) any { return body } }

func (r *responder) count(v api.Verb) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests[v])
}

func (r *responder) lastRequest(v api.Verb, into any) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs := r.requests[v]
	if len(reqs) == 0 {
		r.t.Fatalf("no %s request", v)
	}
	if err := json.Unmarshal(reqs[len(reqs)-1], into); err != nil {
		r.t.Fatalf("decode %s request: %v", v, err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func setup(t *testing.T, opts ...client.Option) (*client.Client, *responder) {
	nc := runNATS(t)
	c := client.New(nc, opts...)
	return c, newResponder(t, nc, c.Prefix())
}

func errorReply(code api.Code, msg string) []byte {
	b, _ := json.Marshal(api.ErrorReply{Error: &api.Error{Code: code, Message: msg}})
	return b
}

func TestErrorRepliesMapToSentinels(t *testing.T) {
	c, r := setup(t)
	for _, tc := range []struct {
		code api.Code
		want error
	}{
		{api.CodeBadRequest, client.ErrBadRequest},
		{api.CodeUnknownOrchestration, client.ErrUnknownOrchestration},
		{api.CodeInvalidInstanceID, client.ErrInvalidInstanceID},
		{api.CodePayloadTooLarge, client.ErrPayloadTooLarge},
		{api.CodeAlreadyExists, client.ErrAlreadyExists},
		{api.CodeNotFound, client.ErrNotFound},
		{api.CodeNotTerminal, client.ErrNotTerminal},
		{api.CodeTimeout, client.ErrTimeout},
		{api.CodeUnavailable, client.ErrUnavailable},
		{api.CodeInternal, client.ErrInternal},
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			r.on(api.VerbStart, reply(errorReply(tc.code, "what was wrong")))
			_, err := c.Start(ctx(t), "hello", "world")
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || apiErr.Code != tc.code || apiErr.Message != "what was wrong" || apiErr.Verb != "start" {
				t.Fatalf("error %#v, want an *APIError of start with code %s and the message", err, tc.code)
			}
			if !strings.Contains(err.Error(), "what was wrong") {
				t.Fatalf("error %q hides the server's message", err)
			}
		})
	}
	t.Run("unknown code", func(t *testing.T) {
		r.on(api.VerbPurge, reply(errorReply("brand_new", "later server")))
		err := c.Purge(ctx(t), "x")
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != "brand_new" {
			t.Fatalf("error %v, want an *APIError with the code", err)
		}
		for _, s := range []error{client.ErrInternal, client.ErrNotFound, client.ErrBadRequest} {
			if errors.Is(err, s) {
				t.Fatalf("unknown code matches %v", s)
			}
		}
	})
}

func TestMalformedRepliesAreErrors(t *testing.T) {
	c, r := setup(t)
	for _, body := range []string{`not json`, `{"error":{"message":"no code"}}`, `{"error":{"code":5}}`, `[1]`} {
		r.on(api.VerbStatus, reply([]byte(body)))
		if _, err := c.Status(ctx(t), "x"); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("reply %s: error %v, want a malformed-reply error", body, err)
		}
	}
}

func TestNoServerIsUnavailable(t *testing.T) {
	c := client.New(runNATS(t))
	_, err := c.Start(ctx(t), "hello", nil)
	if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "reprise.api.start") {
		t.Fatalf("error %v, want ErrUnavailable naming the subject", err)
	}
}

func TestSilentServerTimesOut(t *testing.T) {
	c, r := setup(t, client.WithRequestTimeout(50*time.Millisecond))
	r.on(api.VerbStatus, func(*testing.T, []byte) any { return nil })
	_, err := c.Status(ctx(t), "x")
	if !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", err)
	}
}

func TestCancelledContextEndsARequest(t *testing.T) {
	c, r := setup(t)
	got := make(chan struct{})
	r.on(api.VerbStatus, func(*testing.T, []byte) any { close(got); return nil })
	cctx, cancel := context.WithCancel(ctx(t))
	go func() { <-got; cancel() }()
	_, err := c.Status(cctx, "x")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestStartSendsTheRequestAndReturnsTheID(t *testing.T) {
	c, r := setup(t, client.WithPrefix("acme"))
	r.on(api.VerbStart, reply(api.StartReply{ID: "order-7"}))
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	id, err := c.Start(ctx(t), "saga", json.RawMessage(`{"item":"book"}`),
		client.WithID("order-7"), client.WithVersion("v2"), client.WithStartAt(at), client.WithReusePolicy(client.ReuseReplaceFinished))
	if err != nil || id != "order-7" {
		t.Fatalf("Start = %q, %v", id, err)
	}
	var req api.StartRequest
	r.lastRequest(api.VerbStart, &req)
	if req.Name != "saga" || req.ID != "order-7" || req.Version != "v2" || !req.StartAt.Equal(at) ||
		req.Reuse != api.ReuseReplaceFinished || string(req.Input) != `{"item":"book"}` {
		t.Fatalf("request %+v", req)
	}

	// Without options: no id, no input; a Go value is encoded as JSON.
	r.on(api.VerbStart, reply(api.StartReply{ID: "generated"}))
	if id, err := c.Start(ctx(t), "hello", "world"); err != nil || id != "generated" {
		t.Fatalf("Start = %q, %v", id, err)
	}
	var raw map[string]json.RawMessage
	r.lastRequest(api.VerbStart, &raw)
	if string(raw["input"]) != `"world"` || raw["id"] != nil || raw["start_at"] != nil {
		t.Fatalf("request %v", raw)
	}
}

func TestStartRejectsInvalidRawInputLocally(t *testing.T) {
	c, _ := setup(t)
	_, err := c.Start(ctx(t), "hello", json.RawMessage(`{oops`))
	if !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("error %v, want ErrBadRequest", err)
	}
}

func TestControlVerbsSendIDAndReason(t *testing.T) {
	c, r := setup(t)
	for _, v := range []api.Verb{api.VerbRaise, api.VerbTerminate, api.VerbSuspend, api.VerbResume, api.VerbPurge} {
		r.on(v, reply(api.Empty{}))
	}
	cx := ctx(t)
	if err := c.RaiseEvent(cx, "i1", "decision", map[string]bool{"approved": true}); err != nil {
		t.Fatal(err)
	}
	var raise api.RaiseRequest
	r.lastRequest(api.VerbRaise, &raise)
	if raise.ID != "i1" || raise.Event != "decision" || string(raise.Payload) != `{"approved":true}` {
		t.Fatalf("raise request %+v", raise)
	}
	for _, tc := range []struct {
		verb api.Verb
		call func(context.Context, string, string, ...client.RequestOption) error
	}{
		{api.VerbTerminate, c.Terminate}, {api.VerbSuspend, c.Suspend}, {api.VerbResume, c.Resume},
	} {
		if err := tc.call(cx, "i2", "because"); err != nil {
			t.Fatalf("%s: %v", tc.verb, err)
		}
		var req api.TerminateRequest
		r.lastRequest(tc.verb, &req)
		if req.ID != "i2" || req.Reason != "because" {
			t.Fatalf("%s request %+v", tc.verb, req)
		}
	}
	if err := c.Purge(cx, "i3"); err != nil {
		t.Fatal(err)
	}
	var purge api.PurgeRequest
	if r.lastRequest(api.VerbPurge, &purge); purge.ID != "i3" {
		t.Fatalf("purge request %+v", purge)
	}
}

func TestStatusDecodesAFailedInstance(t *testing.T) {
	// A status object carries "error" as a string: it is not an error reply.
	c, r := setup(t)
	r.on(api.VerbStatus, reply([]byte(`{"id":"i","name":"saga","version":"","status":"Failed","error":"boom",
		"custom_status":{"step":2},"created_at":"2030-01-02T03:04:05.5Z","updated_at":"2030-01-02T03:04:06Z","partition":3,"expires_at":"2030-01-09T03:04:06Z"}`)))
	st, err := c.Status(ctx(t), "i")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != client.StatusFailed || st.Error != "boom" || st.Partition != 3 || st.CreatedAt.Nanosecond() != 5e8 ||
		!st.ExpiresAt.Equal(st.UpdatedAt.Add(7*24*time.Hour)) {
		t.Fatalf("status %+v", st)
	}
	var custom struct{ Step int }
	if err := st.DecodeCustomStatus(&custom); err != nil || custom.Step != 2 {
		t.Fatalf("custom status %+v, %v", custom, err)
	}
	if _, err := client.Output[string](st); !errors.Is(err, client.ErrNotCompleted) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Output of a failed instance: %v", err)
	}
}

func TestOutputDecodesACompletedInstance(t *testing.T) {
	st := &client.InstanceStatus{ID: "i", Status: client.StatusCompleted, Output: json.RawMessage(`{"sum":385}`)}
	out, err := client.Output[struct{ Sum int }](st)
	if err != nil || out.Sum != 385 {
		t.Fatalf("Output = %+v, %v", out, err)
	}
	if _, err := client.Output[int](st); err == nil {
		t.Fatal("decoding an object into an int succeeded")
	}
}

func TestWaitRepeatsUntilTheInstanceFinishes(t *testing.T) {
	c, r := setup(t, client.WithWaitInterval(time.Second))
	r.on(api.VerbWait, func(t *testing.T, req []byte) any {
		var w api.WaitRequest
		if err := json.Unmarshal(req, &w); err != nil || w.ID != "i" || w.TimeoutMS <= 0 || w.TimeoutMS > 1000 {
			t.Errorf("wait request %s", req)
		}
		if r.count(api.VerbWait) < 3 {
			return errorReply(api.CodeTimeout, "still running")
		}
		return api.InstanceStatus{ID: "i", Status: api.StatusCompleted, Output: json.RawMessage(`"done"`)}
	})
	st, err := c.Wait(ctx(t), "i")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := client.Output[string](st); err != nil || out != "done" || r.count(api.VerbWait) != 3 {
		t.Fatalf("Output = %q, %v after %d calls", out, err, r.count(api.VerbWait))
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	c, r := setup(t)
	waiting := make(chan struct{}, 1)
	r.on(api.VerbWait, func(*testing.T, []byte) any {
		waiting <- struct{}{}
		return nil // hold like a server waiting for the instance
	})
	cctx, cancel := context.WithCancel(ctx(t))
	go func() { <-waiting; cancel() }()
	_, err := c.Wait(cctx, "i")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestWaitReturnsOtherErrors(t *testing.T) {
	c, r := setup(t)
	r.on(api.VerbWait, reply(errorReply(api.CodeInvalidInstanceID, "instance id is too long")))
	if _, err := c.Wait(ctx(t), "x"); !errors.Is(err, client.ErrInvalidInstanceID) {
		t.Fatalf("error %v, want ErrInvalidInstanceID", err)
	}
	// An id the server would refuse is refused without a request, with
	// the same code.
	n := r.count(api.VerbWait)
	if _, err := c.Wait(ctx(t), "a\x00b"); !errors.Is(err, client.ErrInvalidInstanceID) || r.count(api.VerbWait) != n {
		t.Fatalf("error %v after %d requests, want ErrInvalidInstanceID without a request", err, r.count(api.VerbWait)-n)
	}
}

func TestWaitWaitsForAnInstanceNotVisibleYet(t *testing.T) {
	// A start becomes visible after the first turn; the server's first
	// notification wakes the waiting client.
	c, r := setup(t)
	var calls int
	r.on(api.VerbWait, func(t *testing.T, _ []byte) any {
		r.mu.Lock()
		calls++
		n := calls
		r.mu.Unlock()
		switch n {
		case 1, 2:
			if n == 2 {
				// The client subscribed before this second ask.
				note, _ := json.Marshal(api.InstanceStatus{ID: "i", Status: api.StatusRunning})
				if err := r.nc.Publish(api.NotifySubject(c.Prefix(), "i"), note); err != nil {
					t.Errorf("publish: %v", err)
				}
			}
			return errorReply(api.CodeNotFound, "no instance \"i\"")
		}
		return api.InstanceStatus{ID: "i", Status: api.StatusCompleted}
	})
	st, err := c.Wait(ctx(t), "i")
	if err != nil || st.Status != client.StatusCompleted {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	if n := r.count(api.VerbWait); n != 3 {
		t.Fatalf("%d wait requests, want 3", n)
	}
}

func TestWaitReportsProgressFromNotifications(t *testing.T) {
	c, r := setup(t)
	seen := make(chan client.Status, 10)
	r.on(api.VerbStatus, reply(api.InstanceStatus{ID: "i", Status: api.StatusRunning}))
	first := true
	r.on(api.VerbWait, func(t *testing.T, _ []byte) any {
		if !first {
			return api.InstanceStatus{ID: "i", Status: api.StatusCompleted}
		}
		first = false
		note, _ := json.Marshal(api.InstanceStatus{ID: "i", Status: api.StatusSuspended})
		if err := r.nc.Publish(api.NotifySubject(c.Prefix(), "i"), note); err != nil {
			t.Errorf("publish: %v", err)
		}
		// Answer "not yet" only once the client reported the notification.
		for s := range seen {
			if s == client.StatusSuspended {
				break
			}
		}
		return errorReply(api.CodeTimeout, "still running")
	})
	var got []client.Status
	var mu sync.Mutex
	st, err := c.Wait(ctx(t), "i", client.WithProgress(func(s client.InstanceStatus) {
		mu.Lock()
		got = append(got, s.Status)
		mu.Unlock()
		seen <- s.Status
	}))
	if err != nil || st.Status != client.StatusCompleted {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != client.StatusRunning || got[1] != client.StatusSuspended {
		t.Fatalf("progress %v, want [Running Suspended]", got)
	}
}

func TestListAndInstancesPage(t *testing.T) {
	c, r := setup(t)
	pages := map[string]api.ListReply{
		"":   {Instances: []api.InstanceStatus{{ID: "a"}, {ID: "b"}}, NextCursor: "c1"},
		"c1": {Instances: nil, NextCursor: "c2"}, // an empty page that is not the last
		"c2": {Instances: []api.InstanceStatus{{ID: "c"}}},
	}
	r.on(api.VerbList, func(t *testing.T, req []byte) any {
		var q api.ListRequest
		if err := json.Unmarshal(req, &q); err != nil || q.Status != api.StatusRunning || q.Name != "hello" || q.Limit != 2 {
			t.Errorf("list request %s", req)
		}
		return pages[q.Cursor]
	})
	q := client.ListQuery{Status: client.StatusRunning, Name: "hello", Limit: 2}
	page, err := c.List(ctx(t), q)
	if err != nil || len(page.Instances) != 2 || page.NextCursor != "c1" {
		t.Fatalf("List = %+v, %v", page, err)
	}
	var ids []string
	for st, err := range c.Instances(ctx(t), q) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, st.ID)
	}
	if strings.Join(ids, ",") != "a,b,c" {
		t.Fatalf("Instances = %v", ids)
	}
	// Stopping early fetches no further page.
	before := r.count(api.VerbList)
	for range c.Instances(ctx(t), q) {
		break
	}
	if n := r.count(api.VerbList) - before; n != 1 {
		t.Fatalf("an early break fetched %d pages", n)
	}
}

func TestInstancesYieldsAnError(t *testing.T) {
	c, r := setup(t)
	r.on(api.VerbList, reply(errorReply(api.CodeBadRequest, "status \"Nope\" is not a status")))
	n := 0
	for _, err := range c.Instances(ctx(t), client.ListQuery{Status: "Nope"}) {
		n++
		if !errors.Is(err, client.ErrBadRequest) {
			t.Fatalf("error %v, want ErrBadRequest", err)
		}
	}
	if n != 1 {
		t.Fatalf("%d items, want one error", n)
	}
}

func TestHistoryAsksForAPartition(t *testing.T) {
	c, r := setup(t)
	r.on(api.VerbHistory, reply([]byte(`{"partition":1,"events":[{"seq":1,"kind":"ExecutionStarted","name":"hello","timestamp":"2030-01-02T03:04:05Z","data":"world"}]}`)))
	evs, err := c.History(ctx(t), "i")
	if err != nil || len(evs) != 1 || evs[0].Kind != "ExecutionStarted" || string(evs[0].Data) != `"world"` || evs[0].Timestamp.Year() != 2030 {
		t.Fatalf("History = %+v, %v", evs, err)
	}
	var raw map[string]json.RawMessage
	r.lastRequest(api.VerbHistory, &raw)
	if p, ok := raw["partition"]; ok && string(p) != "null" {
		t.Fatalf("current history asked for partition %s", p)
	}
	if _, err := c.PartitionHistory(ctx(t), "i", 0); err != nil {
		t.Fatal(err)
	}
	var req api.HistoryRequest
	if r.lastRequest(api.VerbHistory, &req); req.Partition == nil || *req.Partition != 0 {
		t.Fatalf("history request %+v, want partition 0", req)
	}
}

func TestControlRetriesKeepTheirRequestID(t *testing.T) {
	c, r := setup(t, client.WithRequestTimeout(200*time.Millisecond))
	var mu sync.Mutex
	tries := 0
	// First try: no reply (lost); second: unavailable; third: done.
	r.on(api.VerbRaise, func(*testing.T, []byte) any {
		mu.Lock()
		defer mu.Unlock()
		tries++
		switch tries {
		case 1:
			return nil
		case 2:
			return errorReply(api.CodeUnavailable, "shutting down")
		}
		return api.Empty{}
	})
	if err := c.RaiseEvent(ctx(t), "i1", "e", nil); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	reqs := r.requests[api.VerbRaise]
	r.mu.Unlock()
	if len(reqs) != 3 {
		t.Fatalf("%d tries, want 3", len(reqs))
	}
	ids := map[string]bool{}
	for _, raw := range reqs {
		var req api.RaiseRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Fatal(err)
		}
		if err := api.ValidateRequestID(req.RequestID); err != nil {
			t.Fatalf("generated request id: %v", err)
		}
		ids[req.RequestID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("the tries carried %d request ids, want 1: %v", len(ids), ids)
	}

	// A given request id is sent as is; a bad one is refused locally.
	r.on(api.VerbTerminate, reply(api.Empty{}))
	if err := c.Terminate(ctx(t), "i1", "r", client.WithRequestID("req-42")); err != nil {
		t.Fatal(err)
	}
	var term api.TerminateRequest
	if r.lastRequest(api.VerbTerminate, &term); term.RequestID != "req-42" {
		t.Fatalf("request id %q", term.RequestID)
	}
	n := r.count(api.VerbTerminate)
	if err := c.Terminate(ctx(t), "i1", "r", client.WithRequestID("no spaces")); !errors.Is(err, client.ErrBadRequest) || r.count(api.VerbTerminate) != n {
		t.Fatalf("bad request id: %v", err)
	}
}

func TestUnavailableIsRetriedThenReturned(t *testing.T) {
	c, r := setup(t, client.WithRetries(2))
	r.on(api.VerbStatus, reply(errorReply(api.CodeUnavailable, "shard owner down")))
	if _, err := c.Status(ctx(t), "x"); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("error %v, want ErrUnavailable", err)
	}
	if n := r.count(api.VerbStatus); n != 3 {
		t.Fatalf("%d tries, want 1 + 2 retries", n)
	}
	// A start is retried only when it surely did not start: a lost reply
	// is returned at once.
	c2, r2 := setup(t, client.WithRequestTimeout(100*time.Millisecond))
	r2.on(api.VerbStart, func(*testing.T, []byte) any { return nil })
	if _, err := c2.Start(ctx(t), "hello", nil); !errors.Is(err, client.ErrTimeout) || r2.count(api.VerbStart) != 1 {
		t.Fatalf("start after a lost reply: %v after %d tries", err, r2.count(api.VerbStart))
	}
}

func TestHistoryFollowsPages(t *testing.T) {
	c, r := setup(t)
	r.on(api.VerbHistory, func(t *testing.T, body []byte) any {
		var req api.HistoryRequest
		if err := json.Unmarshal(body, &req); err != nil {
			t.Error(err)
		}
		switch req.FromSeq {
		case 0:
			return api.HistoryReply{Partition: 2, Events: []api.HistoryEvent{{Seq: 1}, {Seq: 2}}, NextSeq: 3}
		case 3:
			if req.Partition == nil || *req.Partition != 2 {
				t.Errorf("second page asked for partition %v, want 2", req.Partition)
			}
			return api.HistoryReply{Partition: 2, Events: []api.HistoryEvent{{Seq: 3}}}
		}
		t.Errorf("unexpected from_seq %d", req.FromSeq)
		return api.HistoryReply{}
	})
	evs, err := c.History(ctx(t), "x")
	if err != nil || len(evs) != 3 || evs[2].Seq != 3 {
		t.Fatalf("History = %+v, %v", evs, err)
	}
}
