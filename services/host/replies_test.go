package host_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/services/host"
)

// TestLargeRepliesArePaged: instances carrying ~1 MiB payloads (the default
// limit) make list and history answers larger than a NATS message; they
// are answered in pages, each within the page limit (the connection's max
// payload; 1.5 MiB here, so that a few payloads are enough to exceed it),
// and following the pages returns everything.
func TestLargeRepliesArePaged(t *testing.T) {
	const pageLimit = 3 << 19
	_, nc := startNode(t, testOrchestrations(t), func(c *host.Config) { host.SetMaxReplyBytes(c, pageLimit) })
	big := func(c byte) string { return `"` + strings.Repeat(string(c), api.DefaultMaxPayloadBytes-2) + `"` }
	const n = 3 // 3 outputs of 1 MiB: above the page limit

	for i := range n {
		ok(t, nc, api.VerbStart, fmt.Sprintf(`{"name":"echo","id":"big-%d","input":%s}`, i, big('a'+byte(i))), nil)
	}
	for i := range n {
		waitTerminal(t, nc, fmt.Sprintf("big-%d", i))
	}
	max := pageLimit

	// list: every page fits, and the pages hold every instance once.
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		reply := request(t, nc, api.VerbList, `{"name":"echo","cursor":`+quote(cursor)+`}`)
		if len(reply) > max {
			t.Fatalf("list page of %d bytes, max payload %d", len(reply), max)
		}
		var page api.ListReply
		if err := api.DecodeReply(reply, &page); err != nil {
			t.Fatalf("list page %d: %v", pages, err)
		}
		pages++
		for _, st := range page.Instances {
			if seen[st.ID] {
				t.Fatalf("%s listed twice", st.ID)
			}
			seen[st.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != n || pages < 2 {
		t.Fatalf("list returned %d instances in %d pages, want %d in at least 2", len(seen), pages, n)
	}
	// Without a filter too (the walk over the status indexes).
	var all api.ListReply
	ok(t, nc, api.VerbList, `{}`, &all)
	if len(all.Instances) == 0 || len(all.Instances) >= n || all.NextCursor == "" {
		t.Fatalf("unfiltered list: %d instances, next %q: want a partial first page", len(all.Instances), all.NextCursor)
	}

	// history: three 1 MiB events on one instance.
	ok(t, nc, api.VerbStart, `{"name":"gate","id":"noisy","input":"x"}`, nil)
	for i := range 3 {
		ok(t, nc, api.VerbRaise, fmt.Sprintf(`{"id":"noisy","event":"other","payload":%s}`, big('k'+byte(i))), nil)
	}
	ok(t, nc, api.VerbRaise, `{"id":"noisy","event":"go","payload":"done"}`, nil)
	if st := waitTerminal(t, nc, "noisy"); string(st.Output) != `"x:done"` {
		t.Fatalf("noisy output %s", st.Output)
	}
	var events []api.HistoryEvent
	from, pages := uint64(0), 0
	for {
		reply := request(t, nc, api.VerbHistory, fmt.Sprintf(`{"id":"noisy","from_seq":%d}`, from))
		if len(reply) > max {
			t.Fatalf("history page of %d bytes, max payload %d", len(reply), max)
		}
		var page api.HistoryReply
		if err := api.DecodeReply(reply, &page); err != nil {
			t.Fatalf("history page %d: %v", pages, err)
		}
		pages++
		events = append(events, page.Events...)
		if page.NextSeq == 0 {
			break
		}
		from = page.NextSeq
	}
	others := 0
	for i, e := range events {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: pages overlap or skip", i, e.Seq)
		}
		if e.Kind == "EventRaised" && e.Name == "other" && len(e.Data) == api.DefaultMaxPayloadBytes {
			others++
		}
	}
	if others != 3 || pages < 2 {
		t.Fatalf("history: %d full 1 MiB events in %d pages, want 3 in at least 2", others, pages)
	}
	// A page limit by count.
	var page api.HistoryReply
	ok(t, nc, api.VerbHistory, `{"id":"noisy","limit":2}`, &page)
	if len(page.Events) != 2 || page.NextSeq != 3 {
		t.Fatalf("history with limit 2: %d events, next %d", len(page.Events), page.NextSeq)
	}
}

// TestWaitFloodFromOneClientLeavesOthersServed: a client holding its whole
// share of the wait pool gets unavailable for one more wait, while another
// client's waits are answered.
func TestWaitFloodFromOneClientLeavesOthersServed(t *testing.T) {
	const perClient = 5
	_, nc := startNode(t, testOrchestrations(t), func(c *host.Config) {
		c.MaxWaits, c.MaxWaitsPerClient = 8, perClient
	})
	ok(t, nc, api.VerbStart, `{"name":"echo","id":"finished","input":1}`, nil)
	waitTerminal(t, nc, "finished")

	// The flooding client: waits that nobody answers for a minute, sent
	// on its own inbox so that their replies arrive on one subscription.
	flood, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(flood.Close)
	inbox := flood.NewRespInbox()
	prefix := inbox[:strings.LastIndexByte(inbox, '.')]
	replies, err := flood.SubscribeSync(prefix + ".*")
	if err != nil {
		t.Fatal(err)
	}
	for i := range perClient + 1 {
		body := fmt.Sprintf(`{"id":"never-%d","timeout_ms":60000}`, i)
		if err := flood.PublishRequest(api.Subject(api.DefaultPrefix, api.VerbWait), fmt.Sprintf("%s.%d", prefix, i), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	// The one wait over its share is refused at once.
	m, err := replies.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no answer to the wait over the client's share: %v", err)
	}
	var e api.ErrorReply
	if err := json.Unmarshal(m.Data, &e); err != nil || e.Error == nil || e.Error.Code != api.CodeUnavailable || !strings.Contains(e.Error.Message, "this client") {
		t.Fatalf("the wait over the client's share got %s", m.Data)
	}

	// Another client is served: its waits complete (and a wait on a
	// never-started id times out, as usual, instead of being refused).
	for range 2 {
		var st api.InstanceStatus
		ok(t, nc, api.VerbWait, `{"id":"finished","timeout_ms":1000}`, &st)
		if st.Status != api.StatusCompleted {
			t.Fatalf("wait for a finished instance: %s", st.Status)
		}
	}
	fails(t, nc, api.VerbWait, `{"id":"never","timeout_ms":10}`, api.CodeTimeout)
}
