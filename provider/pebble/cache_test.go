package pebble

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// TestCacheMatchesTheDatabase applies random updates (metadata set and
// deleted, indexed values changed, deletions, expiries, partition expiries,
// new partitions, events out of order, consumed ids past the cache's bound)
// and after each one checks that what the store answers from its entity
// cache is what the database holds: the same state, metadata, current
// partition's history and consumed ids read with the cache cleared, index entries and due expiries that match the
// metadata and expiry.
func TestCacheMatchesTheDatabase(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), IndexedKeys: []string{"phase", "owner"}, CacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	rng := rand.New(rand.NewPCG(1, 2))
	entities := []string{"a", "b", "c", "d"}
	values := []string{"x", "y", "z"}
	keys := []string{"phase", "owner", "plain"}
	base := time.Unix(1_000_000, 0)
	seq := map[string]uint64{}
	part := map[string]uint64{}
	logSeq := uint64(0)
	// Ids consumed so far, and one never consumed.
	ids := []string{"never"}
	for step := range 600 {
		e := entities[rng.IntN(len(entities))]
		// Read first now and then, so that absent entries get cached too.
		if rng.IntN(3) == 0 {
			_, _ = s.Metadata(e)
			_, _ = s.Entity(e)
		}
		logSeq++
		u := Update{Entity: e, LogSeq: logSeq}
		switch r := rng.IntN(10); {
		case r == 0:
			u.Delete = true
			seq[e], part[e] = 0, 0
		case r == 2:
			// A new partition (continue-as-new), its first events.
			part[e]++
			seq[e] = 1
			u.Partition = part[e]
			u.SetMetadata = provider.Metadata{"phase": values[rng.IntN(len(values))]}
			u.Events = []provider.Event{{Seq: 1, Data: []byte("first")}, {Seq: 2, Data: []byte("second")}}
			seq[e] = 2
		case r == 3 && seq[e] > 2:
			// An event below the head (a gap filled): the cache must not
			// keep a history out of order.
			u.Partition = part[e]
			u.Events = []provider.Event{{Seq: seq[e] + 2, Data: []byte("ahead")}, {Seq: seq[e] + 1, Data: []byte("gap")}}
			seq[e] += 2
		case r == 1:
			if err := s.ExpirePartitions(e, part[e]); err != nil {
				t.Fatalf("step %d: expire partitions: %v", step, err)
			}
			checkCache(t, s, step, entities, ids)
			continue
		default:
			u.SetMetadata = provider.Metadata{}
			for range rng.IntN(3) {
				u.SetMetadata[keys[rng.IntN(len(keys))]] = values[rng.IntN(len(values))]
			}
			if rng.IntN(3) == 0 {
				u.DeleteMetadata = []string{keys[rng.IntN(len(keys))]}
			}
			seq[e]++
			u.Partition = part[e]
			u.Events = []provider.Event{{Seq: seq[e], Data: fmt.Appendf(nil, "ev%d", step)}}
			if rng.IntN(2) == 0 {
				u.ExpireAt = base.Add(time.Duration(rng.IntN(100)) * time.Second)
			}
		}
		if !u.Delete && rng.IntN(2) == 0 {
			// Up to 3 ids at once: an entity passes maxCachedConsumed
			// between its deletions.
			for i := range 1 + rng.IntN(3) {
				id := fmt.Sprintf("m%d-%d", step, i)
				u.Consumed = append(u.Consumed, id)
				ids = append(ids, id)
			}
		}
		if err := s.Apply([]Update{u}, nil); err != nil {
			t.Fatalf("step %d: apply %+v: %v", step, u, err)
		}
		checkCache(t, s, step, entities, ids)
	}
}

func checkCache(t *testing.T, s *Store, step int, entities, ids []string) {
	t.Helper()
	type view struct {
		state    EntityState
		meta     provider.Metadata
		hist     string
		err      string
		consumed string
	}
	read := func() map[string]view {
		out := map[string]view{}
		for _, e := range entities {
			st, err := s.Entity(e)
			if err != nil {
				t.Fatalf("step %d: entity %q: %v", step, e, err)
			}
			hist, err := s.History(e, st.Partition)
			if err != nil {
				t.Fatalf("step %d: history %q: %v", step, e, err)
			}
			var consumed []string
			for _, id := range ids {
				ok, err := s.Consumed(e, id)
				if err != nil {
					t.Fatalf("step %d: consumed %q %q: %v", step, e, id, err)
				}
				if ok {
					consumed = append(consumed, id)
				}
			}
			md, err := s.Metadata(e)
			v := view{state: st, meta: md, hist: fmt.Sprint(hist), consumed: fmt.Sprint(consumed)}
			if err != nil {
				if !errors.Is(err, provider.ErrNotFound) {
					t.Fatalf("step %d: metadata %q: %v", step, e, err)
				}
				v.err = "not found"
			}
			out[e] = v
		}
		return out
	}
	cached := read()
	// Read the database past the cache, leaving the cache as it is for
	// the next step.
	kept := s.cache
	s.cache = newEntityCache()
	fromDB := read()
	s.cache = kept
	for _, e := range entities {
		c, d := cached[e], fromDB[e]
		if c.state != d.state || c.err != d.err || !maps.Equal(c.meta, d.meta) || c.hist != d.hist || c.consumed != d.consumed {
			t.Fatalf("step %d: entity %q from the cache %+v, from the database %+v", step, e, c, d)
		}
		for _, key := range []string{"phase", "owner"} {
			for _, value := range []string{"x", "y", "z"} {
				page, err := s.List(provider.ListQuery{Key: key, Value: value, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				listed := slices.Contains(page.Entities, e)
				if want := d.err == "" && d.meta[key] == value; listed != want {
					t.Fatalf("step %d: List(%s=%s) lists %q: %v, metadata %v", step, key, value, e, listed, d.meta)
				}
			}
		}
	}
	due, err := s.DueExpiries(time.Unix(2_000_000, 0), 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entities {
		at, err := s.EntityExpiry(e)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, x := range due {
			if x.Entity == e && x.Below == 0 {
				n++
				if !x.At.Equal(at) {
					t.Fatalf("step %d: %q due at %v, its expiry is %v", step, e, x.At, at)
				}
			}
		}
		if want := map[bool]int{true: 0, false: 1}[at.IsZero()]; n != want {
			t.Fatalf("step %d: %q has %d due entries, want %d (expiry %v) %s", step, e, n, want, at, fmt.Sprint(due))
		}
	}
}

// TestNewEntityIsServedFromTheCache: an entity first read while it does not
// exist (a start checks that), then written, has its history and consumed
// ids in the cache, so that its next turn reads nothing from the database.
func TestNewEntityIsServedFromTheCache(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Metadata("new"); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("metadata of a new entity: %v, want ErrNotFound", err)
	}
	if ok, err := s.Consumed("new", "start"); err != nil || ok {
		t.Fatalf("consumed of a new entity: %v, %v", ok, err)
	}
	u := Update{Entity: "new", LogSeq: 1, Events: []provider.Event{{Seq: 1, Data: []byte("started")}}, Consumed: []string{"start"}}
	if err := s.Apply([]Update{u}, nil); err != nil {
		t.Fatal(err)
	}
	e := s.cache.get("new")
	if e == nil {
		t.Fatal("the written entity is not cached")
	}
	if _, ok := s.cachedHistory("new", 0); !ok {
		t.Error("the history of the new entity is not cached")
	}
	if consumed, known := e.hasConsumed("start"); !consumed || !known {
		t.Errorf("consumed id in the cache: consumed %v, known %v", consumed, known)
	}
	if consumed, known := e.hasConsumed("result"); consumed || !known {
		t.Errorf("an id not consumed in the cache: consumed %v, known %v", consumed, known)
	}
}
