package jetstream

import (
	"context"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// TestPurgedSubjectFencesAsEmpty records what the server does with
// Nats-Expected-Last-Subject-Sequence on a subject whose records were
// purged, which is why trimming keeps each entity's last record: a subject
// purged down to its last record still fences on that record's sequence,
// while a subject purged empty accepts only 0, so a writer that read the
// purged record's sequence would be refused and one that knows nothing
// would be accepted.
func TestPurgedSubjectFencesAsEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nc := connect(t, sharedURL)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name := uniquePrefix() + "_facts"
	s, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: natsjs.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	pub := func(subject string, expect uint64) (uint64, error) {
		m := nats.NewMsg(subject)
		m.Header.Set(natsjs.ExpectedLastSubjSeqHeader, strconv.FormatUint(expect, 10))
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			return 0, err
		}
		return ack.Sequence, nil
	}
	a, b := name+".a", name+".b"
	s1, err := pub(a, 0)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := pub(a, s1)
	if err != nil {
		t.Fatal(err)
	}
	// Purge below the last record: the fence still names it.
	if err := s.Purge(ctx, natsjs.WithPurgeSubject(a), natsjs.WithPurgeSequence(s2)); err != nil {
		t.Fatal(err)
	}
	if _, err := pub(a, s1); err == nil {
		t.Error("a commit expecting a purged, superseded record was accepted")
	}
	if _, err := pub(a, s2); err != nil {
		t.Fatalf("a commit expecting the kept last record: %v", err)
	}
	// Purge everything: the subject fences as if it never had a record.
	t1, err := pub(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, natsjs.WithPurgeSubject(b)); err != nil {
		t.Fatal(err)
	}
	if _, err := pub(b, t1); err == nil {
		t.Error("a commit expecting the purged last record was accepted")
	}
	if _, err := pub(b, 0); err != nil {
		t.Errorf("a commit expecting no record on a purged subject: %v", err)
	}
}
