package pebble_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/reprise/reprise/provider"
	pstore "github.com/reprise/reprise/provider/pebble"
)

func TestWatermarksAreSetAndOverwritten(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, nil, map[string]uint64{"a": 1, "a/b\x00": 2})
	mustApply(t, s, nil, map[string]uint64{"a": 10})
	if got := watermark(t, s, "a"); got != 10 {
		t.Errorf("a = %d, want 10", got)
	}
	if got := watermark(t, s, "a/b\x00"); got != 2 {
		t.Errorf("a/b = %d, want 2", got)
	}
	if got := watermark(t, s, "a/b"); got != 0 {
		t.Errorf("unset a/b = %d, want 0", got)
	}
}

func TestEverythingPersistsAcrossCloseAndOpen(t *testing.T) {
	for _, synced := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", synced), func(t *testing.T) {
			dir := t.TempDir()
			s, err := pstore.Open(pstore.Options{Dir: dir, IndexedKeys: indexed, Sync: synced})
			if err != nil {
				t.Fatal(err)
			}
			populate(t, s, "a")
			populate(t, s, "gone")
			mustApply(t, s, []pstore.Update{{Entity: "gone", Delete: true}}, map[string]uint64{"w": 77})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = openStore(t, dir)
			defer s.Close()
			checkIntact(t, s, "a")
			checkGone(t, s, "gone")
			if got := watermark(t, s, "w"); got != 77 {
				t.Errorf("watermark = %d, want 77", got)
			}
			// The duplicate check still works against persisted history.
			err = s.Apply([]pstore.Update{{Entity: "a", Partition: 1, Events: events(1)}}, nil)
			if !errors.Is(err, provider.ErrDuplicateEvent) {
				t.Errorf("err = %v, want ErrDuplicateEvent", err)
			}
		})
	}
}

func TestClosedStoreRefusesUse(t *testing.T) {
	s := openStore(t, t.TempDir())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, provider.ErrClosed) {
		t.Errorf("second Close: err = %v", err)
	}
	if err := s.Apply([]pstore.Update{{Entity: "e"}}, nil); !errors.Is(err, provider.ErrClosed) {
		t.Errorf("Apply: err = %v", err)
	}
	if _, err := s.History("e", 0); !errors.Is(err, provider.ErrClosed) {
		t.Errorf("History: err = %v", err)
	}
	if _, err := s.List(provider.ListQuery{Key: "phase"}); !errors.Is(err, provider.ErrClosed) {
		t.Errorf("List: err = %v", err)
	}
	if _, err := s.Watermark("w"); !errors.Is(err, provider.ErrClosed) {
		t.Errorf("Watermark: err = %v", err)
	}
	if s.Metrics() != nil {
		t.Error("Metrics after Close is not nil")
	}
}

func TestMetricsReflectWrites(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, []pstore.Update{{Entity: "e", Events: events(1, 2, 3)}}, nil)
	m := s.Metrics()
	if m == nil || m.WAL.BytesIn == 0 {
		t.Fatalf("metrics show no WAL bytes after a write: %+v", m)
	}
}

// TestConcurrentApplyNeitherLosesNorDuplicates runs goroutines that append
// to their own entities and race for the same Seqs of one shared entity:
// every private event must land, and each shared Seq must be accepted
// exactly once.
func TestConcurrentApplyNeitherLosesNorDuplicates(t *testing.T) {
	for _, synced := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", synced), func(t *testing.T) {
			s, err := pstore.Open(pstore.Options{Dir: t.TempDir(), IndexedKeys: indexed, Sync: synced})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()

			const workers, rounds = 6, 40
			var wg sync.WaitGroup
			accepted := make([][]uint64, workers)
			errs := make(chan error, workers)
			for w := range workers {
				wg.Go(func() {
					own := fmt.Sprintf("own-%d", w)
					for r := range rounds {
						seq := uint64(r + 1)
						err := s.Apply([]pstore.Update{
							{Entity: own, Events: events(seq), SetMetadata: provider.Metadata{"owner": fmt.Sprint(r % 3)}},
							{Entity: "shared", Events: events(seq), Consumed: []string{own}},
						}, map[string]uint64{own: seq})
						switch {
						case err == nil:
							accepted[w] = append(accepted[w], seq)
						case errors.Is(err, provider.ErrDuplicateEvent):
							// Another worker took this Seq of "shared": the
							// whole batch, own event included, was refused.
							if err := s.Apply([]pstore.Update{{Entity: own, Events: events(seq), SetMetadata: provider.Metadata{"owner": fmt.Sprint(r % 3)}}}, map[string]uint64{own: seq}); err != nil {
								errs <- err
								return
							}
						default:
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}

			var all []uint64
			for w := range workers {
				own := fmt.Sprintf("own-%d", w)
				want := make([]uint64, rounds)
				for i := range want {
					want[i] = uint64(i + 1)
				}
				wantSeqs(t, s, own, 0, want...)
				if got := watermark(t, s, own); got != rounds {
					t.Errorf("watermark %s = %d, want %d", own, got, rounds)
				}
				all = append(all, accepted[w]...)
			}
			slices.Sort(all)
			if len(all) != rounds || len(slices.Compact(slices.Clone(all))) != rounds {
				t.Fatalf("shared seqs accepted %v: want each of 1..%d exactly once", all, rounds)
			}
			wantSeqs(t, s, "shared", 0, all...)
			// The last owner value of each worker is indexed exactly once.
			var listed []string
			for v := range 3 {
				listed = append(listed, list(t, s, "owner", fmt.Sprint(v))...)
			}
			if len(listed) != workers {
				t.Errorf("index lists %d entities, want %d: %v", len(listed), workers, listed)
			}
		})
	}
}

func TestConcurrentReadsSeeWholeBatches(t *testing.T) {
	s := newStore(t)
	const rounds = 200
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for r := range rounds {
			md := provider.Metadata{"x": fmt.Sprint(r), "y": fmt.Sprint(r)}
			if err := s.Apply([]pstore.Update{{Entity: "e", Events: events(uint64(2*r), uint64(2*r+1)), SetMetadata: md}}, nil); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if evs, err := s.History("e", 0); err != nil || len(evs)%2 != 0 {
				t.Errorf("history of %d events, err %v: a batch was half visible", len(evs), err)
				return
			}
			md, err := s.Metadata("e")
			if errors.Is(err, provider.ErrNotFound) {
				continue
			}
			if err != nil || md["x"] != md["y"] {
				t.Errorf("metadata %v, err %v: a batch was half visible", md, err)
				return
			}
		}
	})
	wg.Wait()
}
