package host_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/internal/jstest"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// runCounter counts the first executions of the code of "counted" (which
// returns its input) per instance id.
type runCounter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (rc *runCounter) of(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.runs[id]
}

// countedOrchestrations is testOrchestrations plus "counted".
func countedOrchestrations(t *testing.T) (*runtime.Registry, *runCounter) {
	t.Helper()
	reg := testOrchestrations(t)
	rc := &runCounter{runs: map[string]int{}}
	if err := runtime.RegisterOrchestration(reg, "counted", func(ctx *runtime.OrchestrationContext, in string) (string, error) {
		if !ctx.IsReplaying() {
			rc.mu.Lock()
			rc.runs[ctx.InstanceID()]++
			rc.mu.Unlock()
		}
		return in, nil
	}); err != nil {
		t.Fatal(err)
	}
	return reg, rc
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// TestScheduledStartsOverTheSubjectAPI: a start with a start_at ahead is
// Scheduled with its time in status and list (filtered by status or not),
// keeps its id, and is cancelled by terminate or purge: its code never
// runs, even after the start time has passed.
func TestScheduledStartsOverTheSubjectAPI(t *testing.T) {
	reg, rc := countedOrchestrations(t)
	_, nc := startNode(t, reg, nil)
	list := func(filter string) []string {
		t.Helper()
		var ids []string
		cursor := ""
		for {
			body := `{` + filter
			if cursor != "" {
				if filter != "" {
					body += ","
				}
				body += `"cursor":` + quote(cursor)
			}
			var page api.ListReply
			ok(t, nc, api.VerbList, body+`}`, &page)
			for _, st := range page.Instances {
				ids = append(ids, st.ID)
			}
			if page.NextCursor == "" {
				return ids
			}
			cursor = page.NextCursor
		}
	}
	// schedule starts counted as id at at and returns once it is Scheduled.
	schedule := func(id string, at time.Time) api.InstanceStatus {
		t.Helper()
		sub := notes(t, nc, id)
		ok(t, nc, api.VerbStart, `{"name":"counted","id":`+quote(id)+`,"input":"x","start_at":"`+rfc(at)+`"}`, nil)
		return awaitStatus(t, sub, api.StatusScheduled)
	}
	// passTime returns once a witness scheduled at at has run.
	passTime := func(id string, at time.Time) {
		t.Helper()
		ok(t, nc, api.VerbStart, `{"name":"counted","id":`+quote(id)+`,"input":"w","start_at":"`+rfc(at)+`"}`, nil)
		if st := waitTerminal(t, nc, id); st.Status != api.StatusCompleted {
			t.Fatalf("witness %s: %s %s", id, st.Status, st.Error)
		}
	}

	t.Run("Visible", func(t *testing.T) {
		at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		note := schedule("sc-later", at)
		if !note.ScheduledAt.Equal(at) {
			t.Fatalf("notification scheduled_at %s, want %s", note.ScheduledAt, at)
		}
		raw := request(t, nc, api.VerbStatus, `{"id":"sc-later"}`)
		var st api.InstanceStatus
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatal(err)
		}
		if st.Status != api.StatusScheduled || !st.ScheduledAt.Equal(at) || st.Name != "counted" || st.Partition != 0 ||
			!strings.Contains(string(raw), `"scheduled_at":"`+rfc(at)+`"`) {
			t.Fatalf("status %s", raw)
		}
		for _, filter := range []string{``, `"status":"Scheduled"`, `"name":"counted","status":"Scheduled"`} {
			if ids := list(filter); !slices.Contains(ids, "sc-later") {
				t.Errorf("list {%s}: %v, want sc-later in it", filter, ids)
			}
		}
		if ids := list(`"status":"Running"`); slices.Contains(ids, "sc-later") {
			t.Errorf("list by status Running shows a Scheduled instance")
		}
		var h api.HistoryReply
		ok(t, nc, api.VerbHistory, `{"id":"sc-later"}`, &h)
		if len(h.Events) != 0 {
			t.Fatalf("a scheduled instance has events: %+v", h.Events)
		}
		// The id is in use whatever the policy: Scheduled is not finished.
		fails(t, nc, api.VerbStart, `{"name":"counted","id":"sc-later"}`, api.CodeAlreadyExists, "sc-later")
		fails(t, nc, api.VerbStart, `{"name":"counted","id":"sc-later","reuse":"replace_finished"}`, api.CodeAlreadyExists, "Scheduled")
		ok(t, nc, api.VerbStatus, `{"id":"sc-later"}`, &st)
		if st.Status != api.StatusScheduled || rc.of("sc-later") != 0 {
			t.Fatalf("after refused starts: %s, %d runs", st.Status, rc.of("sc-later"))
		}
		// Wait waits. Raise and suspend are accepted and dropped: a
		// terminate sent after them (an instance takes its messages in
		// order) still finds it Scheduled, never run.
		fails(t, nc, api.VerbWait, `{"id":"sc-later","timeout_ms":1}`, api.CodeTimeout)
		ok(t, nc, api.VerbRaise, `{"id":"sc-later","event":"go","payload":1}`, nil)
		ok(t, nc, api.VerbSuspend, `{"id":"sc-later","reason":"hold"}`, nil)
		ok(t, nc, api.VerbTerminate, `{"id":"sc-later","reason":"done looking"}`, nil)
		st = waitTerminal(t, nc, "sc-later")
		if st.Status != api.StatusTerminated || st.Error != "Terminated: terminated before its scheduled start: done looking" || rc.of("sc-later") != 0 {
			t.Fatalf("terminated after a raise and a suspend: %+v, %d runs", st, rc.of("sc-later"))
		}
	})

	t.Run("TerminateBeforeTheStartTime", func(t *testing.T) {
		at := time.Now().Add(2 * time.Second)
		schedule("sc-term", at)
		ok(t, nc, api.VerbTerminate, `{"id":"sc-term","reason":"not needed"}`, nil)
		st := waitTerminal(t, nc, "sc-term")
		if st.Status != api.StatusTerminated || !strings.Contains(st.Error, "not needed") || !st.ScheduledAt.IsZero() {
			t.Fatalf("terminated: %+v", st)
		}
		passTime("sc-term-witness", at.Add(100*time.Millisecond))
		ok(t, nc, api.VerbStatus, `{"id":"sc-term"}`, &st)
		if st.Status != api.StatusTerminated || rc.of("sc-term") != 0 {
			t.Fatalf("past the start time: %s, %d runs; want Terminated, never run", st.Status, rc.of("sc-term"))
		}
		// Terminated is finished: replace_finished starts the id afresh.
		fails(t, nc, api.VerbStart, `{"name":"counted","id":"sc-term"}`, api.CodeAlreadyExists)
		sub := notes(t, nc, "sc-term")
		ok(t, nc, api.VerbStart, `{"name":"counted","id":"sc-term","input":"again","reuse":"replace_finished"}`, nil)
		got := awaitNote(t, sub, "the new execution finished", func(st api.InstanceStatus) bool {
			return st.Partition == 1 && st.Status.IsTerminal()
		})
		if got.Status != api.StatusCompleted || string(got.Output) != `"again"` || rc.of("sc-term") != 1 {
			t.Fatalf("replacing start: %+v, %d runs", got, rc.of("sc-term"))
		}
	})

	t.Run("PurgeBeforeTheStartTime", func(t *testing.T) {
		at := time.Now().Add(2 * time.Second)
		schedule("sc-purge", at)
		ok(t, nc, api.VerbPurge, `{"id":"sc-purge"}`, nil)
		fails(t, nc, api.VerbStatus, `{"id":"sc-purge"}`, api.CodeNotFound)
		passTime("sc-purge-witness", at.Add(100*time.Millisecond))
		fails(t, nc, api.VerbStatus, `{"id":"sc-purge"}`, api.CodeNotFound)
		if rc.of("sc-purge") != 0 {
			t.Fatalf("a purged scheduled start ran %d times", rc.of("sc-purge"))
		}
		if ids := list(`"status":"Scheduled"`); slices.Contains(ids, "sc-purge") {
			t.Fatalf("list by status Scheduled after purge: %v", ids)
		}
	})

	t.Run("Submitted", func(t *testing.T) {
		// A fire-and-forget submission with a start_at ahead is Scheduled
		// too.
		at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		sub := notes(t, nc, "sc-submitted")
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := js.Publish(ctx, api.SubmitSubject(api.DefaultPrefix),
			[]byte(`{"name":"counted","id":"sc-submitted","input":"x","start_at":"`+rfc(at)+`"}`)); err != nil {
			t.Fatal(err)
		}
		if st := awaitStatus(t, sub, api.StatusScheduled); !st.ScheduledAt.Equal(at) || rc.of("sc-submitted") != 0 {
			t.Fatalf("submitted scheduled start: %+v, %d runs", st, rc.of("sc-submitted"))
		}
	})

	t.Run("RunsAtItsTime", func(t *testing.T) {
		at := time.Now().Add(time.Second)
		schedule("sc-run", at)
		st := waitTerminal(t, nc, "sc-run")
		if st.Status != api.StatusCompleted || string(st.Output) != `"x"` || rc.of("sc-run") != 1 ||
			st.CreatedAt.Before(at) || !st.ScheduledAt.IsZero() {
			t.Fatalf("%+v, %d runs; want Completed once, created after %s", st, rc.of("sc-run"), at)
		}
	})
}

// TestScheduledStartSurvivesAnOrchestratorRestart: the start is held by
// JetStream, not by the orchestrator: one scheduled by an orchestrator that
// then stops runs, once, on the next one (with an empty data directory,
// rebuilt from the log).
func TestScheduledStartSurvivesAnOrchestratorRestart(t *testing.T) {
	srv := jstest.Server(t)
	reg, rc := countedOrchestrations(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := func() host.Config {
		return host.Config{NATSURL: srv.ClientURL(), DataDir: t.TempDir(), MetricsAddr: "off", DrainTimeout: 10 * time.Second,
			Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	}
	a, err := host.Start(ctx, host.Orchestrator, cfg(), reg)
	if err != nil {
		t.Fatal(err)
	}
	nc := jstest.Connect(t, srv.ClientURL())
	at := time.Now().Add(3 * time.Second)
	sub := notes(t, nc, "sc-restart")
	ok(t, nc, api.VerbStart, `{"name":"counted","id":"sc-restart","input":"survived","start_at":"`+rfc(at)+`"}`, nil)
	awaitStatus(t, sub, api.StatusScheduled)
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := host.Start(ctx, host.Orchestrator, cfg(), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background()) })
	st := waitTerminal(t, nc, "sc-restart")
	if st.Status != api.StatusCompleted || string(st.Output) != `"survived"` || rc.of("sc-restart") != 1 || st.CreatedAt.Before(at) {
		t.Fatalf("%+v, %d runs; want Completed once after %s", st, rc.of("sc-restart"), at)
	}
}
