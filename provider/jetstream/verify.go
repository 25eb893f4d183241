package jetstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// ErrStreamMismatch reports a stream or consumer whose settings on the
// server differ from the ones this process would give it. The message names
// each differing setting with both values. A process refuses to start
// rather than change them: settings such as the replica count belong to the
// deployment, not to whichever process starts last.
var ErrStreamMismatch = errors.New("jetstream: stream or consumer settings on the server differ from this process's")

// verifyRetry is how often a process that only verifies streams looks again
// for a stream or consumer that does not exist yet.
const verifyRetry = time.Second

// streamSetting is one compared setting of a stream.
type streamSetting struct {
	name string
	// agreed settings are refused on a mismatch even by a process that
	// creates and updates streams; the others it updates.
	agreed bool
	value  func(natsjs.StreamConfig) any
}

// streamSettings are the settings compared with an existing stream.
var streamSettings = []streamSetting{
	{"replicas", true, func(c natsjs.StreamConfig) any { return max(c.Replicas, 1) }},
	{"storage", true, func(c natsjs.StreamConfig) any { return c.Storage }},
	{"retention", true, func(c natsjs.StreamConfig) any { return c.Retention }},
	{"subjects", false, func(c natsjs.StreamConfig) any { return strings.Join(slices.Sorted(slices.Values(c.Subjects)), ",") }},
	{"duplicate window", false, func(c natsjs.StreamConfig) any { return c.Duplicates }},
	{"max age", false, func(c natsjs.StreamConfig) any { return c.MaxAge }},
	{"discard policy", false, func(c natsjs.StreamConfig) any { return c.Discard }},
	{"rollup", false, func(c natsjs.StreamConfig) any { return c.AllowRollup }},
	{"direct gets", false, func(c natsjs.StreamConfig) any { return c.AllowDirect }},
	{"message schedules", false, func(c natsjs.StreamConfig) any { return c.AllowMsgSchedules }},
}

// streamDiffs lists the settings of want that have differs from: only the
// agreed ones, or all.
func streamDiffs(have, want natsjs.StreamConfig, all bool) []string {
	var out []string
	for _, s := range streamSettings {
		if !s.agreed && !all {
			continue
		}
		// A zero duplicate window means the server's default (2 minutes).
		if s.name == "duplicate window" && want.Duplicates == 0 {
			continue
		}
		h, w := s.value(have), s.value(want)
		// A feature this process needs must be on; one it does not need
		// may be (the server turns rollups on for message schedules).
		if on, isFlag := h.(bool); isFlag && on {
			continue
		}
		if h != w {
			out = append(out, fmt.Sprintf("%s is %v on the server, %v in this process's settings", s.name, h, w))
		}
	}
	return out
}

// metadataDiffs compares the metadata keys want sets with have's: a key
// with another value is a conflict (named with both values); a key have
// lacks is missing (a stream created before the key was recorded).
func metadataDiffs(have, want natsjs.StreamConfig) (conflicts []string, missing bool) {
	for _, k := range slices.Sorted(maps.Keys(want.Metadata)) {
		switch h, w := have.Metadata[k], want.Metadata[k]; {
		case h == w:
		case h == "":
			missing = true
		default:
			conflicts = append(conflicts, fmt.Sprintf("metadata %s is %s on the server, %s in this process's settings", k, h, w))
		}
	}
	return conflicts, missing
}

// EnsureStream creates the stream cfg describes, or brings an existing one
// to cfg, for a process that administers streams. It refuses (with
// ErrStreamMismatch, naming the setting) to change an existing stream's
// replicas, storage or retention: one process started with other settings
// (REPRISE_REPLICAS=1 against R3 streams) must not shrink the deployment's
// streams. Change those by hand (nats stream edit) if that is meant.
func EnsureStream(ctx context.Context, js natsjs.JetStream, cfg natsjs.StreamConfig) (natsjs.Stream, error) {
	for range 2 {
		s, err := js.Stream(ctx, cfg.Name)
		switch {
		case errors.Is(err, natsjs.ErrStreamNotFound):
			s, err = createStream(ctx, js, cfg)
			if errors.Is(err, natsjs.ErrStreamNameAlreadyInUse) {
				continue // created meanwhile by another process: compare
			}
			if err != nil {
				return nil, fmt.Errorf("create stream %s: %w", cfg.Name, err)
			}
			return s, nil
		case err != nil:
			return nil, fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
		have := s.CachedInfo().Config
		conflicts, missing := metadataDiffs(have, cfg)
		if diffs := append(streamDiffs(have, cfg, false), conflicts...); len(diffs) > 0 {
			return nil, fmt.Errorf("%w: stream %s: %s", ErrStreamMismatch, cfg.Name, strings.Join(diffs, "; "))
		}
		if len(streamDiffs(have, cfg, true)) == 0 && !missing {
			return s, nil
		}
		// The server keeps its own metadata (_nats.*) whatever the
		// update says; other keys not in cfg are kept too.
		cfg.Metadata = mergeMetadata(have.Metadata, cfg.Metadata)
		s, err = js.UpdateStream(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("update stream %s: %w", cfg.Name, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("create stream %s: created and changed concurrently", cfg.Name)
}

// VerifyStream waits until the stream cfg describes exists (created by a
// process that administers streams), then checks that its settings are
// cfg's: a difference fails with ErrStreamMismatch naming each setting. It
// never creates or changes a stream.
func VerifyStream(ctx context.Context, js natsjs.JetStream, cfg natsjs.StreamConfig, log func(msg string)) (natsjs.Stream, error) {
	var s natsjs.Stream
	err := awaitExisting(ctx, "stream "+cfg.Name, natsjs.ErrStreamNotFound, log, func(ctx context.Context) error {
		var err error
		s, err = js.Stream(ctx, cfg.Name)
		return err
	})
	if err != nil {
		return nil, err
	}
	// A metadata key the stream lacks is not a difference: an earlier
	// version created it, and an administering process records the key.
	conflicts, _ := metadataDiffs(s.CachedInfo().Config, cfg)
	if diffs := append(streamDiffs(s.CachedInfo().Config, cfg, true), conflicts...); len(diffs) > 0 {
		return nil, fmt.Errorf("%w: stream %s: %s", ErrStreamMismatch, cfg.Name, strings.Join(diffs, "; "))
	}
	return s, nil
}

// mergeMetadata is have's keys, but the server's own (_nats.*, which it
// sets itself), with want's set.
func mergeMetadata(have, want map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range have {
		if !strings.HasPrefix(k, "_nats.") {
			out[k] = v
		}
	}
	maps.Copy(out, want)
	return out
}

// verifyConsumer checks the settings of the durable consumer cfg describes
// against cfg (ErrStreamMismatch). A missing consumer is an error wrapping
// natsjs.ErrConsumerNotFound.
func verifyConsumer(ctx context.Context, s natsjs.Stream, cfg natsjs.ConsumerConfig) (natsjs.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	c, err := s.Consumer(ctx, cfg.Durable)
	if err != nil {
		return nil, fmt.Errorf("consumer %s (created by a process that administers the streams, not by this one): %w", cfg.Durable, err)
	}
	have := c.CachedInfo().Config
	var diffs []string
	for _, d := range []struct {
		name       string
		have, want any
	}{
		{"filter subject", have.FilterSubject, cfg.FilterSubject},
		{"ack policy", have.AckPolicy, cfg.AckPolicy},
		{"ack wait (the lock timeout)", have.AckWait, cfg.AckWait},
		{"max deliver", have.MaxDeliver, cfg.MaxDeliver},
		{"max ack pending", have.MaxAckPending, cfg.MaxAckPending},
		{"deliver policy", have.DeliverPolicy, cfg.DeliverPolicy},
	} {
		if d.have != d.want {
			diffs = append(diffs, fmt.Sprintf("%s is %v on the server, %v in this process's settings", d.name, d.have, d.want))
		}
	}
	if len(diffs) > 0 {
		return nil, fmt.Errorf("%w: consumer %s: %s", ErrStreamMismatch, cfg.Durable, strings.Join(diffs, "; "))
	}
	return c, nil
}

// awaitExisting calls get until it returns anything but notFound, every
// verifyRetry, until ctx ends; log is told once that it waits. Each call
// gets requestTimeout: a JetStream API request that goes unanswered (one
// sent while a stream or consumer elects its leader) is asked again.
func awaitExisting(ctx context.Context, what string, notFound error, log func(string), get func(ctx context.Context) error) error {
	told := false
	missing := func() error {
		return fmt.Errorf("%s does not exist (it is created by a process that administers the streams, not by this one): %w", what, errors.Join(notFound, ctx.Err()))
	}
	for {
		try, cancel := context.WithTimeout(ctx, requestTimeout)
		err := get(try)
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil && told:
			return missing() // the context ended during a look-up
		case ctx.Err() != nil:
			return fmt.Errorf("%s: %w", what, err)
		case errors.Is(err, notFound):
			if !told && log != nil {
				log(what + " does not exist yet: waiting for a process that administers the streams to create it")
				told = true
			}
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
			// Unanswered: ask again.
		default:
			return fmt.Errorf("%s: %w", what, err)
		}
		t := time.NewTimer(verifyRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			if told {
				return missing()
			}
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// errCodeNoPeers is the server's "no suitable peers for placement": the
// servers of a cluster have not all met yet, or one is restarting.
const errCodeNoPeers = 10005

// createStream creates the stream, retrying while the cluster is still
// forming (no suitable peers for placement, no JetStream answering yet, a
// request unanswered), as when a process starts together with its NATS
// servers; ctx bounds it.
// streamAttemptTimeout bounds one request of createStream.
const streamAttemptTimeout = 15 * time.Second

func createStream(ctx context.Context, js natsjs.JetStream, cfg natsjs.StreamConfig) (natsjs.Stream, error) {
	for {
		// Each attempt has its own timeout: a request the meta leader
		// lost (an election under load) is asked again rather than
		// waited for until ctx ends.
		actx, cancel := context.WithTimeout(ctx, streamAttemptTimeout)
		s, err := js.CreateStream(actx, cfg)
		cancel()
		var apiErr *natsjs.APIError
		// A request that timed out while ctx is live went unanswered: the
		// cluster has no JetStream meta leader yet.
		unanswered := ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout))
		forming := errors.Is(err, nats.ErrNoResponders) || unanswered ||
			(errors.As(err, &apiErr) && (apiErr.ErrorCode == errCodeNoPeers || apiErr.Code == 503))
		if !forming {
			return s, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}
