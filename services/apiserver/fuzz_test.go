package apiserver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/internal/jstest"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
)

// newTestServer returns a server (not started: handlers are called
// directly) over the memory provider, knowing the orchestration "echo".
func newTestServer(t testing.TB) *Server {
	t.Helper()
	nc := jstest.Connect(t, jstest.Server(t).ClientURL())
	p, err := memory.New(runtime.Topology())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	reg := runtime.NewRegistry()
	if err := runtime.RegisterOrchestration(reg, "echo", func(_ *runtime.OrchestrationContext, in any) (any, error) { return in, nil }); err != nil {
		t.Fatal(err)
	}
	s, err := New(nc, control.New(p, control.Options{}), Options{
		Orchestrations: reg.HasOrchestration, MaxPayloadBytes: 64,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.cancel)
	return s
}

// FuzzHandle feeds arbitrary bodies to every verb: no input may panic the
// server or be answered with anything but a documented client error.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `{"id":"x"}`, `{"name":"echo","id":"a","input":[1,{"b":null}]}`,
		`{"name":"echo","reuse":"replace_finished","start_at":"2030-01-01T00:00:00Z"}`,
		`{"id":"x","event":"e","payload":"` + string(make([]byte, 70)) + `"}`,
		`{"status":"Running","limit":5,"cursor":"3:abc"}`, `{"cursor":"9:"}`, `{"id":"x","partition":18446744073709551615}`,
		`{"id":"x","timeout_ms":1}`, "{\"id\":\"\\u0000\"}", `{"id":"x","reason":"r"}`,
	} {
		for v := range api.Verbs() {
			f.Add(v, []byte(seed))
		}
	}
	s := newTestServer(f)
	verbs := api.Verbs()
	f.Fuzz(func(t *testing.T, v int, body []byte) {
		if v < 0 {
			v = -v
		}
		verb := verbs[v%len(verbs)]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := s.handle(ctx, verb, body, false)
		if err == nil {
			return
		}
		var ae *api.Error
		if !errors.As(err, &ae) && !errors.Is(err, runtime.ErrInstanceNotFound) && !errors.Is(err, runtime.ErrInstanceExists) {
			t.Fatalf("%s %q: undocumented error %v", verb, body, err)
		}
		switch toAPIError(err).Code {
		case api.CodeInternal, api.CodeUnavailable:
			t.Fatalf("%s %q: %v", verb, body, err)
		}
	})
}

func TestToAPIErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		code api.Code
	}{
		{runtime.ErrInstanceExists, api.CodeAlreadyExists},
		{runtime.ErrInstanceNotFound, api.CodeNotFound},
		{runtime.ErrNotTerminal, api.CodeNotTerminal},
		{runtime.ErrPayloadTooLarge, api.CodePayloadTooLarge},
		{runtime.ErrNotRegistered, api.CodeUnknownOrchestration},
		{context.Canceled, api.CodeUnavailable},
		{errStopping, api.CodeUnavailable},
		{errors.New("disk on fire"), api.CodeInternal},
		{api.Errorf(api.CodeTimeout, "t"), api.CodeTimeout},
	} {
		if got := toAPIError(c.err).Code; got != c.code {
			t.Errorf("toAPIError(%v) = %s, want %s", c.err, got, c.code)
		}
	}
}

// A refused request reaches the client with its kind's code and a message
// that names the kind and the detail, without Go package prefixes; the
// table's reasons are the sentinels' own texts.
func TestRefusalsKeepTheDetail(t *testing.T) {
	for _, r := range refusals() {
		if want := "runtime: " + r.reason; r.kind.Error() != want {
			t.Errorf("refusal reason %q: the sentinel says %q", r.reason, r.kind.Error())
		}
		err := fmt.Errorf("start: %w", &runtime.RequestError{Kind: r.kind, Detail: `"x" is Running`})
		got := toAPIError(err)
		if got.Code != r.code || got.Message != r.reason+`: "x" is Running` {
			t.Errorf("%v: got %s %q", r.kind, got.Code, got.Message)
		}
	}
}

// Every verb of the API has an entry in the verb table, and the table has
// no other.
func TestVerbTableCoversTheAPI(t *testing.T) {
	s := newTestServer(t)
	for _, v := range api.Verbs() {
		if _, ok := s.verbs[v]; !ok {
			t.Errorf("verb %q has no entry in the verb table", v)
		}
	}
	if len(s.verbs) != len(api.Verbs()) {
		t.Errorf("the verb table has %d entries, the API %d verbs", len(s.verbs), len(api.Verbs()))
	}
}
