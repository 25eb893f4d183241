package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/reprise/reprise/examples"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host/hosttest"
)

// startOrchestrator runs the real orchestrator service in embedded mode
// with the examples registered and returns its NATS URL.
func startOrchestrator(t *testing.T) string {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := examples.RegisterAll(reg); err != nil {
		t.Fatal(err)
	}
	return hosttest.Start(t, reg, hosttest.Shards(2)).NATSURL()
}

func TestCLIAgainstTheOrchestrator(t *testing.T) {
	url := startOrchestrator(t)
	cli := func(args ...string) (int, string, string) {
		e, out, errs := testEnv(map[string]string{envServer: url})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		code := run(ctx, args, e)
		return code, out.String(), errs.String()
	}

	// The acceptance line of issue 5.
	if code, out, errs := cli("start", "hello", "--input", `"world"`, "--wait"); code != exitOK || out != "\"Hello, world!\"\n" || !strings.HasPrefix(errs, "started ") {
		t.Fatalf("start hello --wait: code %d stdout %q stderr %q (want the id on stderr first)", code, out, errs)
	}

	if code, out, errs := cli("start", "approval", "--id", "req-1", "--input", `{"requester":"ann","amount":5,"timeout":"1h"}`); code != exitOK || out != "req-1\n" {
		t.Fatalf("start approval: code %d stdout %q stderr %q", code, out, errs)
	}
	if code, _, errs := cli("raise", "req-1", "decision", "--payload", `{"approved":false,"by":"bob"}`); code != exitOK {
		t.Fatalf("raise: code %d stderr %q", code, errs)
	}
	code, out, errs := cli("wait", "req-1", "--json")
	var st struct {
		Status string
		Output struct{ Outcome string }
	}
	if code != exitOK || json.Unmarshal([]byte(out), &st) != nil || st.Status != "Completed" || st.Output.Outcome != "rejected" {
		t.Fatalf("wait --json: code %d stdout %q stderr %q", code, out, errs)
	}
	if code, out, errs := cli("status", "req-1"); code != exitOK || !strings.Contains(out, "Completed") || !strings.Contains(out, `"outcome":"rejected"`) {
		t.Fatalf("status: code %d stdout %q stderr %q", code, out, errs)
	}
	if code, out, errs := cli("list", "--name", "approval"); code != exitOK || !strings.Contains(out, "req-1") {
		t.Fatalf("list: code %d stdout %q stderr %q", code, out, errs)
	}
	if code, out, errs := cli("history", "req-1"); code != exitOK || !strings.Contains(out, "approval.notify") {
		t.Fatalf("history: code %d stdout %q stderr %q", code, out, errs)
	}
	if code, _, errs := cli("purge", "req-1"); code != exitOK {
		t.Fatalf("purge: code %d stderr %q", code, errs)
	}
	if code, _, errs := cli("status", "req-1"); code != exitFailed || !strings.Contains(errs, "(not_found)") {
		t.Fatalf("status after purge: code %d stderr %q", code, errs)
	}
	if code, _, errs := cli("start", "nope"); code != exitFailed || !strings.Contains(errs, "(unknown_orchestration)") {
		t.Fatalf("start nope: code %d stderr %q", code, errs)
	}
	if code, _, errs := cli("start", "saga", "--input", `{"quantity":0}`, "--wait"); code != exitFailed || !strings.Contains(errs, "quantity must be positive") || !strings.HasPrefix(errs, "started ") {
		t.Fatalf("failing saga: code %d stderr %q", code, errs)
	}
}
