package jetstream

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// TestStreamSettingsAreNotChangedByAnotherProcess: a provider that verifies
// (a worker) refuses streams and consumers whose settings differ from its
// own, naming the setting; one that administers streams refuses to change
// an existing stream's storage, and updates the rest.
func TestStreamSettingsAreNotChangedByAnotherProcess(t *testing.T) {
	t.Parallel()
	owner := newRig(t, sharedURL, statelessTopology, Options{Shards: 2, WorkQueues: []string{"jobs"}})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stateless := func(edit func(*Options)) (*Provider, error) {
		o := Options{Prefix: owner.opts.Prefix, Shards: 2, OwnedShards: []int{}, VerifyStreams: true,
			WorkQueues: []string{"jobs"}, Logger: quietLogger()}
		edit(&o)
		p, err := New(ctx, connect(t, sharedURL), nil, statelessTopology, o)
		if err == nil {
			t.Cleanup(func() { p.Close() })
		}
		return p, err
	}
	if _, err := stateless(func(*Options) {}); err != nil {
		t.Fatalf("verifying provider with the owner's settings: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"memory storage", func(o *Options) { o.MemoryStorage = true },
			"stream " + owner.opts.Prefix + "_log: storage is File on the server, Memory in this process's settings"},
		{"duplicate window", func(o *Options) { o.DuplicateWindow = time.Minute },
			"stream " + owner.opts.Prefix + "_work: duplicate window is 10m0s on the server, 1m0s in this process's settings"},
		{"max ack pending", func(o *Options) { o.MaxAckPending = 5 },
			"consumer " + owner.opts.Prefix + "_w_jobs: max ack pending is 10000 on the server, 5 in this process's settings"},
	} {
		if _, err := stateless(c.edit); !errors.Is(err, ErrStreamMismatch) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("verifying provider with another %s: %v, want ErrStreamMismatch with %q", c.name, err, c.want)
		}
	}

	// An administering provider with memory storage is refused too; one
	// with another duplicate window updates the stream.
	admin := func(o Options) error {
		o.Prefix, o.Shards, o.OwnedShards, o.Logger = owner.opts.Prefix, 2, []int{}, quietLogger()
		p, err := New(ctx, connect(t, sharedURL), nil, statelessTopology, o)
		if err == nil {
			p.Close()
		}
		return err
	}
	if err := admin(Options{MemoryStorage: true}); !errors.Is(err, ErrStreamMismatch) || !strings.Contains(err.Error(), "storage is File on the server, Memory") {
		t.Errorf("administering provider with memory storage over file streams: %v, want ErrStreamMismatch", err)
	}
	if err := admin(Options{DuplicateWindow: time.Minute}); err != nil {
		t.Fatalf("administering provider with another duplicate window: %v", err)
	}
	s, err := owner.p.js.Stream(ctx, owner.opts.Prefix+"_work")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config; got.Duplicates != time.Minute || got.Storage != natsjs.FileStorage {
		t.Fatalf("work stream after the administering provider: duplicates %s, storage %s; want 1m0s, file", got.Duplicates, got.Storage)
	}
}

// TestVerifyingProviderWaitsForTheStreams: with no stream yet, a provider
// that verifies waits until its context ends and says what is missing.
func TestVerifyingProviderWaitsForTheStreams(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	prefix := uniquePrefix()
	_, err := New(ctx, connect(t, sharedURL), nil, statelessTopology,
		Options{Prefix: prefix, OwnedShards: []int{}, VerifyStreams: true, Logger: quietLogger()})
	if !errors.Is(err, natsjs.ErrStreamNotFound) || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "stream "+prefix+"_log does not exist (it is created by a process that administers the streams") {
		t.Fatalf("verifying provider without streams: %v", err)
	}
	js, err := natsjs.New(connect(t, sharedURL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(t.Context(), prefix+"_log"); !errors.Is(err, natsjs.ErrStreamNotFound) {
		t.Fatalf("the verifying provider created its stream: %v", err)
	}
}
