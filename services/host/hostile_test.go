package host_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/services/host"
)

// hostileLimit is the -max-payload of the hostile-input suite's node, small
// so that payloads at and past it are cheap.
const hostileLimit = 100

// okCode marks a case whose request must succeed.
const okCode api.Code = "ok"

// hostileCase is one raw request and the exact reply code it must get.
type hostileCase struct {
	group string
	verb  api.Verb
	body  string
	code  api.Code
	// mention is a string the error message must contain.
	mention string
}

func x(n int) string { return strings.Repeat("x", n) }

// hostileCases is the subject-level hostile-input table: every field of
// every verb with wrong types, sizes at and past each limit, encodings,
// time and duration extremes, duplicated and differently-cased members,
// unknown members and malformed or foreign cursors. "done" is an instance
// that has completed, "gone" one that never started.
func hostileCases() []hostileCase {
	var cs []hostileCase
	add := func(group string, verb api.Verb, body string, code api.Code, mention ...string) {
		c := hostileCase{group: group, verb: verb, body: body, code: code}
		if len(mention) > 0 {
			c.mention = mention[0]
		}
		cs = append(cs, c)
	}
	// Bodies that are not one JSON object, for every verb.
	for _, v := range api.Verbs() {
		for _, body := range []string{`[]`, `"x"`, `{"id":"a"} {}`, `{"id":`} {
			add("not an object", v, body, api.CodeBadRequest)
		}
	}

	const g1 = "wrong types"
	add(g1, api.VerbStart, `{"name":5}`, api.CodeBadRequest, "name")
	add(g1, api.VerbStart, `{"name":"echo","id":5}`, api.CodeBadRequest, "id")
	add(g1, api.VerbStart, `{"name":"echo","version":1}`, api.CodeBadRequest, "version")
	add(g1, api.VerbStart, `{"name":"echo","start_at":"tomorrow"}`, api.CodeBadRequest)
	add(g1, api.VerbStart, `{"name":"echo","start_at":1700000000}`, api.CodeBadRequest)
	add(g1, api.VerbStart, `{"name":"echo","reuse":1}`, api.CodeBadRequest, "reuse")
	add(g1, api.VerbStart, `{"name":"echo","reuse":"maybe"}`, api.CodeBadRequest, "maybe")
	add(g1, api.VerbStart, `{"name":null}`, api.CodeBadRequest, "name is required")
	add(g1, api.VerbRaise, `{"id":1,"event":"e"}`, api.CodeBadRequest)
	add(g1, api.VerbRaise, `{"id":"gone","event":true}`, api.CodeBadRequest, "event")
	add(g1, api.VerbRaise, `{"id":"gone","event":{}}`, api.CodeBadRequest)
	add(g1, api.VerbRaise, `{"id":"gone","event":"e","request_id":5}`, api.CodeBadRequest, "request_id")
	add(g1, api.VerbTerminate, `{"id":"gone","reason":1}`, api.CodeBadRequest, "reason")
	add(g1, api.VerbSuspend, `{"id":{},"reason":"r"}`, api.CodeBadRequest)
	add(g1, api.VerbResume, `{"id":"gone","request_id":[]}`, api.CodeBadRequest)
	add(g1, api.VerbStatus, `{"id":1}`, api.CodeBadRequest)
	add(g1, api.VerbPurge, `{"id":["done"]}`, api.CodeBadRequest)
	add(g1, api.VerbWait, `{"id":"done","timeout_ms":"1"}`, api.CodeBadRequest, "timeout_ms")
	add(g1, api.VerbWait, `{"id":"done","timeout_ms":1.5}`, api.CodeBadRequest)
	add(g1, api.VerbWait, `{"id":"done","timeout_ms":1e30}`, api.CodeBadRequest)
	add(g1, api.VerbWait, `{"id":null}`, api.CodeBadRequest, "id is required")
	add(g1, api.VerbList, `{"status":7}`, api.CodeBadRequest)
	add(g1, api.VerbList, `{"status":"scheduled"}`, api.CodeBadRequest, "Scheduled") // values are case-sensitive
	add(g1, api.VerbList, `{"status":"Scheduled"}`, okCode)
	add(g1, api.VerbList, `{"status":"Pending"}`, okCode) // never stored: an empty page
	add(g1, api.VerbList, `{"limit":"1"}`, api.CodeBadRequest)
	add(g1, api.VerbList, `{"limit":1.5}`, api.CodeBadRequest)
	add(g1, api.VerbList, `{"name":5}`, api.CodeBadRequest)
	add(g1, api.VerbList, `{"parent":5}`, api.CodeBadRequest)
	add(g1, api.VerbList, `{"cursor":5}`, api.CodeBadRequest)
	add(g1, api.VerbHistory, `{"id":"done","partition":-1}`, api.CodeBadRequest)
	add(g1, api.VerbHistory, `{"id":"done","partition":"0"}`, api.CodeBadRequest)
	add(g1, api.VerbHistory, `{"id":"done","from_seq":-1}`, api.CodeBadRequest)
	add(g1, api.VerbHistory, `{"id":"done","limit":true}`, api.CodeBadRequest)

	const g2 = "sizes at and past limits"
	id256, id257 := x(256), x(257)
	add(g2, api.VerbStatus, `{"id":"`+id256+`"}`, api.CodeNotFound)
	add(g2, api.VerbStatus, `{"id":"`+id257+`"}`, api.CodeInvalidInstanceID, "257 bytes")
	add(g2, api.VerbStatus, `{"id":"`+strings.Repeat("é", 128)+`"}`, api.CodeNotFound)
	add(g2, api.VerbStatus, `{"id":"`+strings.Repeat("é", 128)+`x"}`, api.CodeInvalidInstanceID)
	add(g2, api.VerbStart, `{"name":"`+x(256)+`"}`, api.CodeUnknownOrchestration)
	add(g2, api.VerbStart, `{"name":"`+x(257)+`"}`, api.CodeBadRequest, "name is 257 bytes")
	add(g2, api.VerbStart, `{"name":"echo","version":"`+x(257)+`"}`, api.CodeBadRequest, "version is 257 bytes")
	add(g2, api.VerbRaise, `{"id":"gone","event":"`+x(256)+`"}`, okCode)
	add(g2, api.VerbRaise, `{"id":"gone","event":"`+x(257)+`"}`, api.CodeBadRequest, "event is 257 bytes")
	add(g2, api.VerbTerminate, `{"id":"gone","reason":"`+x(api.MaxReasonBytes)+`"}`, okCode)
	add(g2, api.VerbTerminate, `{"id":"gone","reason":"`+x(api.MaxReasonBytes+1)+`"}`, api.CodeBadRequest, "reason is 4097 bytes")
	add(g2, api.VerbSuspend, `{"id":"gone","request_id":"`+x(128)+`"}`, okCode)
	add(g2, api.VerbSuspend, `{"id":"gone","request_id":"`+x(129)+`"}`, api.CodeBadRequest, "request_id is 129 bytes")
	add(g2, api.VerbResume, `{"id":"gone","request_id":""}`, okCode) // empty: none
	add(g2, api.VerbStart, `{"name":"echo","id":"h-at","input":"`+x(hostileLimit-2)+`"}`, okCode)
	add(g2, api.VerbStart, `{"name":"echo","id":"h-past","input":"`+x(hostileLimit-1)+`"}`, api.CodePayloadTooLarge, "101 bytes")
	add(g2, api.VerbRaise, `{"id":"gone","event":"e","payload":"`+x(hostileLimit-2)+`"}`, okCode)
	add(g2, api.VerbRaise, `{"id":"gone","event":"e","payload":"`+x(hostileLimit-1)+`"}`, api.CodePayloadTooLarge)
	add(g2, api.VerbList, `{"limit":1000}`, okCode)
	add(g2, api.VerbList, `{"limit":1001}`, okCode) // clamped
	add(g2, api.VerbList, `{"limit":-1}`, api.CodeBadRequest, "limit is -1")
	add(g2, api.VerbList, `{"limit":99999999999999999999}`, api.CodeBadRequest)
	add(g2, api.VerbList, `{"cursor":"`+x(1025)+`"}`, api.CodeBadRequest, "cursor is 1025 bytes")
	add(g2, api.VerbHistory, `{"id":"done","limit":10001}`, okCode) // clamped
	add(g2, api.VerbHistory, `{"id":"done","limit":-1}`, api.CodeBadRequest, "limit is -1")
	add(g2, api.VerbHistory, `{"id":"done","partition":18446744073709551615}`, api.CodeNotFound)
	add(g2, api.VerbHistory, `{"id":"done","from_seq":18446744073709551615}`, okCode) // past the end: empty

	const g3 = "encodings"
	for _, v := range []api.Verb{api.VerbStart, api.VerbRaise, api.VerbStatus, api.VerbWait} {
		add(g3, v, "{\"name\":\"echo\",\"event\":\"e\",\"id\":\"a\xffb\"}", api.CodeBadRequest, "not valid UTF-8")
	}
	add(g3, api.VerbStart, "{\"name\":\"echo\",\"input\":\"\xc3\"}", api.CodeBadRequest, "not valid UTF-8")
	add(g3, api.VerbStatus, `{"id":"a\ud800"}`, api.CodeBadRequest, "surrogate")
	add(g3, api.VerbStatus, `{"id":"a\udc00b"}`, api.CodeBadRequest, "surrogate")
	add(g3, api.VerbStatus, `{"id":"a\ud800\u0041"}`, api.CodeBadRequest, "surrogate")
	add(g3, api.VerbRaise, `{"id":"gone","event":"\ud800"}`, api.CodeBadRequest, "surrogate")
	add(g3, api.VerbStatus, `{"id":"\ud83d\ude00"}`, api.CodeNotFound) // a valid pair: an emoji
	add(g3, api.VerbStatus, `{"id":"\\ud800"}`, api.CodeNotFound)      // an escaped backslash, not an escape
	add(g3, api.VerbStatus, `{"id":"\ufffd"}`, api.CodeNotFound)       // U+FFFD sent as such is a character
	add(g3, api.VerbStatus, `{"id":"a\u0001"}`, api.CodeInvalidInstanceID, "U+0001")
	add(g3, api.VerbStatus, `{"id":"a\u200bb"}`, api.CodeInvalidInstanceID, "U+200B")
	add(g3, api.VerbStatus, `{"id":"a\u2028b"}`, api.CodeInvalidInstanceID)
	add(g3, api.VerbStart, `{"name":"ec\u0000ho"}`, api.CodeBadRequest, "U+0000")
	add(g3, api.VerbStart, `{"name":"echo","version":"v\u00ad2"}`, api.CodeBadRequest, "U+00AD")
	add(g3, api.VerbRaise, `{"id":"gone","event":"e\u001b"}`, api.CodeBadRequest, "U+001B")
	add(g3, api.VerbTerminate, `{"id":"gone","reason":"line 1\nline 2\tend"}`, okCode)
	add(g3, api.VerbTerminate, `{"id":"gone","reason":"bell\u0007"}`, api.CodeBadRequest, "U+0007")
	add(g3, api.VerbResume, `{"id":"gone","request_id":"req 1"}`, api.CodeBadRequest, "request_id")
	add(g3, api.VerbResume, `{"id":"gone","request_id":"réq"}`, api.CodeBadRequest, "request_id")
	add(g3, api.VerbList, `{"name":"a\u0000"}`, api.CodeBadRequest, "name")
	add(g3, api.VerbList, `{"parent":"\u0001"}`, api.CodeBadRequest, "parent")

	const g4 = "time and duration extremes"
	add(g4, api.VerbStart, `{"name":"echo","id":"h-9999","start_at":"9999-12-31T23:59:59Z"}`, api.CodeBadRequest, "start_at")
	add(g4, api.VerbStart, `{"name":"echo","id":"h-2262","start_at":"2262-04-12T00:00:00Z"}`, api.CodeBadRequest, "start_at")
	add(g4, api.VerbStart, `{"name":"echo","id":"h-2200","start_at":"2200-01-01T00:00:00Z"}`, api.CodeBadRequest, "start_at")
	add(g4, api.VerbStart, `{"name":"echo","id":"h-2199","start_at":"2199-12-31T23:59:59Z"}`, okCode)
	add(g4, api.VerbStart, `{"name":"echo","id":"h-1969","start_at":"1969-12-31T23:59:59Z"}`, api.CodeBadRequest, "start_at")
	add(g4, api.VerbStart, `{"name":"echo","id":"h-1970","start_at":"1970-01-01T00:00:00Z"}`, okCode)
	add(g4, api.VerbStart, `{"name":"echo","id":"h-tz","start_at":"2000-01-01T00:00:00+14:00"}`, okCode)
	add(g4, api.VerbStart, `{"name":"echo","id":"h-month","start_at":"2030-13-01T00:00:00Z"}`, api.CodeBadRequest)
	add(g4, api.VerbWait, `{"id":"done","timeout_ms":9223372036854775807}`, okCode)
	add(g4, api.VerbWait, `{"id":"done","timeout_ms":9223372036855}`, okCode)
	add(g4, api.VerbWait, `{"id":"done","timeout_ms":-1}`, api.CodeBadRequest, "timeout_ms is -1")
	add(g4, api.VerbWait, `{"id":"gone","timeout_ms":1}`, api.CodeTimeout)

	const g5 = "duplicated and differently-cased members"
	add(g5, api.VerbStart, `{"name":"echo","name":"twice"}`, api.CodeBadRequest, "twice")
	add(g5, api.VerbStatus, `{"id":"a","id":"b"}`, api.CodeBadRequest, "appears twice")
	add(g5, api.VerbStatus, `{"ID":"done"}`, api.CodeBadRequest, "case-sensitive")
	add(g5, api.VerbRaise, `{"id":"gone","Event":"e"}`, api.CodeBadRequest, `"event"`)
	add(g5, api.VerbWait, `{"id":"done","Timeout_MS":1}`, api.CodeBadRequest, "timeout_ms")
	add(g5, api.VerbTerminate, `{"id":"gone","reason":"a","reason":"b"}`, api.CodeBadRequest, "reason")
	add(g5, api.VerbList, `{"Status":"Running"}`, api.CodeBadRequest, "status")

	const g6 = "unknown members"
	add(g6, api.VerbStatus, `{"id":"done","zzz":{"deep":[1,2]}}`, okCode)
	add(g6, api.VerbStart, `{"name":"echo","id":"h-extra","extra":1}`, okCode)
	add(g6, api.VerbList, `{"unknown_filter":"x"}`, okCode)

	const g7 = "cursors"
	add(g7, api.VerbList, `{"cursor":"garbage"}`, api.CodeBadRequest, "cursor")
	add(g7, api.VerbList, `{"cursor":"99:"}`, api.CodeBadRequest, "cursor")
	add(g7, api.VerbList, `{"cursor":"-1:"}`, api.CodeBadRequest, "cursor")
	add(g7, api.VerbList, `{"cursor":"00:"}`, api.CodeBadRequest, "cursor")
	add(g7, api.VerbList, `{"cursor":"0: x"}`, api.CodeBadRequest, "cursor")
	add(g7, api.VerbList, `{"cursor":"0:9:"}`, api.CodeBadRequest, "cursor") // status index out of range
	// Well-formed cursors are positions: one that no reply made, or one
	// of another query, lists from the position it names.
	add(g7, api.VerbList, `{"cursor":"0:0:AAAAAAAA"}`, okCode)
	add(g7, api.VerbList, `{"cursor":"0:","status":"Completed"}`, okCode)
	add(g7, api.VerbList, `{"cursor":"0:0:","name":"echo"}`, okCode)
	return cs
}

// TestHostileInputs sends every case of hostileCases as a raw NATS request
// and checks the exact reply code; then every case of hostileSubmits as a
// fire-and-forget submission, which must end started or dead-lettered with
// its exact bytes and reason.
func TestHostileInputs(t *testing.T) {
	_, nc := startNode(t, testOrchestrations(t), func(c *host.Config) { c.MaxPayloadBytes = hostileLimit })
	ok(t, nc, api.VerbStart, `{"name":"echo","id":"done","input":1}`, nil)
	waitTerminal(t, nc, "done")

	far := notes(t, nc, "h-2199")
	cases := hostileCases()
	groups := map[string]int{}
	for i, c := range cases {
		groups[c.group]++
		t.Run(fmt.Sprintf("%d %s %s", i, c.group, c.verb), func(t *testing.T) {
			if c.code == okCode {
				reply := request(t, nc, c.verb, c.body)
				if err := api.DecodeReply(reply, nil); err != nil {
					t.Fatalf("%s %.120q: %v, want success", c.verb, c.body, err)
				}
				return
			}
			if c.mention != "" {
				fails(t, nc, c.verb, c.body, c.code, c.mention)
			} else {
				fails(t, nc, c.verb, c.body, c.code)
			}
		})
	}
	t.Logf("hostile requests: %d cases: %v", len(cases), groups)
	if len(cases) < 80 {
		t.Fatalf("only %d cases", len(cases))
	}
	// The scheduled start far ahead was accepted, not run now: it is
	// Scheduled with its time.
	want := time.Date(2199, 12, 31, 23, 59, 59, 0, time.UTC)
	if st := awaitStatus(t, far, api.StatusScheduled); !st.ScheduledAt.Equal(want) {
		t.Fatalf("h-2199: scheduled_at %s, want %s", st.ScheduledAt, want)
	}
	var st api.InstanceStatus
	ok(t, nc, api.VerbStatus, `{"id":"h-2199"}`, &st)
	if st.Status != api.StatusScheduled || !st.ScheduledAt.Equal(want) {
		t.Fatalf("h-2199: %s scheduled at %s, want Scheduled at %s", st.Status, st.ScheduledAt, want)
	}

	t.Run("submits", func(t *testing.T) { hostileSubmits(t, nc) })
}

// hostileSubmit is a fire-and-forget submission and how it must end:
// started as id, or dead-lettered with code.
type hostileSubmit struct {
	body []byte
	id   string
	code api.Code
}

// hostileSubmits publishes hostile submissions: each must end started, or
// dead-lettered with its exact original bytes and the reason's code.
func hostileSubmits(t *testing.T, nc *nats.Conn) {
	subs := []hostileSubmit{
		{body: []byte(`{"name":"echo","id":"hs-ok","input":"` + x(hostileLimit-2) + `","extra":1}`), id: "hs-ok"},
		{body: []byte(`{"name":"echo","id":"hs-late","start_at":"1970-01-01T00:00:00Z"}`), id: "hs-late"},
		{body: []byte("{\"name\":\"echo\",\"id\":\"hs-\xff\"}"), code: api.CodeBadRequest},
		{body: []byte(`{"name":"echo","id":"hs-\ud800"}`), code: api.CodeBadRequest},
		{body: []byte(`{"name":"echo","id":"hs-dup","id":"hs-dup2"}`), code: api.CodeBadRequest},
		{body: []byte(`{"Name":"echo","id":"hs-case"}`), code: api.CodeBadRequest},
		{body: []byte(`{"name":"echo","id":"hs-9999","start_at":"9999-12-31T00:00:00Z"}`), code: api.CodeBadRequest},
		{body: []byte(`{"name":"echo","id":"hs-big","input":"` + x(hostileLimit-1) + `"}`), code: api.CodePayloadTooLarge},
		{body: []byte(`{"name":"` + x(257) + `"}`), code: api.CodeBadRequest},
		{body: []byte(`{"name":"echo","id":"` + x(257) + `"}`), code: api.CodeInvalidInstanceID},
		{body: []byte(`{"name":"echo","id":"hs-\u0000"}`), code: api.CodeInvalidInstanceID},
		{body: []byte(`{"name":"nope","id":"hs-nope"}`), code: api.CodeUnknownOrchestration},
		{body: []byte(`[]`), code: api.CodeBadRequest},
		{body: []byte{}, code: api.CodeBadRequest},
		{body: []byte{0xff, 0xfe, 0x00}, code: api.CodeBadRequest},
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Only the dead letters of this test: start after the stream's end.
	var from uint64
	if s, err := js.Stream(ctx, api.DeadLetterStream(api.DefaultPrefix)); err == nil {
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		from = info.State.LastSeq + 1
	}
	want := 0
	for _, s := range subs {
		if _, err := js.Publish(ctx, api.SubmitSubject(api.DefaultPrefix), s.body); err != nil {
			t.Fatal(err)
		}
		if s.id == "" {
			want++
		}
	}
	for _, s := range subs {
		if s.id != "" {
			if st := waitTerminal(t, nc, s.id); st.Status != api.StatusCompleted {
				t.Fatalf("submission %q ended %s", s.body, st.Status)
			}
		}
	}
	cfg := jetstream.OrderedConsumerConfig{}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	dl, err := js.OrderedConsumer(ctx, api.DeadLetterStream(api.DefaultPrefix), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]api.DeadLetter{}
	for len(got) < want {
		m, err := dl.Next(jetstream.FetchMaxWait(20 * time.Second))
		if err != nil {
			t.Fatalf("dead letters: got %d of %d: %v", len(got), want, err)
		}
		var d api.DeadLetter
		if err := json.Unmarshal(m.Data(), &d); err != nil || d.Reason == nil || d.Reason.Message == "" {
			t.Fatalf("dead letter %s: %v", m.Data(), err)
		}
		original := []byte(d.Original)
		if d.OriginalBase64 != "" {
			if original, err = base64.StdEncoding.DecodeString(d.OriginalBase64); err != nil {
				t.Fatalf("dead letter %s: %v", m.Data(), err)
			}
		}
		got[string(original)] = d
	}
	for _, s := range subs {
		if s.id != "" {
			continue
		}
		d, found := got[string(s.body)]
		if !found {
			t.Fatalf("no dead letter holds the exact bytes %q", s.body)
		}
		if d.Reason.Code != s.code {
			t.Fatalf("dead letter of %q: code %s, want %s (%s)", s.body, d.Reason.Code, s.code, d.Reason.Message)
		}
	}
	t.Logf("hostile submissions: %d cases (%d started, %d dead-lettered)", len(subs), len(subs)-want, want)
}
