package providertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// The suite's topology: two entity-locked queues and two indexed keys. Any
// other valid name is a work queue.
const (
	queueA   = "entities"
	queueB   = "entities-b"
	workA    = "work"
	workB    = "work-b"
	keyColor = "color"
	keyGroup = "group"
	// longLock is the lock timeout of tests that must never see a lock
	// expire.
	longLock = 2 * time.Minute
)

func baseTopology() provider.Topology {
	return provider.Topology{
		EntityQueues: []string{queueA, queueB},
		IndexedKeys:  []string{keyColor, keyGroup},
		LockTimeout:  longLock,
	}
}

// env is one test's provider and the helpers that drive it. Helpers fail the
// test on any unexpected error.
type env struct {
	t   *testing.T
	p   provider.Provider
	cfg config
	ctx context.Context
	ids atomic.Uint64
}

// open builds a provider with the suite topology, edited by edits.
func (s *suite) open(t *testing.T, edits ...func(*provider.Topology)) *env {
	t.Helper()
	topo := baseTopology()
	for _, edit := range edits {
		edit(&topo)
	}
	p := s.factory(t, topo)
	if p == nil {
		t.Fatal("factory returned a nil provider")
	}
	return &env{t: t, p: p, cfg: s.cfg, ctx: t.Context()}
}

// shortLocks makes locks expire after the suite's short lock timeout.
func (s *suite) shortLocks(topo *provider.Topology) { topo.LockTimeout = s.cfg.lockTimeout }

// newID returns a message ID unique within the test.
func (e *env) newID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, e.ids.Add(1))
}

// msg builds an outgoing message with a fresh ID and random data.
func (e *env) msg(queue, entity string) provider.Outgoing {
	return provider.Outgoing{Queue: queue, Message: provider.Message{
		ID: e.newID("m"), Entity: entity, Data: randomBytes(e.t, 16),
	}}
}

func (e *env) send(msgs ...provider.Outgoing) {
	e.t.Helper()
	if err := e.p.Send(e.ctx, msgs...); err != nil {
		e.t.Fatalf("Send: %v", err)
	}
}

// waitCtx bounds something that must happen by the suite's wait limit.
func (e *env) waitCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, e.cfg.waitLimit)
}

// fetch returns the next entity batch of queue, failing the test if none
// comes within the wait limit.
func (e *env) fetch(queue string) *provider.EntityBatch {
	e.t.Helper()
	ctx, cancel := e.waitCtx()
	defer cancel()
	b, err := e.p.FetchEntity(ctx, queue)
	if err != nil {
		e.t.Fatalf("FetchEntity(%q): %v", queue, err)
	}
	if b == nil {
		e.t.Fatalf("FetchEntity(%q) returned a nil batch and no error", queue)
	}
	return b
}

// fetchEntity fetches and requires the batch to be entity's.
func (e *env) fetchEntity(queue, entity string) *provider.EntityBatch {
	e.t.Helper()
	b := e.fetch(queue)
	if b.Lock.Entity != entity {
		e.t.Fatalf("FetchEntity(%q) returned entity %q, want %q", queue, b.Lock.Entity, entity)
	}
	return b
}

// fetchWork returns the next work item of queue within the wait limit.
func (e *env) fetchWork(queue string) *provider.WorkItem {
	e.t.Helper()
	ctx, cancel := e.waitCtx()
	defer cancel()
	w, err := e.p.FetchWork(ctx, queue)
	if err != nil {
		e.t.Fatalf("FetchWork(%q): %v", queue, err)
	}
	if w == nil {
		e.t.Fatalf("FetchWork(%q) returned a nil item and no error", queue)
	}
	return w
}

// expectNoEntity fails if queue yields a batch within the quiet period.
func (e *env) expectNoEntity(queue string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.quiet)
	defer cancel()
	b, err := e.p.FetchEntity(ctx, queue)
	if err == nil {
		e.t.Fatalf("FetchEntity(%q) returned entity %q with %d message(s) (%s); want nothing",
			queue, b.Lock.Entity, len(b.Messages), messageIDs(b.Messages))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		e.t.Fatalf("FetchEntity(%q) with nothing to fetch: err = %v, want context.DeadlineExceeded", queue, err)
	}
}

// expectNoWork fails if queue yields a work item within the quiet period.
func (e *env) expectNoWork(queue string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.quiet)
	defer cancel()
	w, err := e.p.FetchWork(ctx, queue)
	if err == nil {
		e.t.Fatalf("FetchWork(%q) returned message %q; want nothing", queue, w.Message.ID)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		e.t.Fatalf("FetchWork(%q) with nothing to fetch: err = %v, want context.DeadlineExceeded", queue, err)
	}
}

// fetchNotBefore fetches an entity batch of queue that must not be delivered
// before notBefore: first a fetch whose deadline falls halfway there must get
// nothing, then a blocking fetch gets it, no earlier than notBefore.
func (e *env) fetchNotBefore(queue string, notBefore time.Time) *provider.EntityBatch {
	e.t.Helper()
	early, cancel := context.WithDeadline(e.ctx, time.Now().Add(time.Until(notBefore)/2))
	b, err := e.p.FetchEntity(early, queue)
	cancel()
	switch {
	case err == nil:
		// Legal only if scheduling delayed the return past notBefore.
		if now := time.Now(); now.Before(notBefore) {
			e.t.Fatalf("entity %q delivered %v before its time", b.Lock.Entity, notBefore.Sub(now))
		}
		return b
	case !errors.Is(err, context.DeadlineExceeded):
		e.t.Fatalf("early FetchEntity(%q): err = %v, want context.DeadlineExceeded", queue, err)
	}
	b = e.fetch(queue)
	if now := time.Now(); now.Before(notBefore) {
		e.t.Fatalf("entity %q delivered %v before its time", b.Lock.Entity, notBefore.Sub(now))
	}
	return b
}

// fetchWorkNotBefore is fetchNotBefore for a work queue.
func (e *env) fetchWorkNotBefore(queue string, notBefore time.Time) *provider.WorkItem {
	e.t.Helper()
	early, cancel := context.WithDeadline(e.ctx, time.Now().Add(time.Until(notBefore)/2))
	w, err := e.p.FetchWork(early, queue)
	cancel()
	switch {
	case err == nil:
		if now := time.Now(); now.Before(notBefore) {
			e.t.Fatalf("work message %q delivered %v before its time", w.Message.ID, notBefore.Sub(now))
		}
		return w
	case !errors.Is(err, context.DeadlineExceeded):
		e.t.Fatalf("early FetchWork(%q): err = %v, want context.DeadlineExceeded", queue, err)
	}
	w = e.fetchWork(queue)
	if now := time.Now(); now.Before(notBefore) {
		e.t.Fatalf("work message %q delivered %v before its time", w.Message.ID, notBefore.Sub(now))
	}
	return w
}

func (e *env) commit(b *provider.EntityBatch, c provider.Commit) {
	e.t.Helper()
	if err := e.p.Commit(e.ctx, b.Lock, c); err != nil {
		e.t.Fatalf("Commit for entity %q: %v", b.Lock.Entity, err)
	}
}

// commitTo runs one fetch-commit cycle for entity on queue: it sends a
// trigger message, fetches the entity and commits c under its lock. No other
// entity of queue may have visible messages.
func (e *env) commitTo(queue, entity string, c provider.Commit) *provider.EntityBatch {
	e.t.Helper()
	e.send(e.msg(queue, entity))
	b := e.fetchEntity(queue, entity)
	e.commit(b, c)
	return b
}

func (e *env) depth(queue string) int {
	e.t.Helper()
	n, err := e.p.QueueDepth(e.ctx, queue)
	if err != nil {
		e.t.Fatalf("QueueDepth(%q): %v", queue, err)
	}
	return n
}

func (e *env) requireDepth(queue string, want int) {
	e.t.Helper()
	if got := e.depth(queue); got != want {
		e.t.Fatalf("QueueDepth(%q) = %d, want %d", queue, got, want)
	}
}

func (e *env) history(entity string, partition uint64) []provider.Event {
	e.t.Helper()
	h, err := e.p.History(e.ctx, entity, partition)
	if err != nil {
		e.t.Fatalf("History(%q, %d): %v", entity, partition, err)
	}
	return h
}

func (e *env) partition(entity string) uint64 {
	e.t.Helper()
	n, err := e.p.CurrentPartition(e.ctx, entity)
	if err != nil {
		e.t.Fatalf("CurrentPartition(%q): %v", entity, err)
	}
	return n
}

func (e *env) metadata(entity string) provider.Metadata {
	e.t.Helper()
	m, err := e.p.Metadata(e.ctx, entity)
	if err != nil {
		e.t.Fatalf("Metadata(%q): %v", entity, err)
	}
	return m
}

// requireNotFound checks that entity has never committed (or was deleted).
func (e *env) requireNotFound(entity string) {
	e.t.Helper()
	if _, err := e.p.CurrentPartition(e.ctx, entity); !errors.Is(err, provider.ErrNotFound) {
		e.t.Fatalf("CurrentPartition(%q) err = %v, want ErrNotFound", entity, err)
	}
	if _, err := e.p.Metadata(e.ctx, entity); !errors.Is(err, provider.ErrNotFound) {
		e.t.Fatalf("Metadata(%q) err = %v, want ErrNotFound", entity, err)
	}
}

// requireNoHistory checks that a partition has no events. Reading an unknown
// entity may return no events or ErrNotFound.
func (e *env) requireNoHistory(entity string, partition uint64) {
	e.t.Helper()
	h, err := e.p.History(e.ctx, entity, partition)
	if err != nil && !errors.Is(err, provider.ErrNotFound) {
		e.t.Fatalf("History(%q, %d): %v", entity, partition, err)
	}
	if len(h) != 0 {
		e.t.Fatalf("History(%q, %d) has %d events (seqs %v), want none", entity, partition, len(h), seqs(h))
	}
}

func (e *env) requireHistory(entity string, partition uint64, want []provider.Event) {
	e.t.Helper()
	requireEvents(e.t, fmt.Sprintf("History(%q, %d)", entity, partition), e.history(entity, partition), want)
}

func (e *env) requireMetadata(entity string, want provider.Metadata) {
	e.t.Helper()
	requireMetadataEqual(e.t, fmt.Sprintf("Metadata(%q)", entity), e.metadata(entity), want)
}

// snapshot captures what can be read of entity: its current partition (if
// any), the history of the given partitions and its metadata.
type snapshot struct {
	found     bool
	partition uint64
	history   map[uint64][]provider.Event
	metadata  provider.Metadata
}

func (e *env) snapshot(entity string, partitions ...uint64) snapshot {
	e.t.Helper()
	s := snapshot{history: map[uint64][]provider.Event{}}
	n, err := e.p.CurrentPartition(e.ctx, entity)
	switch {
	case err == nil:
		s.found, s.partition = true, n
		s.metadata = e.metadata(entity)
	case !errors.Is(err, provider.ErrNotFound):
		e.t.Fatalf("CurrentPartition(%q): %v", entity, err)
	}
	for _, part := range partitions {
		h, err := e.p.History(e.ctx, entity, part)
		if err != nil && !errors.Is(err, provider.ErrNotFound) {
			e.t.Fatalf("History(%q, %d): %v", entity, part, err)
		}
		s.history[part] = h
	}
	return s
}

// requireUnchanged fails if anything captured in before has changed.
func (e *env) requireUnchanged(entity string, before snapshot) {
	e.t.Helper()
	after := e.snapshot(entity, slices.Collect(maps.Keys(before.history))...)
	if after.found != before.found || after.partition != before.partition {
		e.t.Fatalf("entity %q: (exists, current partition) went from (%v, %d) to (%v, %d)",
			entity, before.found, before.partition, after.found, after.partition)
	}
	for part, h := range before.history {
		requireEvents(e.t, fmt.Sprintf("History(%q, %d) after a failed commit", entity, part), after.history[part], h)
	}
	if before.found {
		requireMetadataEqual(e.t, fmt.Sprintf("Metadata(%q) after a failed commit", entity), after.metadata, before.metadata)
	}
}

// requireNotAcked checks that the messages of batch b are still queued: after
// releasing b's lock (which may already be gone), they come back in a new
// batch with their attempt count increased.
func (e *env) requireNotAcked(b *provider.EntityBatch) *provider.EntityBatch {
	e.t.Helper()
	if err := e.p.AbandonEntity(e.ctx, b.Lock, 0); err != nil && !errors.Is(err, provider.ErrLockLost) {
		e.t.Fatalf("AbandonEntity: %v", err)
	}
	again := e.fetchEntity(b.Lock.Queue, b.Lock.Entity)
	got := map[string]provider.Message{}
	for _, m := range again.Messages {
		got[m.ID] = m
	}
	for _, m := range b.Messages {
		g, ok := got[m.ID]
		if !ok {
			e.t.Fatalf("message %q was acked by a failed commit: refetch has %s", m.ID, messageIDs(again.Messages))
		}
		if g.Attempt != m.Attempt+1 {
			e.t.Fatalf("message %q refetched with Attempt %d, want %d", m.ID, g.Attempt, m.Attempt+1)
		}
	}
	return again
}

// requireErrorIs fails unless errors.Is(err, target).
func requireErrorIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want an error wrapping %v", what, err, target)
	}
}

func requireEvents(t *testing.T, what string, got, want []provider.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events (seqs %v), want %d (seqs %v)", what, len(got), seqs(got), len(want), seqs(want))
	}
	for i := range got {
		if got[i].Seq != want[i].Seq || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("%s: event %d is seq %d with %d bytes, want seq %d with %d bytes (equal data: %v)",
				what, i, got[i].Seq, len(got[i].Data), want[i].Seq, len(want[i].Data), bytes.Equal(got[i].Data, want[i].Data))
		}
	}
}

func requireMetadataEqual(t *testing.T, what string, got, want provider.Metadata) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("%s = %q, want %q", what, got, want)
		}
	}
}

// requireMessages checks a batch's messages against the sent ones: same
// IDs in the same order, same envelope and data, and the given attempt.
func requireMessages(t *testing.T, got []provider.Message, want []provider.Outgoing, attempt int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("batch has messages %s, want %s", messageIDs(got), outgoingIDs(want))
	}
	for i, o := range want {
		requireMessage(t, got[i], o.Message, attempt)
	}
}

func requireMessage(t *testing.T, got, want provider.Message, attempt int) {
	t.Helper()
	if got.ID != want.ID || got.Entity != want.Entity || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("message = {ID %q, Entity %q, %d bytes}, want {ID %q, Entity %q, %d bytes} (equal data: %v)",
			got.ID, got.Entity, len(got.Data), want.ID, want.Entity, len(want.Data), bytes.Equal(got.Data, want.Data))
	}
	if got.Attempt != attempt {
		t.Fatalf("message %q has Attempt %d, want %d", got.ID, got.Attempt, attempt)
	}
}

func messageIDs(msgs []provider.Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

func outgoingIDs(msgs []provider.Outgoing) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.Message.ID
	}
	return ids
}

func seqs(events []provider.Event) []uint64 {
	out := make([]uint64, len(events))
	for i, ev := range events {
		out[i] = ev.Seq
	}
	return out
}

// events builds events with the given seqs and random data.
func events(t *testing.T, seqs ...uint64) []provider.Event {
	out := make([]provider.Event, len(seqs))
	for i, s := range seqs {
		out[i] = provider.Event{Seq: s, Data: randomBytes(t, 32)}
	}
	return out
}

func isLockLost(err error) bool { return errors.Is(err, provider.ErrLockLost) }
