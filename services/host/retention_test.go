package host_test

import (
	"strings"
	"testing"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/services/host"
)

// TestRetentionOverTheSubjectAPI: a start's "retention" field keeps its
// instance that long after it finishes, then status answers not_found; a
// malformed or out-of-range retention is refused naming the field. The
// server's own -retention (an hour here) keeps the other instance. (A start
// of the expired id is a new instance: runtimetest's
// StartOfAnExpiredIDIsANewInstance, past the duplicate window.)
func TestRetentionOverTheSubjectAPI(t *testing.T) {
	_, nc := startNode(t, testOrchestrations(t), func(c *host.Config) { c.Retention = time.Hour })

	fails(t, nc, api.VerbStart, `{"name":"echo","retention":"soon"}`, api.CodeBadRequest, "retention", "not a duration")
	fails(t, nc, api.VerbStart, `{"name":"echo","retention":"10ms"}`, api.CodeBadRequest, "retention", "out of range")
	fails(t, nc, api.VerbStart, `{"name":"echo","retention":"900000h"}`, api.CodeBadRequest, "retention", "out of range")

	ok(t, nc, api.VerbStart, `{"name":"echo","id":"brief","input":1,"retention":"1s"}`, nil)
	ok(t, nc, api.VerbStart, `{"name":"echo","id":"kept","input":2}`, nil)
	for _, id := range []string{"brief", "kept"} {
		var st struct{ Status string }
		ok(t, nc, api.VerbWait, `{"id":"`+id+`","timeout_ms":30000}`, &st)
		if st.Status != "Completed" {
			t.Fatalf("%s: %s", id, st.Status)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		reply := request(t, nc, api.VerbStatus, `{"id":"brief"}`)
		if strings.Contains(string(reply), `"not_found"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instance started with retention 1s is still there: %s", reply)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The instance under the server's retention is still there.
	var st api.InstanceStatus
	ok(t, nc, api.VerbStatus, `{"id":"kept"}`, &st)
	if st.Status != "Completed" || !st.ExpiresAt.Equal(st.UpdatedAt.Add(time.Hour)) {
		t.Fatalf("kept: %s, expires at %v, finished at %v; want Completed, expiring an hour after it finished", st.Status, st.ExpiresAt, st.UpdatedAt)
	}
}
