package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/api"
)

// TestSubjectAPI drives every verb of the subject API with plain nats.go
// requests and raw JSON, the way a client in another language would, and
// checks every malformed input is answered with its documented error while
// valid requests keep working.
func TestSubjectAPI(t *testing.T) {
	_, nc := startNode(t, testOrchestrations(t), nil)

	t.Run("MalformedBodies", func(t *testing.T) {
		for _, verb := range api.Verbs() {
			// (Unknown members are ignored, for compatibility with newer
			// clients, so a list request with a numeric "id" is valid.)
			for _, body := range []string{``, `   `, `{`, `[]`, `null`, `"start"`, `{"id":"a"} trailing`, `{"name":["hello"],"status":7}`} {
				if verb == api.VerbCluster && strings.HasPrefix(body, `{"name"`) {
					continue // no members: both are unknown, so ignored
				}
				fails(t, nc, verb, body, api.CodeBadRequest)
			}
		}
		failsOn(t, nc, "reprise.api.nope", `{}`, api.CodeBadRequest, "unknown verb")
	})

	t.Run("MissingID", func(t *testing.T) {
		for _, verb := range api.Verbs() {
			if verb == api.VerbStart || verb == api.VerbList || verb == api.VerbCluster {
				continue
			}
			fails(t, nc, verb, `{}`, api.CodeBadRequest, "id is required")
		}
	})

	t.Run("InvalidInstanceID", func(t *testing.T) {
		bad := []string{
			quote("a\x01b"),                 // control character
			quote("tab\there"),              // control character
			quote("del\x7f"),                // control character
			quote(strings.Repeat("x", 257)), // too long
		}
		for _, verb := range api.Verbs() {
			if verb == api.VerbList || verb == api.VerbCluster {
				continue
			}
			for _, id := range bad {
				body := `{"id":` + id + `,"name":"echo","event":"e"}`
				fails(t, nc, verb, body, api.CodeInvalidInstanceID)
			}
		}
		// 256 bytes is fine.
		fails(t, nc, api.VerbStatus, `{"id":`+quote(strings.Repeat("x", 256))+`}`, api.CodeNotFound)
	})

	t.Run("Start", func(t *testing.T) {
		var r api.StartReply
		ok(t, nc, api.VerbStart, `{"name":"echo","input":{"a":[1,2]}}`, &r)
		if r.ID == "" {
			t.Fatal("start without an id returned no generated id")
		}
		st := waitTerminal(t, nc, r.ID)
		if st.Status != api.StatusCompleted || string(st.Output) != `{"a":[1,2]}` || st.Name != "echo" {
			t.Fatalf("generated-id instance: %+v", st)
		}

		fails(t, nc, api.VerbStart, `{"input":1}`, api.CodeBadRequest, "name")
		fails(t, nc, api.VerbStart, `{"name":"","id":"x"}`, api.CodeBadRequest, "name")
		fails(t, nc, api.VerbStart, `{"name":"nope","id":"s-unknown"}`, api.CodeUnknownOrchestration, `"nope"`)
		fails(t, nc, api.VerbStart, `{"name":"echo","version":"v9","id":"s-unknown-v"}`, api.CodeUnknownOrchestration, "v9")
		fails(t, nc, api.VerbStart, `{"name":"echo","id":"s-reuse","reuse":"sometimes"}`, api.CodeBadRequest, "sometimes")
		fails(t, nc, api.VerbStart, `{"name":"echo","id":"s-at","start_at":"tomorrow"}`, api.CodeBadRequest)
		big := `"` + strings.Repeat("x", api.DefaultMaxPayloadBytes) + `"`
		fails(t, nc, api.VerbStart, `{"name":"echo","id":"s-big","input":`+big+`}`, api.CodePayloadTooLarge, "input")
		fails(t, nc, api.VerbStatus, `{"id":"s-big"}`, api.CodeNotFound) // nothing was started

		// Two starts of one id sent back to back: the second is refused,
		// though the first has not run yet.
		for i := range 5 {
			id := quote(fmt.Sprintf("s-twice-%d", i))
			ok(t, nc, api.VerbStart, `{"name":"gate","id":`+id+`,"input":"a"}`, nil)
			fails(t, nc, api.VerbStart, `{"name":"gate","id":`+id+`,"input":"b"}`, api.CodeAlreadyExists, "s-twice")
		}

		ok(t, nc, api.VerbStart, `{"name":"echo","id":"s-dup","input":1}`, &r)
		if r.ID != "s-dup" {
			t.Fatalf("start returned id %q, want s-dup", r.ID)
		}
		waitTerminal(t, nc, "s-dup")
		fails(t, nc, api.VerbStart, `{"name":"echo","id":"s-dup","input":2}`, api.CodeAlreadyExists, "s-dup")
		// replace_finished restarts a finished id as a new execution.
		dup := notes(t, nc, "s-dup")
		ok(t, nc, api.VerbStart, `{"name":"echo","id":"s-dup","input":3,"reuse":"replace_finished"}`, nil)
		got := awaitNote(t, dup, "the second execution finished", func(st api.InstanceStatus) bool {
			return st.Partition == 1 && st.Status.IsTerminal()
		})
		if got.Status != api.StatusCompleted || string(got.Output) != "3" {
			t.Fatalf("reused instance: %s, output %s; want Completed, 3", got.Status, got.Output)
		}
		if got := waitTerminal(t, nc, "s-dup"); got.Partition != 1 || string(got.Output) != "3" {
			t.Fatalf("reused instance status: partition %d, output %s; want 1, 3", got.Partition, got.Output)
		}
		// ... but never a running one.
		ok(t, nc, api.VerbStart, `{"name":"gate","id":"s-running","input":"x"}`, nil)
		sub := notes(t, nc, "s-running2")
		ok(t, nc, api.VerbStart, `{"name":"gate","id":"s-running2","input":"x"}`, nil)
		awaitStatus(t, sub, api.StatusRunning)
		fails(t, nc, api.VerbStart, `{"name":"gate","id":"s-running2","reuse":"replace_finished"}`, api.CodeAlreadyExists)

		// A delayed start runs after start_at.
		at := time.Now().Add(300 * time.Millisecond).UTC().Format(time.RFC3339Nano)
		ok(t, nc, api.VerbStart, `{"name":"echo","id":"s-later","input":"late","start_at":"`+at+`"}`, nil)
		st = waitTerminal(t, nc, "s-later")
		if string(st.Output) != `"late"` {
			t.Fatalf("delayed start output %s", st.Output)
		}
		if created, _ := time.Parse(time.RFC3339Nano, at); st.CreatedAt.Before(created) {
			t.Fatalf("delayed start ran at %s, before %s", st.CreatedAt, at)
		}
	})

	t.Run("RaiseStatusHistory", func(t *testing.T) {
		sub := notes(t, nc, "r-1")
		ok(t, nc, api.VerbStart, `{"name":"gate","id":"r-1","input":"in"}`, nil)
		running := awaitStatus(t, sub, api.StatusRunning)
		if running.ID != "r-1" || running.Name != "gate" {
			t.Fatalf("running notification %+v", running)
		}
		var st api.InstanceStatus
		ok(t, nc, api.VerbStatus, `{"id":"r-1"}`, &st)
		if st.Status != api.StatusRunning || st.CreatedAt.IsZero() || st.UpdatedAt.IsZero() {
			t.Fatalf("status %+v", st)
		}
		fails(t, nc, api.VerbWait, `{"id":"r-1","timeout_ms":50}`, api.CodeTimeout, "r-1")
		fails(t, nc, api.VerbWait, `{"id":"r-1","timeout_ms":-1}`, api.CodeBadRequest)

		fails(t, nc, api.VerbRaise, `{"id":"r-1"}`, api.CodeBadRequest, "event")
		big := `"` + strings.Repeat("x", api.DefaultMaxPayloadBytes) + `"`
		fails(t, nc, api.VerbRaise, `{"id":"r-1","event":"go","payload":`+big+`}`, api.CodePayloadTooLarge, "payload")
		ok(t, nc, api.VerbRaise, `{"id":"r-1","event":"go","payload":"ev"}`, nil)
		st = waitTerminal(t, nc, "r-1")
		if st.Status != api.StatusCompleted || string(st.Output) != `"in:ev"` {
			t.Fatalf("after raise: %+v", st)
		}

		var h api.HistoryReply
		ok(t, nc, api.VerbHistory, `{"id":"r-1"}`, &h)
		var kinds []string
		for i, e := range h.Events {
			if e.Seq != uint64(i+1) {
				t.Fatalf("event %d has seq %d", i, e.Seq)
			}
			kinds = append(kinds, e.Kind)
		}
		joined := strings.Join(kinds, ",")
		for _, want := range []string{"ExecutionStarted", "EventRaised", "ExecutionCompleted"} {
			if !strings.Contains(joined, want) {
				t.Fatalf("history %s lacks %s", joined, want)
			}
		}
		for _, e := range h.Events {
			if e.Kind == "EventRaised" && (e.Name != "go" || string(e.Data) != `"ev"`) {
				t.Fatalf("EventRaised %+v", e)
			}
			if e.Timestamp.IsZero() {
				t.Fatalf("event %+v without timestamp", e)
			}
		}
		ok(t, nc, api.VerbHistory, `{"id":"r-1","partition":0}`, &h)
		fails(t, nc, api.VerbHistory, `{"id":"r-1","partition":7}`, api.CodeNotFound, "partition 7")
		fails(t, nc, api.VerbHistory, `{"id":"r-unknown"}`, api.CodeNotFound)
		fails(t, nc, api.VerbStatus, `{"id":"r-unknown"}`, api.CodeNotFound, "r-unknown")
	})

	t.Run("SuspendResumeTerminate", func(t *testing.T) {
		sub := notes(t, nc, "c-1")
		ok(t, nc, api.VerbStart, `{"name":"gate","id":"c-1","input":"in"}`, nil)
		awaitStatus(t, sub, api.StatusRunning)
		ok(t, nc, api.VerbSuspend, `{"id":"c-1","reason":"hold"}`, nil)
		awaitStatus(t, sub, api.StatusSuspended)
		// An event raised while suspended is held, not delivered.
		ok(t, nc, api.VerbRaise, `{"id":"c-1","event":"go","payload":"held"}`, nil)
		fails(t, nc, api.VerbWait, `{"id":"c-1","timeout_ms":200}`, api.CodeTimeout)
		ok(t, nc, api.VerbResume, `{"id":"c-1","reason":"go on"}`, nil)
		st := waitTerminal(t, nc, "c-1")
		if st.Status != api.StatusCompleted || string(st.Output) != `"in:held"` {
			t.Fatalf("after resume: %+v", st)
		}

		ok(t, nc, api.VerbStart, `{"name":"gate","id":"c-2"}`, nil)
		ok(t, nc, api.VerbTerminate, `{"id":"c-2","reason":"enough"}`, nil)
		st = waitTerminal(t, nc, "c-2")
		if st.Status != api.StatusTerminated || !strings.Contains(st.Error, "enough") {
			t.Fatalf("after terminate: %+v", st)
		}
		long := quote(strings.Repeat("r", api.MaxReasonBytes+1))
		for _, verb := range []api.Verb{api.VerbTerminate, api.VerbSuspend, api.VerbResume} {
			fails(t, nc, verb, `{"id":"c-2","reason":`+long+`}`, api.CodeBadRequest, "reason")
		}
	})

	t.Run("ListAndPurge", func(t *testing.T) {
		for i := range 5 {
			ok(t, nc, api.VerbStart, fmt.Sprintf(`{"name":"twice","id":"l-%d","input":%d}`, i, i), nil)
		}
		for i := range 5 {
			st := waitTerminal(t, nc, fmt.Sprintf("l-%d", i))
			if string(st.Output) != fmt.Sprint(4*i) {
				t.Fatalf("twice(%d) = %s", i, st.Output)
			}
		}
		var page api.ListReply
		ok(t, nc, api.VerbList, `{"name":"twice"}`, &page)
		if len(page.Instances) != 5 || page.NextCursor != "" {
			t.Fatalf("list by name: %d instances, cursor %q", len(page.Instances), page.NextCursor)
		}
		// Paging one at a time over name+status sees each exactly once.
		seen := map[string]bool{}
		cursor := ""
		for range 50 {
			ok(t, nc, api.VerbList, `{"name":"twice","status":"Completed","limit":2,"cursor":`+quote(cursor)+`}`, &page)
			for _, st := range page.Instances {
				if seen[st.ID] || st.Status != api.StatusCompleted || st.Name != "twice" {
					t.Fatalf("paging returned %+v (seen %v)", st, seen[st.ID])
				}
				seen[st.ID] = true
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if len(seen) != 5 {
			t.Fatalf("paging saw %d instances, want 5", len(seen))
		}
		// Without filters every instance is listed, across statuses.
		all := map[api.Status]int{}
		cursor = ""
		for range 100 {
			ok(t, nc, api.VerbList, `{"limit":3,"cursor":`+quote(cursor)+`}`, &page)
			for _, st := range page.Instances {
				all[st.Status]++
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if all[api.StatusCompleted] < 5 || all[api.StatusRunning] < 1 {
			t.Fatalf("list without filters: %v", all)
		}
		fails(t, nc, api.VerbList, `{"status":"Sleeping"}`, api.CodeBadRequest, "Sleeping")
		fails(t, nc, api.VerbList, `{"limit":-1}`, api.CodeBadRequest, "limit")
		fails(t, nc, api.VerbList, `{"cursor":"garbage"}`, api.CodeBadRequest, "cursor")

		ok(t, nc, api.VerbStart, `{"name":"gate","id":"p-running"}`, nil)
		sub := notes(t, nc, "p-running")
		ok(t, nc, api.VerbStatus, `{"id":"l-0"}`, nil)
		awaitOrRunning(t, nc, sub, "p-running")
		fails(t, nc, api.VerbPurge, `{"id":"p-running"}`, api.CodeNotTerminal, "p-running")
		ok(t, nc, api.VerbPurge, `{"id":"l-0"}`, nil)
		fails(t, nc, api.VerbStatus, `{"id":"l-0"}`, api.CodeNotFound)
		fails(t, nc, api.VerbPurge, `{"id":"l-0"}`, api.CodeNotFound)
		ok(t, nc, api.VerbList, `{"name":"twice"}`, &page)
		if len(page.Instances) != 4 {
			t.Fatalf("after purge, list by name has %d instances", len(page.Instances))
		}
	})

	t.Run("Submit", func(t *testing.T) {
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A valid submission runs; a plain core publish works too.
		if _, err := js.Publish(ctx, api.SubmitSubject(api.DefaultPrefix), []byte(`{"name":"twice","id":"sub-1","input":5}`)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(api.SubmitSubject(api.DefaultPrefix), []byte(`{"name":"echo","id":"sub-2","input":"plain"}`)); err != nil {
			t.Fatal(err)
		}
		if st := waitTerminal(t, nc, "sub-1"); string(st.Output) != "20" {
			t.Fatalf("submitted twice(5) = %s", st.Output)
		}
		if st := waitTerminal(t, nc, "sub-2"); string(st.Output) != `"plain"` {
			t.Fatalf("submitted echo = %s", st.Output)
		}

		// Invalid submissions are dead-lettered with the reason.
		invalid := []struct {
			body string
			code api.Code
		}{
			{`{"name":`, api.CodeBadRequest},
			{`{"name":"nope","id":"sub-x"}`, api.CodeUnknownOrchestration},
			{`{"name":"echo","id":"a\u0007b"}`, api.CodeInvalidInstanceID},
			{`{"name":"echo","id":"sub-big","input":"` + strings.Repeat("y", api.DefaultMaxPayloadBytes) + `"}`, api.CodePayloadTooLarge},
			{`{"name":"twice","id":"sub-1","input":1}`, api.CodeAlreadyExists},
		}
		for _, c := range invalid {
			if _, err := js.Publish(ctx, api.SubmitSubject(api.DefaultPrefix), []byte(c.body)); err != nil {
				t.Fatal(err)
			}
		}
		dl, err := js.OrderedConsumer(ctx, api.DeadLetterStream(api.DefaultPrefix), jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]api.DeadLetter{}
		for len(got) < len(invalid) {
			m, err := dl.Next(jetstream.FetchMaxWait(20 * time.Second))
			if err != nil {
				t.Fatalf("dead letters: got %d of %d: %v", len(got), len(invalid), err)
			}
			if m.Subject() != api.DeadLetterSubject(api.DefaultPrefix) {
				t.Fatalf("dead letter on %s", m.Subject())
			}
			var d api.DeadLetter
			if err := json.Unmarshal(m.Data(), &d); err != nil || d.Reason == nil || d.Reason.Message == "" {
				t.Fatalf("dead letter %s: %v", m.Data(), err)
			}
			got[d.Original] = d
		}
		for _, c := range invalid {
			d, found := got[c.body]
			if !found {
				t.Fatalf("no dead letter for %.80s", c.body)
			}
			if d.Reason.Code != c.code {
				t.Fatalf("dead letter for %.80s: code %s, want %s (%s)", c.body, d.Reason.Code, c.code, d.Reason.Message)
			}
		}
		// The first sub-1 was not affected by the duplicate.
		if st := waitTerminal(t, nc, "sub-1"); string(st.Output) != "20" || st.Partition != 0 {
			t.Fatalf("sub-1 after a duplicate submission: %+v", st)
		}
	})

	t.Run("StillServing", func(t *testing.T) {
		ok(t, nc, api.VerbStart, `{"name":"twice","id":"after-all","input":1}`, nil)
		if st := waitTerminal(t, nc, "after-all"); string(st.Output) != "4" {
			t.Fatalf("twice(1) = %s", st.Output)
		}
	})
}

// awaitOrRunning returns once id is running: from a notification, or at
// once when its status already says so.
func awaitOrRunning(t *testing.T, nc *nats.Conn, sub *nats.Subscription, id string) {
	t.Helper()
	reply := request(t, nc, api.VerbStatus, `{"id":`+quote(id)+`}`)
	var st api.InstanceStatus
	if json.Unmarshal(reply, &st) == nil && st.Status == api.StatusRunning {
		return
	}
	awaitStatus(t, sub, api.StatusRunning)
}
