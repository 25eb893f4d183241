package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reprise/reprise/client"
)

func TestWriteStatusIsAnAlignedTable(t *testing.T) {
	var b bytes.Buffer
	st := &client.InstanceStatus{ID: "o-1", Name: "saga", Status: client.StatusFailed, Partition: 2,
		CreatedAt: testNow, UpdatedAt: testNow.Add(1500 * time.Millisecond),
		CustomStatus: json.RawMessage(`{ "step": 2 }`), Error: "Rejected: ship of order o-1 rejected"}
	if err := writeStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	want := `ID:             o-1
Name:           saga
Version:        -
Status:         Failed
Execution:      2
Created:        2030-01-02 03:04:05.000Z
Updated:        2030-01-02 03:04:06.500Z
Custom status:  {"step":2}
Error:          Rejected: ship of order o-1 rejected
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteStatusShowsWhenAScheduledInstanceStarts(t *testing.T) {
	var b bytes.Buffer
	st := &client.InstanceStatus{ID: "later", Name: "saga", Status: client.StatusScheduled,
		CreatedAt: testNow, UpdatedAt: testNow, ScheduledAt: testNow.Add(time.Hour)}
	if err := writeStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	want := `ID:         later
Name:       saga
Version:    -
Status:     Scheduled
Execution:  0
Created:    2030-01-02 03:04:05.000Z
Updated:    2030-01-02 03:04:05.000Z
Starts at:  2030-01-02 04:04:05.000Z
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteListIsATable(t *testing.T) {
	var b bytes.Buffer
	err := writeList(&b, []client.InstanceStatus{
		{ID: "a", Name: "hello", Status: client.StatusCompleted, CreatedAt: testNow, UpdatedAt: testNow},
		{ID: "order-42", Name: "saga", Status: client.StatusRunning, CreatedAt: testNow},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `ID        NAME   STATUS     CREATED                   UPDATED
a         hello  Completed  2030-01-02 03:04:05.000Z  2030-01-02 03:04:05.000Z
order-42  saga   Running    2030-01-02 03:04:05.000Z  -
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if writeList(&b, nil); b.String() != "no instances\n" {
		t.Fatalf("empty list: %q", b.String())
	}
}

func TestWriteHistoryIsATable(t *testing.T) {
	var b bytes.Buffer
	dec := uint64(0)
	err := writeHistory(&b, []client.Event{
		{Seq: 1, Kind: "ExecutionStarted", Name: "hello", Timestamp: testNow, Data: json.RawMessage(`"world"`)},
		{Seq: 2, Kind: "ActivityScheduled", Name: "hello.greet", Timestamp: testNow, Decision: &dec},
		{Seq: 3, Kind: "ActivityFailed", Timestamp: testNow, Decision: &dec, Attempt: 2,
			Failure: &client.Failure{Type: "Rejected", Message: "no"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `SEQ  TIME                      KIND               NAME         DETAILS
1    2030-01-02 03:04:05.000Z  ExecutionStarted   hello        "world"
2    2030-01-02 03:04:05.000Z  ActivityScheduled  hello.greet  decision=0
3    2030-01-02 03:04:05.000Z  ActivityFailed     -            decision=0 attempt=2 error=Rejected: no
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteFinal(t *testing.T) {
	for _, tc := range []struct {
		name      string
		st        client.InstanceStatus
		json      bool
		out, errs string
		failed    bool
	}{
		{"completed", client.InstanceStatus{ID: "i", Status: client.StatusCompleted, Output: json.RawMessage(`"Hello, world!"`)}, false, "\"Hello, world!\"\n", "", false},
		{"completed object", client.InstanceStatus{ID: "i", Status: client.StatusCompleted, Output: json.RawMessage("{\n \"n\": 1\n}")}, false, "{\"n\":1}\n", "", false},
		{"completed without output", client.InstanceStatus{ID: "i", Status: client.StatusCompleted}, false, "null\n", "", false},
		{"failed", client.InstanceStatus{ID: "i", Status: client.StatusFailed, Error: "boom"}, false, "", "instance i failed: boom\n", true},
		{"terminated json", client.InstanceStatus{ID: "i", Status: client.StatusTerminated, Error: "stop"}, true, `"status": "Terminated"`, "", true},
	} {
		var out, errs bytes.Buffer
		err := writeFinal(&out, &errs, &tc.st, tc.json)
		if errors.Is(err, errInstanceFailed) != tc.failed || (err != nil && !tc.failed) {
			t.Errorf("%s: err %v", tc.name, err)
		}
		if !strings.Contains(out.String(), tc.out) || (tc.out == "" && out.Len() > 0) || errs.String() != tc.errs {
			t.Errorf("%s: stdout %q stderr %q; want %q, %q", tc.name, out.String(), errs.String(), tc.out, tc.errs)
		}
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine("order-42", client.StatusRunning, 3456*time.Millisecond)
	if got != "waiting for order-42: Running, 3.4s" {
		t.Fatalf("progress line %q", got)
	}
}

func TestProgressDrawsAndClears(t *testing.T) {
	var mu lockedBuffer
	now := testNow
	p := startProgress(&mu, "i", func() time.Time { return now })
	p.update(client.InstanceStatus{Status: client.StatusSuspended})
	p.stop()
	s := mu.String()
	if !strings.HasPrefix(s, "\r\x1b[Kwaiting for i: Pending, 0s") || !strings.HasSuffix(s, "\r\x1b[K") {
		t.Fatalf("progress output %q", s)
	}
}

// lockedBuffer is a bytes.Buffer safe for the progress goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestWriteCluster(t *testing.T) {
	var b strings.Builder
	info := &client.ClusterInfo{Mode: "leases", Shards: 4, AnsweredBy: "vm-a",
		Members: []client.ClusterMember{{ID: "vm-a", Shards: []int{0, 2}}, {ID: "vm-b", Shards: []int{}}}, UnownedShards: []int{1, 3}}
	if err := writeCluster(&b, info); err != nil {
		t.Fatal(err)
	}
	want := "shards:       4, leases (as vm-a sees them)\nORCHESTRATOR  SHARDS  COUNT\nvm-a          0 2     2\nvm-b          -       0\n(no owner)    1 3     2\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
