package pebble_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/reprise/reprise/provider"
	pstore "github.com/reprise/reprise/provider/pebble"
)

// indexed are the metadata keys the test stores index.
var indexed = []string{"phase", "owner"}

func openStore(t testing.TB, dir string) *pstore.Store {
	t.Helper()
	s, err := pstore.Open(pstore.Options{Dir: dir, IndexedKeys: indexed, CacheBytes: 8 << 20})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// newStore opens a store in a fresh directory, closed at the end of the test.
func newStore(t testing.TB) *pstore.Store {
	t.Helper()
	s := openStore(t, t.TempDir())
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, provider.ErrClosed) {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func mustApply(t testing.TB, s *pstore.Store, updates []pstore.Update, watermarks map[string]uint64) {
	t.Helper()
	if err := s.Apply(updates, watermarks); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// events builds events with the given seqs and data "<seq>".
func events(seqs ...uint64) []provider.Event {
	out := make([]provider.Event, len(seqs))
	for i, seq := range seqs {
		out[i] = provider.Event{Seq: seq, Data: fmt.Appendf(nil, "data-%d", seq)}
	}
	return out
}

func seqsOf(evs []provider.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

func history(t testing.TB, s *pstore.Store, entity string, partition uint64) []provider.Event {
	t.Helper()
	evs, err := s.History(entity, partition)
	if err != nil {
		t.Fatalf("history %q/%d: %v", entity, partition, err)
	}
	return evs
}

func wantSeqs(t testing.TB, s *pstore.Store, entity string, partition uint64, want ...uint64) {
	t.Helper()
	got := seqsOf(history(t, s, entity, partition))
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("history %q/%d seqs = %v, want %v", entity, partition, got, want)
	}
}

func entityState(t testing.TB, s *pstore.Store, entity string) pstore.EntityState {
	t.Helper()
	st, err := s.Entity(entity)
	if err != nil {
		t.Fatalf("entity %q: %v", entity, err)
	}
	return st
}

func list(t testing.TB, s *pstore.Store, key, value string) []string {
	t.Helper()
	var all []string
	q := provider.ListQuery{Key: key, Value: value}
	for {
		page, err := s.List(q)
		if err != nil {
			t.Fatalf("list %s=%q: %v", key, value, err)
		}
		all = append(all, page.Entities...)
		if page.NextCursor == "" {
			return all
		}
		q.Cursor = page.NextCursor
	}
}

func consumed(t testing.TB, s *pstore.Store, entity, id string) bool {
	t.Helper()
	ok, err := s.Consumed(entity, id)
	if err != nil {
		t.Fatalf("consumed %q/%q: %v", entity, id, err)
	}
	return ok
}

func watermark(t testing.TB, s *pstore.Store, name string) uint64 {
	t.Helper()
	v, err := s.Watermark(name)
	if err != nil {
		t.Fatalf("watermark %q: %v", name, err)
	}
	return v
}
