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

// TestShardCountIsRecordedAndEnforced: the log stream records the shard
// count of the provider that created it; a process with another count is
// refused (administering or verifying); a log stream created before the
// count was recorded reads as LegacyShards, and the next administering
// process records its count.
func TestShardCountIsRecordedAndEnforced(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	js, err := natsjs.New(connect(t, sharedURL))
	if err != nil {
		t.Fatal(err)
	}
	prefix := uniquePrefix()
	if n, err := RecordedShards(ctx, js, prefix); err != nil || n != 0 {
		t.Fatalf("RecordedShards before any stream = %d, %v; want 0", n, err)
	}
	start := func(shards int, verify bool) error {
		p, err := New(ctx, connect(t, sharedURL), nil, statelessTopology, Options{Prefix: prefix, Shards: shards,
			OwnedShards: []int{}, VerifyStreams: verify, Logger: quietLogger()})
		if err == nil {
			p.Close()
		}
		return err
	}
	if err := start(4, false); err != nil {
		t.Fatal(err)
	}
	if n, err := RecordedShards(ctx, js, prefix); err != nil || n != 4 {
		t.Fatalf("RecordedShards = %d, %v; want 4", n, err)
	}
	for _, verify := range []bool{false, true} {
		err := start(16, verify)
		if want := "metadata reprise.shards is 4 on the server, 16 in this process's settings"; !errors.Is(err, ErrStreamMismatch) || !strings.Contains(err.Error(), want) {
			t.Errorf("start with 16 shards over 4 (verifying %v): %v, want ErrStreamMismatch with %q", verify, err, want)
		}
	}
	if err := start(4, true); err != nil {
		t.Fatalf("verifying provider with the recorded count: %v", err)
	}

	// A deployment as an earlier version created it: no record.
	legacy := uniquePrefix()
	prefix = legacy
	if err := start(LegacyShards, false); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, legacy+"_log")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.Metadata = nil
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if n, err := RecordedShards(ctx, js, legacy); err != nil || n != LegacyShards {
		t.Fatalf("RecordedShards of an unrecorded log stream = %d, %v; want %d", n, err, LegacyShards)
	}
	if err := start(LegacyShards, true); err != nil {
		t.Fatalf("verifying provider over an unrecorded log stream: %v", err)
	}
	if n, _ := RecordedShards(ctx, js, legacy); n != LegacyShards {
		t.Fatalf("a verifying provider changed the record to %d", n)
	}
	if err := start(LegacyShards, false); err != nil {
		t.Fatalf("administering provider over an unrecorded log stream: %v", err)
	}
	if s, err = js.Stream(ctx, legacy+"_log"); err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Metadata[shardsMetadata]; got != "16" {
		t.Fatalf("after an administering provider the log stream records %q shards, want 16", got)
	}
}
