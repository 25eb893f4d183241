package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/reprise/reprise/api"
)

// The seed corpora of these targets are under testdata/fuzz/<target>.

// requestTypes maps each verb to a new value of its request type.
func requestTypes() map[api.Verb]func() any {
	return map[api.Verb]func() any{
		api.VerbStart:     func() any { return new(api.StartRequest) },
		api.VerbRaise:     func() any { return new(api.RaiseRequest) },
		api.VerbTerminate: func() any { return new(api.TerminateRequest) },
		api.VerbSuspend:   func() any { return new(api.SuspendRequest) },
		api.VerbResume:    func() any { return new(api.ResumeRequest) },
		api.VerbStatus:    func() any { return new(api.StatusRequest) },
		api.VerbWait:      func() any { return new(api.WaitRequest) },
		api.VerbList:      func() any { return new(api.ListRequest) },
		api.VerbHistory:   func() any { return new(api.HistoryRequest) },
		api.VerbPurge:     func() any { return new(api.PurgeRequest) },
		api.VerbCluster:   func() any { return new(api.ClusterRequest) },
	}
}

func TestEveryVerbHasARequestType(t *testing.T) {
	types := requestTypes()
	for _, v := range api.Verbs() {
		if types[v] == nil {
			t.Errorf("verb %s has no request type in the fuzz target", v)
		}
	}
}

// FuzzRequestRoundTrip decodes a body as the request type of a verb, the
// way the server does; whatever decodes must encode to JSON that decodes
// to an equal request (nothing a client sends is silently reshaped).
func FuzzRequestRoundTrip(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"name":"order","id":"o-1","input":{"a":[1,2]},"version":"2","start_at":"2030-01-01T00:00:00Z","reuse":"replace_finished"}`,
		`{"id":"x","event":"e","payload":"p"}`, `{"id":"x","reason":"r"}`, `{"id":"x","timeout_ms":-5}`,
		`{"status":"Running","name":"n","parent":"p","cursor":"3:abc","limit":1000}`, `{"id":"x","partition":18446744073709551615}`,
		`{"id":"\u0000"}`, `{"start_at":"2030-01-01T00:00:00.123456789+05:30"}`, `{"input":null}`, `{"input":  [1, 2 ]}`,
	} {
		for i := range api.Verbs() {
			f.Add(i, []byte(seed))
		}
	}
	types := requestTypes()
	verbs := api.Verbs()
	f.Fuzz(func(t *testing.T, v int, body []byte) {
		verb := verbs[uint(v)%uint(len(verbs))]
		req := types[verb]()
		if json.Unmarshal(body, req) != nil {
			return
		}
		enc, err := json.Marshal(req)
		if err != nil {
			// Only a time outside what RFC 3339 can write fails to encode;
			// the server refuses it before use (start_at is validated).
			if strings.Contains(err.Error(), "Time.MarshalJSON") {
				return
			}
			t.Fatalf("%s: re-encoding %+v: %v", verb, req, err)
		}
		again := types[verb]()
		if err := json.Unmarshal(enc, again); err != nil {
			t.Fatalf("%s: decoding the re-encoding %s: %v", verb, enc, err)
		}
		if a, b := canonicalRequest(req), canonicalRequest(again); !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: round trip changed the request:\n got %+v\nwant %+v", verb, b, a)
		}
	})
}

// canonicalRequest removes what JSON cannot preserve and no handler reads:
// the whitespace inside raw JSON values, a JSON null input (absent), and a
// time's location (only the instant matters).
func canonicalRequest(req any) any {
	compact := func(r json.RawMessage) json.RawMessage {
		if len(r) == 0 || string(r) == "null" {
			return nil
		}
		var buf bytes.Buffer
		if json.Compact(&buf, r) != nil {
			return r
		}
		return buf.Bytes()
	}
	switch r := req.(type) {
	case *api.StartRequest:
		c := *r
		c.Input = compact(c.Input)
		c.StartAt = c.StartAt.UTC()
		return c
	case *api.RaiseRequest:
		c := *r
		c.Payload = compact(c.Payload)
		return c
	}
	return req
}

// FuzzDecodeReply decodes arbitrary bytes as a reply, the way every client
// does: no panic; an error reply is an *api.Error; a failure to decode says
// it is the reply that could not be decoded.
func FuzzDecodeReply(f *testing.F) {
	for _, seed := range []string{
		`{"error":{"code":"not_found","message":"no instance \"x\""}}`, `{"id":"x","status":"Failed","error":"boom"}`,
		`{"error":null}`, `{"error":{}}`, `{"error":{"code":5}}`, `{"id":"x"}`, `[]`, `null`, ``, `{"error": {"code":"timeout"} }`,
		`{"instances":[{"id":"a","status":"Running"}],"next_cursor":""}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st api.InstanceStatus
		err := api.DecodeReply(data, &st)
		if err == nil {
			return
		}
		var ae *api.Error
		if errors.As(err, &ae) {
			if ae == nil {
				t.Fatalf("DecodeReply(%q) returned a nil *api.Error", data)
			}
			return
		}
		if !strings.HasPrefix(err.Error(), "api: decode reply: ") {
			t.Fatalf("DecodeReply(%q) = %v: the error does not say what failed", data, err)
		}
	})
}

// FuzzInstanceID checks instance id validation and the notification token
// derived from ids: a valid id is printable UTF-8 of bounded length, its
// token is one stable NATS subject token, and an invalid id is refused with
// CodeInvalidInstanceID.
func FuzzInstanceID(f *testing.F) {
	for _, seed := range []string{"a", "order-42", "with.dots.and*stars>", "spaces ok", "tab\there", "\x00", "\xff\xfe",
		"ünïcødé", strings.Repeat("x", 96), strings.Repeat("y", 97), strings.Repeat("z", 257), "a\u2028b", "\u00a0"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := api.ValidateInstanceID(id)
		if err != nil {
			if !api.IsCode(err, api.CodeInvalidInstanceID) {
				t.Fatalf("ValidateInstanceID(%q) = %v, want CodeInvalidInstanceID", id, err)
			}
			if id != "" && utf8.ValidString(id) && len(id) <= api.MaxInstanceIDLen && !strings.ContainsFunc(id, notPrintable) {
				t.Fatalf("ValidateInstanceID refused the printable id %q: %v", id, err)
			}
			return
		}
		if id == "" || !utf8.ValidString(id) || len(id) > api.MaxInstanceIDLen || strings.ContainsFunc(id, notPrintable) {
			t.Fatalf("ValidateInstanceID accepted %q", id)
		}
		s := api.NotifySubject(api.DefaultPrefix, id)
		tok, ok := strings.CutPrefix(s, api.DefaultPrefix+".notify.")
		if !ok || tok == "" || strings.ContainsFunc(tok, func(r rune) bool {
			return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) {
			t.Fatalf("NotifySubject(%q) = %q: not one [A-Za-z0-9_-] token", id, s)
		}
		if api.NotifySubject(api.DefaultPrefix, id) != s {
			t.Fatalf("NotifySubject(%q) is not stable", id)
		}
	})
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) }

// TestRequestMemberNamesAreLowerCase: DecodeRequest's fast path relies on
// every request struct's JSON member names (embedded structs included)
// being lower case: a member name with no upper-case letter then matches a
// known name exactly or not at all.
func TestRequestMemberNamesAreLowerCase(t *testing.T) {
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if name != strings.ToLower(name) {
				t.Errorf("%s.%s: JSON member name %q is not lower case", rt.Name(), f.Name, name)
			}
		}
	}
	for verb, mk := range requestTypes() {
		rt := reflect.TypeOf(mk())
		for rt.Kind() == reflect.Pointer {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct {
			t.Errorf("verb %s: request type %s is not a struct", verb, rt)
			continue
		}
		walk(rt)
	}
}
