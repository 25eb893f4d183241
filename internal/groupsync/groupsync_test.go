package groupsync

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDisk counts writes and what each flush made durable.
type fakeDisk struct {
	written atomic.Uint64 // writes made so far (the page cache)
	durable atomic.Uint64 // writes on stable storage
	started atomic.Uint64 // flushes started
	release chan struct{} // when set, each flush waits for a value
}

func (d *fakeDisk) flush() error {
	d.started.Add(1)
	upTo := d.written.Load()
	if d.release != nil {
		<-d.release
	}
	for {
		cur := d.durable.Load()
		if upTo <= cur || d.durable.CompareAndSwap(cur, upTo) {
			return nil
		}
	}
}

func TestConcurrentCallersShareFlushesAndEachSeesItsWriteDurable(t *testing.T) {
	const callers = 2000
	// The first flush lasts until every caller has asked (a slow disk):
	// the callers that came after it began share the next one.
	var s *Syncer
	d := &fakeDisk{}
	first := true
	flush := func() error {
		if first {
			first = false
			for s.arrivals.Load() < callers {
				runtime.Gosched()
			}
		}
		return d.flush()
	}
	s = New(flush)
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := d.written.Add(1)
			if err := s.Sync(context.Background()); err != nil {
				errs <- err
				return
			}
			if got := d.durable.Load(); got < mine {
				errs <- errors.New("Sync returned before the caller's write was flushed")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := s.Flushes(); n == 0 || n > 2 {
		t.Fatalf("%d flushes for %d callers, want 2 (the first, and one for those who came while it ran)", n, callers)
	}
	t.Logf("%d callers, %d flushes", callers, s.Flushes())
}

func TestAFlushInProgressDoesNotReleaseLaterCallers(t *testing.T) {
	d := &fakeDisk{release: make(chan struct{})}
	s := New(d.flush)
	defer s.Close()
	first := s.Begin()
	// The first flush is running (blocked in release) before the second
	// caller arrives.
	waitForStart(t, d)
	d.written.Add(1) // written while the first flush runs
	second := s.Begin()
	d.release <- struct{}{}
	if err := first(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := second(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("second caller released by a flush that started before its call: err %v, durable %d", err, d.durable.Load())
	}
	d.release <- struct{}{}
	if err := second(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d.durable.Load() != 1 {
		t.Fatalf("durable %d after the second flush, want 1", d.durable.Load())
	}
	if s.Flushes() != 2 {
		t.Fatalf("%d flushes, want 2", s.Flushes())
	}
}

func waitForStart(t *testing.T, d *fakeDisk) {
	t.Helper()
	for d.started.Load() == 0 {
		runtime.Gosched()
	}
}

func TestCancelledWaitReturnsEarlyAndCloseReleasesWaiters(t *testing.T) {
	d := &fakeDisk{release: make(chan struct{})}
	s := New(d.flush)
	wait := s.Begin()
	waitForStart(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Sync(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync with a cancelled context: %v, want context.Canceled", err)
	}
	later := s.Begin() // waits for the next flush, which Close may prevent
	close(d.release)
	if err := wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := later(context.Background()); !errors.Is(err, ErrClosed) && err != nil {
		t.Fatalf("wait after Close: %v", err)
	}
	if err := s.Sync(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close: %v, want ErrClosed", err)
	}
}

func TestFlushErrorReachesItsCallers(t *testing.T) {
	boom := errors.New("disk on fire")
	s := New(func() error { return boom })
	defer s.Close()
	if err := s.Sync(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Sync: %v, want %v", err, boom)
	}
}

func TestSyncfsOfADirectory(t *testing.T) {
	s, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFS("/nonexistent/dir"); err == nil {
		t.Fatal("NewFS of a missing directory succeeded")
	}
}

// TestSyncSoonSharesTheNextFlush: a SyncSoon caller starts no flush of its
// own while another caller starts one within its delay, and returns with
// that flush; alone, it starts its own once the delay has passed.
func TestSyncSoonSharesTheNextFlush(t *testing.T) {
	d := &fakeDisk{}
	s := New(d.flush)
	defer s.Close()
	mine := d.written.Add(1)
	done := make(chan error, 1)
	go func() { done <- s.SyncSoon(context.Background(), time.Hour) }()
	for s.arrivals.Load() < 1 {
		runtime.Gosched()
	}
	if err := s.Begin()(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d.durable.Load() < mine {
		t.Fatal("SyncSoon returned before its write was flushed")
	}
	if n := s.Flushes(); n != 1 {
		t.Fatalf("%d flushes, want 1 shared by both callers", n)
	}

	// Alone: its own flush, after the delay.
	mine = d.written.Add(1)
	if err := s.SyncSoon(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d.durable.Load() < mine || s.Flushes() != 2 {
		t.Fatalf("alone: durable %d (want %d), %d flushes (want 2)", d.durable.Load(), mine, s.Flushes())
	}
}
