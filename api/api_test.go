package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/reprise/reprise/api"
)

func TestNotifySubjectIsOneSafeToken(t *testing.T) {
	ids := []string{"a", "order-42", "with.dots.and*stars>", "spaces and\ttabs", strings.Repeat("x", 96), strings.Repeat("y", 97), strings.Repeat("z", 256), "ünïcødé"}
	seen := map[string]string{}
	for _, id := range ids {
		s := api.NotifySubject("reprise", id)
		tok, found := strings.CutPrefix(s, "reprise.notify.")
		if !found || tok == "" {
			t.Fatalf("NotifySubject(%q) = %q", id, s)
		}
		if strings.ContainsAny(tok, ". *>\t\r\n") {
			t.Fatalf("token %q of %q is not a single subject token", tok, id)
		}
		if prev, dup := seen[tok]; dup {
			t.Fatalf("ids %q and %q share token %q", prev, id, tok)
		}
		seen[tok] = id
		if api.NotifySubject("reprise", id) != s {
			t.Fatalf("NotifySubject(%q) is not stable", id)
		}
	}
	if a, b := api.NotifyToken(strings.Repeat("y", 97)), api.NotifyToken(strings.Repeat("y", 98)); len(a) != len(b) || a == b {
		t.Fatalf("long ids must get distinct fixed-length hash tokens: %q %q", a, b)
	}
}

func TestValidateInstanceID(t *testing.T) {
	for _, c := range []struct {
		id string
		ok bool
	}{
		{"order-42", true},
		{"with space", true},
		{"ünïcødé", true},
		{strings.Repeat("x", api.MaxInstanceIDLen), true},
		{"", false},
		{strings.Repeat("x", api.MaxInstanceIDLen+1), false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"a\xffb", false},
		{"a\u200bb", false}, // zero-width space: format character, not printable
	} {
		err := api.ValidateInstanceID(c.id)
		if (err == nil) != c.ok {
			t.Errorf("ValidateInstanceID(%q) = %v, want ok=%v", c.id, err, c.ok)
		}
		if err != nil && !api.IsCode(err, api.CodeInvalidInstanceID) {
			t.Errorf("ValidateInstanceID(%q) error %v lacks the code", c.id, err)
		}
	}
}

func TestDecodeReplyTellsErrorRepliesFromStatusObjects(t *testing.T) {
	var st api.InstanceStatus
	err := api.DecodeReply([]byte(`{"id":"x","status":"Failed","error":"boom","partition":0}`), &st)
	if err != nil || st.Error != "boom" || st.Status != api.StatusFailed {
		t.Fatalf("status with an error string: %v %+v", err, st)
	}
	err = api.DecodeReply([]byte(`{"error":{"code":"not_found","message":"no such instance"}}`), &st)
	if !api.IsCode(err, api.CodeNotFound) || !strings.Contains(err.Error(), "no such instance") {
		t.Fatalf("error reply decoded as %v", err)
	}
	if err := api.DecodeReply([]byte(`{`), nil); err == nil || api.IsCode(err, api.CodeNotFound) {
		t.Fatalf("malformed reply: %v", err)
	}
}

func TestErrorReplyShape(t *testing.T) {
	b, err := json.Marshal(api.ErrorReply{Error: api.Errorf(api.CodePayloadTooLarge, "input is %d bytes", 9)})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"error":{"code":"payload_too_large","message":"input is 9 bytes"}}` {
		t.Fatalf("error reply %s", b)
	}
}

func TestWaitTimeoutBounds(t *testing.T) {
	if d := (api.WaitRequest{}).Timeout(); d != api.DefaultWaitTimeout {
		t.Fatalf("default %s", d)
	}
	if d := (api.WaitRequest{TimeoutMS: 1 << 40}).Timeout(); d != api.MaxWaitTimeout {
		t.Fatalf("capped %s", d)
	}
	if d := (api.WaitRequest{TimeoutMS: 1500}).Timeout(); d.Milliseconds() != 1500 {
		t.Fatalf("1500ms became %s", d)
	}
}

func TestSubjects(t *testing.T) {
	if s := api.Subject("acme", api.VerbStart); s != "acme.api.start" {
		t.Fatal(s)
	}
	for _, p := range []string{"", "a.b", "a b", "a*", strings.Repeat("p", 65)} {
		if api.ValidatePrefix(p) == nil {
			t.Fatalf("prefix %q accepted", p)
		}
	}
	if len(api.Verbs()) != 11 {
		t.Fatalf("verbs %v", api.Verbs())
	}
}
