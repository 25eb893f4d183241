// Package replaytest lets users replay recorded orchestration histories
// against their current code in ordinary Go tests, so that a change that
// would break running instances (nondeterminism) fails before it is
// deployed.
//
// Record a history with [Record] (or the client's History) and [Save] it
// under testdata; then, in a test, [ReplayFile] or [ReplayDir] with a
// registry holding the current code. The package owns the history file
// format; it must not know about providers or workers: replay runs no
// activities and sends nothing.
package replaytest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
)

// File is a recorded history: the events of one partition of one instance.
type File struct {
	InstanceID string          `json:"instanceId"`
	Partition  uint64          `json:"partition"`
	Events     []runtime.Event `json:"events"`
}

// Record reads the current partition's history of instance id.
func Record(ctx context.Context, c *control.Client, id string) (*File, error) {
	p, err := c.Partition(ctx, id)
	if err != nil {
		return nil, err
	}
	return RecordPartition(ctx, c, id, p)
}

// RecordPartition reads one partition's history of instance id.
func RecordPartition(ctx context.Context, c *control.Client, id string, partition uint64) (*File, error) {
	evs, err := c.PartitionHistory(ctx, id, partition)
	if err != nil {
		return nil, err
	}
	return &File{InstanceID: id, Partition: partition, Events: evs}, nil
}

// Save writes f as indented JSON.
func Save(path string, f *File) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("replaytest: encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("replaytest: %w", err)
	}
	return nil
}

// Load reads a history file written by Save.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("replaytest: %w", err)
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("replaytest: decode %s: %w", path, err)
	}
	return &f, nil
}

// Replay replays f against the code in reg. It returns nil when the code
// makes exactly the recorded calls, a *runtime.NondeterminismError (naming
// the position, the recorded call and the new call) when it does not, or
// another error (a panic, an unregistered orchestration).
func Replay(reg *runtime.Registry, f *File, opts ...runtime.ReplayOption) error {
	opts = append([]runtime.ReplayOption{runtime.WithReplayInstance(f.InstanceID, f.Partition)}, opts...)
	return runtime.Replay(reg, f.Events, opts...)
}

// ReplayFile loads path and replays it, failing t on any error.
func ReplayFile(t testing.TB, reg *runtime.Registry, path string, opts ...runtime.ReplayOption) {
	t.Helper()
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Replay(reg, f, opts...); err != nil {
		t.Fatalf("replay of %s: %v", path, err)
	}
}

// ReplayDir replays every *.json history in dir as a subtest.
func ReplayDir(t *testing.T, reg *runtime.Registry, dir string, opts ...runtime.ReplayOption) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("replaytest: no *.json histories in %s", dir)
	}
	sort.Strings(paths)
	for _, p := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(p), ".json"), func(t *testing.T) {
			ReplayFile(t, reg, p, opts...)
		})
	}
}
