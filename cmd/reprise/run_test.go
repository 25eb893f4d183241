package main

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
)

// fakeServer answers the subject API from a map of instances: enough to
// drive the CLI end to end through a real NATS server.
type fakeServer struct {
	url string

	mu        sync.Mutex
	instances map[string]api.InstanceStatus
}

func startFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	f := &fakeServer{url: s.ClientURL(), instances: map[string]api.InstanceStatus{}}
	if _, err := nc.Subscribe(api.SubjectWildcard(api.DefaultPrefix), func(m *nats.Msg) {
		body, _ := json.Marshal(f.handle(api.Verb(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]), m.Data))
		_ = m.Respond(body)
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

func fail(code api.Code, format string, args ...any) api.ErrorReply {
	return api.ErrorReply{Error: api.Errorf(code, format, args...)}
}

// handle runs "hello" to completion at once; any other name is unknown.
func (f *fakeServer) handle(verb api.Verb, data []byte) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req struct {
		api.StartRequest
		Event string `json:"event"`
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return fail(api.CodeBadRequest, "malformed JSON: %v", err)
	}
	st, ok := f.instances[req.ID]
	switch verb {
	case api.VerbStart:
		if req.Name != "hello" {
			return fail(api.CodeUnknownOrchestration, "orchestration %q is not registered", req.Name)
		}
		var name string
		_ = json.Unmarshal(req.Input, &name)
		out, _ := json.Marshal("Hello, " + name + "!")
		if req.ID == "" {
			req.ID = "generated-1"
		}
		f.instances[req.ID] = api.InstanceStatus{ID: req.ID, Name: "hello", Status: api.StatusCompleted, Output: out,
			CreatedAt: testNow, UpdatedAt: testNow}
		return api.StartReply{ID: req.ID}
	case api.VerbList:
		return api.ListReply{Instances: []api.InstanceStatus{f.instances["a"]}}
	}
	if !ok {
		return fail(api.CodeNotFound, "no instance %q", req.ID)
	}
	switch verb {
	case api.VerbStatus, api.VerbWait:
		return st
	case api.VerbTerminate:
		st.Status, st.Error = api.StatusTerminated, "stopped"
		f.instances[req.ID] = st
	}
	return api.Empty{}
}

func TestRunAgainstAServer(t *testing.T) {
	f := startFakeServer(t)
	for _, tc := range []struct {
		args      []string
		code      int
		out, errs string
	}{
		{[]string{"start", "hello", "--input", `"world"`, "--wait"}, exitOK, "\"Hello, world!\"\n", ""},
		{[]string{"start", "hello", "--input", `"Ann"`, "--id", "a"}, exitOK, "a\n", ""},
		{[]string{"start", "hello", "--json"}, exitOK, "{\n  \"id\": \"generated-1\"\n}\n", ""},
		{[]string{"wait", "a"}, exitOK, "\"Hello, Ann!\"\n", ""},
		{[]string{"status", "a"}, exitOK, "Status:     Completed\n", ""},
		{[]string{"status", "a", "--json"}, exitOK, `"output": "Hello, Ann!"`, ""},
		{[]string{"list"}, exitOK, "a   hello  Completed", ""},
		{[]string{"raise", "a", "go", "--payload", "1"}, exitOK, "raised go on a\n", ""},
		{[]string{"terminate", "a", "--reason", "stop", "--json"}, exitOK, "{}\n", ""},
		{[]string{"wait", "a"}, exitFailed, "", "instance a terminated: stopped\n"},
		{[]string{"status", "nope"}, exitFailed, "", "reprise status: no instance \"nope\" (not_found)\n"},
		{[]string{"start", "bye"}, exitFailed, "", "reprise start: orchestration \"bye\" is not registered (unknown_orchestration)\n"},
	} {
		e, out, errs := testEnv(map[string]string{envServer: f.url})
		code := run(t.Context(), tc.args, e)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || (tc.out == "" && out.Len() > 0) || !strings.Contains(errs.String(), tc.errs) {
			t.Errorf("reprise %s: code %d stdout %q stderr %q; want %d, %q, %q", strings.Join(tc.args, " "), code, out, errs, tc.code, tc.out, tc.errs)
		}
	}
}
