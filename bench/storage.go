package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// storageSample is one reading of what the deployment stores.
type storageSample struct {
	LogBytes, LogMsgs, SnapBytes, WorkBytes uint64
	// PebbleBytes is the in-process store's disk usage (-1 with -remote).
	PebbleBytes int64
}

// readStorage reads the deployment's streams (and the in-process store).
func readStorage(ctx context.Context, js natsjs.JetStream, d *deployment, prefix string) (storageSample, error) {
	s := storageSample{PebbleBytes: -1}
	for _, st := range []struct {
		name         string
		bytes, count *uint64
	}{{prefix + "_log", &s.LogBytes, &s.LogMsgs}, {prefix + "_snap", &s.SnapBytes, nil}, {prefix + "_work", &s.WorkBytes, nil}} {
		stream, err := js.Stream(ctx, st.name)
		if err != nil {
			return s, fmt.Errorf("stream %s: %w", st.name, err)
		}
		info := stream.CachedInfo()
		*st.bytes = info.State.Bytes
		if st.count != nil {
			*st.count = info.State.Msgs
		}
	}
	if d.node != nil {
		s.PebbleBytes = d.node.StoreBytes()
	}
	return s, nil
}

// sampleStorage prints a storage sample to w every o.storageEvery until
// stop is called (and once more then).
func sampleStorage(d *deployment, o options, w io.Writer) (stop func()) {
	js, err := natsjs.New(d.nc)
	if err != nil {
		fmt.Fprintf(w, "storage: %v\n", err)
		return func() {}
	}
	start := time.Now()
	print := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := readStorage(ctx, js, d, o.prefix)
		if err != nil {
			fmt.Fprintf(w, "storage t=%s error: %v\n", time.Since(start).Round(time.Second), err)
			return
		}
		fmt.Fprintf(w, "storage t=%s log_bytes=%d log_msgs=%d snap_bytes=%d work_bytes=%d pebble_bytes=%d\n",
			time.Since(start).Round(time.Second), s.LogBytes, s.LogMsgs, s.SnapBytes, s.WorkBytes, s.PebbleBytes)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(o.storageEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				print()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		print()
	}
}
