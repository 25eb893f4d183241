package jetstream

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/pebble"
)

// Log compaction (see the package documentation, "Snapshots and
// trimming"). A shard's snapshot is the store's state of the shard's
// entities (pebble.Store.WriteSnapshot), s2-compressed, cut into chunks
// published to <p>.snap.<shard>.c.<id> in the stream <p>_snap, and made
// current by its head, one message on <p>.snap.<shard>.head (rolled up)
// written with a compare-and-set on the previous head. Then the log of the
// shard is trimmed: each entity's records at or below the snapshot's
// sequence are purged except its last one.

// snapHead describes a shard's current snapshot.
type snapHead struct {
	Version int `json:"v"`
	Shard   int `json:"shard"`
	// Seq is the log sequence the snapshot covers: every record of the
	// shard at or below it is in the snapshot, applied and dispatched.
	Seq uint64 `json:"seq"`
	// ID names the chunk subject; First is the stream sequence of the
	// first chunk, Chunks their number.
	ID     string `json:"id"`
	First  uint64 `json:"first"`
	Chunks int    `json:"chunks"`
	// Bytes is the stored (compressed) size, Raw the size before
	// compression; Entities how many entities the snapshot holds.
	Bytes    int64 `json:"bytes"`
	Raw      int64 `json:"raw"`
	Entities int   `json:"entities"`
	// Trimmed is the log sequence up to which the shard's log is trimmed:
	// every entity's records at or below it, except its last one, are
	// purged. It is the previous snapshot's Seq until the trimming under
	// this one has finished.
	Trimmed uint64 `json:"trimmed"`
	// TombsTrimmed is the log sequence up to which the tombstones of
	// deleted entities older than Options.TombstoneGrace are purged too
	// (see trimTombstones).
	TombsTrimmed uint64    `json:"tombs_trimmed"`
	Taken        time.Time `json:"taken"`

	// seq is the head message's own stream sequence (the compare-and-set
	// of the next head); not encoded.
	seq uint64
}

const snapHeadVersion = 1

// SnapshotInfo describes a shard's latest snapshot.
type SnapshotInfo struct {
	// Shard is the shard; Seq the log sequence the snapshot covers (0: the
	// shard has no snapshot).
	Shard int
	Seq   uint64
	// Bytes is its stored size, RawBytes its size before compression,
	// Entities how many entities it holds.
	Bytes, RawBytes int64
	Entities        int
	// Taken is when it was written.
	Taken time.Time
	// Trimmed is the log sequence the shard's log is trimmed up to (see the
	// package documentation).
	Trimmed uint64
}

func (h *snapHead) info() SnapshotInfo {
	return SnapshotInfo{Shard: h.Shard, Seq: h.Seq, Bytes: h.Bytes, RawBytes: h.Raw,
		Entities: h.Entities, Taken: h.Taken, Trimmed: h.Trimmed}
}

// Snapshot fault points, for this package's crash tests.
const (
	snapFaultChunks = "snapshot-chunks" // chunks stored, no head yet
	snapFaultTrim   = "snapshot-trim"   // head written, half the log trimmed
	snapFaultForget = "snapshot-forget" // a tombstone purged, the store not told
)

var errSnapshotFault = fmt.Errorf("snapshot stopped: %w", provider.ErrInjectedFault)

// ErrSnapshotSuperseded reports a snapshot that was not made current because
// another process wrote a newer one for the shard first.
var ErrSnapshotSuperseded = errors.New("jetstream: a newer snapshot of the shard was written meanwhile")

func (n names) snapStream() string     { return n.prefix + "_snap" }
func (n names) snapSubjects() []string { return []string{n.prefix + ".snap.>"} }
func (n names) snapHeadSubject(sh int) string {
	return n.prefix + ".snap." + strconv.Itoa(sh) + ".head"
}
func (n names) snapChunkSubject(sh int, id string) string {
	return n.prefix + ".snap." + strconv.Itoa(sh) + ".c." + id
}
func (n names) snapChunkFilter(sh int) string { return n.prefix + ".snap." + strconv.Itoa(sh) + ".c.>" }

// ensureSnapStream creates or checks the snapshot stream.
func (p *Provider) ensureSnapStream(ctx context.Context) error {
	s, err := p.stream(ctx, natsjs.StreamConfig{
		Name:        p.names.snapStream(),
		Description: "per-shard snapshots of the materialized store, under which the log is trimmed",
		Subjects:    p.names.snapSubjects(),
		Retention:   natsjs.LimitsPolicy,
		Storage:     p.storage(),
		Replicas:    p.opts.Replicas,
		Discard:     natsjs.DiscardOld,
		AllowRollup: true,
		AllowDirect: p.opts.Replicas == 1,
	})
	if err != nil {
		return fmt.Errorf("snapshot stream: %w", err)
	}
	p.snapStream = s
	return nil
}

// readSnapHead returns the shard's snapshot head, nil when it has none.
func (p *Provider) readSnapHead(ctx context.Context, shard int) (*snapHead, error) {
	m, err := p.snapStream.GetLastMsgForSubject(ctx, p.names.snapHeadSubject(shard))
	if errors.Is(err, natsjs.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot head of shard %d: %w", shard, err)
	}
	var h snapHead
	if err := json.Unmarshal(m.Data, &h); err != nil || h.Version != snapHeadVersion || h.Shard != shard {
		return nil, fmt.Errorf("%w: snapshot head of shard %d (%v)", errCorrupt, shard, err)
	}
	h.seq = m.Sequence
	return &h, nil
}

// writeSnapHead makes h the shard's head if the head is still the one at
// prev (its stream sequence, 0: none); h.seq is set.
func (p *Provider) writeSnapHead(ctx context.Context, h *snapHead, prev uint64) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	m := natsMsg(p.names.snapHeadSubject(h.Shard), data)
	m.Header.Set(natsjs.MsgRollup, natsjs.MsgRollupSubject)
	m.Header.Set(natsjs.ExpectedLastSubjSeqHeader, strconv.FormatUint(prev, 10))
	m.Header.Set(writerHeader, p.writer)
	ack, err := p.publishMsg(ctx, m)
	var apiErr *natsjs.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == 10164) {
		return fmt.Errorf("shard %d: %w", h.Shard, ErrSnapshotSuperseded)
	}
	if err != nil {
		return fmt.Errorf("write snapshot head of shard %d: %w", h.Shard, err)
	}
	h.seq = ack.Sequence
	return nil
}

// snapChunkBytes is the largest chunk of a snapshot.
func (p *Provider) snapChunkBytes() int { return min(p.maxRecord, 512<<10) }

// chunkWriter publishes what is written to it in chunks, pipelined.
type chunkWriter struct {
	ctx     context.Context
	p       *Provider
	subject string
	buf     []byte
	size    int
	acks    []natsjs.PubAckFuture
	first   uint64
	chunks  int
	bytes   int64
	err     error
}

func (c *chunkWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 && c.err == nil {
		k := min(len(b), c.size-len(c.buf))
		c.buf = append(c.buf, b[:k]...)
		b = b[k:]
		if len(c.buf) == c.size {
			c.flush()
		}
	}
	if c.err != nil {
		return 0, c.err
	}
	return n, nil
}

// flush publishes the buffered chunk.
func (c *chunkWriter) flush() {
	if len(c.buf) == 0 || c.err != nil {
		return
	}
	f, err := c.p.js.PublishMsgAsync(natsMsg(c.subject, c.buf))
	if err != nil {
		c.err = fmt.Errorf("publish snapshot chunk: %w", err)
		return
	}
	c.acks = append(c.acks, f)
	c.chunks++
	c.bytes += int64(len(c.buf))
	c.buf = make([]byte, 0, c.size)
	if len(c.acks) >= 16 {
		c.wait()
	}
}

// wait waits for the acks of the chunks published, noting the first
// chunk's sequence.
func (c *chunkWriter) wait() {
	for _, f := range c.acks {
		select {
		case ack := <-f.Ok():
			if c.first == 0 || ack.Sequence < c.first {
				c.first = ack.Sequence
			}
		case err := <-f.Err():
			if c.err == nil {
				c.err = fmt.Errorf("store snapshot chunk: %w", err)
			}
		case <-c.ctx.Done():
			if c.err == nil {
				c.err = c.ctx.Err()
			}
		}
	}
	c.acks = c.acks[:0]
}

// SnapshotShard writes a snapshot of an owned shard now, if its log has
// settled records (confirmed by a dispatch mark in the log) that its latest
// snapshot does not cover, and trims the log below it; it finishes an
// interrupted trimming. It returns the shard's latest snapshot (Seq 0:
// none). Snapshots are otherwise taken in
// the background (see Options.SnapshotRecords).
func (p *Provider) SnapshotShard(ctx context.Context, shard int) (SnapshotInfo, error) {
	if err := p.checkOpen(); err != nil {
		return SnapshotInfo{}, err
	}
	sh := p.shard(shard)
	if sh == nil || !sh.serving.Load() {
		return SnapshotInfo{}, fmt.Errorf("%w: shard %d is not owned here", provider.ErrInvalidArgument, shard)
	}
	return p.snapshotShard(ctx, sh)
}

// snapshotShard takes and stores one snapshot of sh (see SnapshotShard);
// snapMu serializes snapshots within the process.
func (p *Provider) snapshotShard(ctx context.Context, sh *shardState) (SnapshotInfo, error) {
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	prev, err := p.readSnapHead(ctx, sh.id)
	if err != nil {
		return SnapshotInfo{}, err
	}
	// The snapshot covers what is settled and confirmed by a dispatch
	// mark in the log: no record at or below it is ever needed for
	// dispatch again, and every one is applied to the store (the view
	// read below is taken after).
	sh.mu.Lock()
	seq := min(sh.published, sh.mark)
	sh.mu.Unlock()
	// The records counted so far are (about) those the snapshot covers;
	// a log that only gained dispatch marks needs none.
	if seq == 0 || (prev != nil && (prev.Seq >= seq || sh.tailCount.records() == 0)) {
		if prev == nil {
			return SnapshotInfo{Shard: sh.id}, nil
		}
		sh.setSnap(prev)
		if prev.Trimmed < prev.Seq {
			// An earlier trimming did not finish (a crash, a lost
			// shard): finish it.
			return p.finishTrim(ctx, sh, prev)
		}
		return prev.info(), nil
	}
	if !p.valid(sh) || sh.released.Load() {
		return SnapshotInfo{}, fmt.Errorf("snapshot shard %d: the shard is being released or lapsed", sh.id)
	}
	started := time.Now()
	h := &snapHead{Version: snapHeadVersion, Shard: sh.id, Seq: seq, ID: newWriterID(), Taken: started.UTC()}
	var prevSeq uint64
	if prev != nil {
		h.Trimmed, h.TombsTrimmed, prevSeq = prev.Trimmed, prev.TombsTrimmed, prev.seq
	}
	cw := &chunkWriter{ctx: ctx, p: p, subject: p.names.snapChunkSubject(sh.id, h.ID), size: p.snapChunkBytes()}
	zw := s2.NewWriter(cw, s2.WriterConcurrency(1))
	trim := trimSet{below: map[string]uint64{}, tombs: map[string]uint64{}}
	keep := func(e string) bool { return p.names.shardOf(e) == sh.id }
	stats, err := p.store.WriteSnapshot(zw, keep, func(entity string, st pebble.EntityState) {
		trim.add(h, entity, st)
	})
	if err == nil {
		err = zw.Close()
	}
	cw.flush()
	cw.wait()
	if err == nil {
		err = cw.err
	}
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot shard %d: %w", sh.id, err)
	}
	h.First, h.Chunks, h.Bytes, h.Raw, h.Entities = cw.first, cw.chunks, cw.bytes, stats.Bytes, stats.Entities
	if p.opts.snapshotFault == snapFaultChunks {
		return SnapshotInfo{}, errSnapshotFault
	}
	if !p.valid(sh) || sh.released.Load() {
		return SnapshotInfo{}, fmt.Errorf("snapshot shard %d: the shard is being released or lapsed", sh.id)
	}
	if err := p.writeSnapHead(ctx, h, prevSeq); err != nil {
		return SnapshotInfo{}, err
	}
	// The snapshot must be durable before the log below it and the older
	// snapshots are purged (durable.go). Until it is, nothing is trimmed:
	// the next snapshot pass trims under this head (Trimmed < Seq).
	if err := p.syncDurable(ctx); err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot shard %d: %w", sh.id, err)
	}
	sh.setSnap(h)
	sh.tailCount.covered(seq)
	// Everything at or below seq is applied: a restart over this store
	// replays from there rather than restoring the snapshot. (Racing the
	// mark loop can at worst lower the watermark: a longer replay.)
	sh.mu.Lock()
	behind := sh.stored < seq
	sh.mu.Unlock()
	if behind {
		if err := p.store.Apply(nil, map[string]uint64{logWatermark(sh.id): seq}); err == nil {
			sh.mu.Lock()
			sh.stored = max(sh.stored, seq)
			sh.mu.Unlock()
		}
	}
	// Older snapshots of the shard, and chunks of attempts that never got
	// a head, are below this snapshot's first chunk.
	if err := p.snapStream.Purge(ctx, natsjs.WithPurgeSubject(p.names.snapChunkFilter(sh.id)), natsjs.WithPurgeSequence(h.First)); err != nil {
		p.log.Warn("purge old snapshots", "shard", sh.id, "err", err)
	}
	p.log.Info("snapshot", "shard", sh.id, "seq", seq, "entities", h.Entities, "bytes", h.Bytes, "raw", h.Raw,
		"took", time.Since(started).Round(time.Millisecond))
	err = p.trimLog(ctx, sh, h, trim)
	return sh.snapInfo(), err
}

// finishTrim trims the shard's log under h, whose trimming did not finish:
// the entities to trim are those with records above h.Trimmed.
func (p *Provider) finishTrim(ctx context.Context, sh *shardState, h *snapHead) (SnapshotInfo, error) {
	trim := trimSet{below: map[string]uint64{}, tombs: map[string]uint64{}}
	err := p.store.VisitEntities(func(e string) bool { return p.names.shardOf(e) == sh.id }, func(entity string, st pebble.EntityState) {
		trim.add(h, entity, st)
	})
	if err != nil {
		return h.info(), fmt.Errorf("trim shard %d: %w", sh.id, err)
	}
	err = p.trimLog(ctx, sh, h, trim)
	return sh.snapInfo(), err
}

// trimSet is what trimming under a snapshot purges: below, for each
// entity, the log sequence its records are purged below; tombs, the
// deleted entities whose tombstone may go too, with its sequence.
type trimSet struct {
	below map[string]uint64
	tombs map[string]uint64
}

// add notes what trimming under h purges of entity, whose state is st.
func (t *trimSet) add(h *snapHead, entity string, st pebble.EntityState) {
	if !st.Exists && st.LogSeq > 0 {
		// A deleted entity: its log is its tombstone alone (the deletion
		// purged the rest).
		if st.LogSeq > h.TombsTrimmed && st.LogSeq <= h.Seq {
			t.tombs[entity] = st.LogSeq
		}
		return
	}
	if st.LogSeq > h.Trimmed {
		// Records above the trimmed point: purge those at or below the
		// snapshot, except the last.
		t.below[entity] = min(st.LogSeq, h.Seq+1)
	}
}

// trimWorkers is how many purge requests trimming keeps in flight.
const trimWorkers = 8

// trimLog purges, for each entity of trim, its log records below the
// sequence given (its last record at or below h.Seq is kept: the commit
// protocol's compare-and-set names it), then records in the head that the
// log is trimmed up to h.Seq.
func (p *Provider) trimLog(ctx context.Context, sh *shardState, h *snapHead, set trimSet) error {
	trim := set.below
	type job struct {
		entity string
		below  uint64
	}
	jobs := make(chan job)
	var (
		mu       sync.Mutex
		firstErr error
		done     int
	)
	var wg sync.WaitGroup
	for range trimWorkers {
		wg.Go(func() {
			for j := range jobs {
				err := p.logStream.Purge(ctx, natsjs.WithPurgeSubject(p.names.logSubject(j.entity)), natsjs.WithPurgeSequence(j.below))
				mu.Lock()
				done++
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("trim the log of %q: %w", j.entity, err)
				}
				mu.Unlock()
			}
		})
	}
	half := len(trim) / 2
	sent := 0
	var stopped error
	for entity, below := range trim {
		if p.opts.snapshotFault == snapFaultTrim && sent == half {
			stopped = errSnapshotFault
			break
		}
		if !p.valid(sh) || sh.released.Load() {
			stopped = fmt.Errorf("trim shard %d: the shard is being released or lapsed", sh.id)
			break
		}
		select {
		case jobs <- job{entity, below}:
			sent++
		case <-ctx.Done():
			stopped = ctx.Err()
		}
		if stopped != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(stopped, firstErr); err != nil {
		return err
	}
	tombsTrimmed, err := p.trimTombstones(ctx, sh, h, set.tombs)
	if err != nil {
		return err
	}
	trimmed := *h
	trimmed.Trimmed, trimmed.TombsTrimmed = h.Seq, tombsTrimmed
	if err := p.writeSnapHead(ctx, &trimmed, h.seq); err != nil {
		return err
	}
	sh.setSnap(&trimmed)
	p.log.Debug("trimmed log", "shard", sh.id, "below", h.Seq, "entities", done)
	return nil
}

// trimTombstones removes the tombstones of deleted entities (with their log
// sequence) that are older than Options.TombstoneGrace, in log order, and
// forgets those entities in the store; it returns the sequence up to which
// every tombstone of the shard is gone or was not one to remove.
//
// A tombstone is what refuses a commit under a lock taken before the
// deletion (the commit expects an earlier sequence of the subject). Past
// the grace, which is longer than any lock (Options.TombstoneGrace is at
// least twice the lock timeout), no such lock is live: the commit checks
// its lock before publishing, and a paused owner's shard lapses. The
// subject is then purged empty and the store forgets the entity, so that a
// new entity of the same id commits with "no record yet" (0), exactly as the
// emptied subject now fences. Should the process die between the purge and
// the forgetting, or a store be restored from a snapshot that still holds
// the tombstone, catchUp finds the subject empty and forgets the entity
// then.
func (p *Provider) trimTombstones(ctx context.Context, sh *shardState, h *snapHead, tombs map[string]uint64) (uint64, error) {
	type tomb struct {
		entity string
		seq    uint64
	}
	all := make([]tomb, 0, len(tombs))
	for e, s := range tombs {
		all = append(all, tomb{e, s})
	}
	slices.SortFunc(all, func(a, b tomb) int { return cmp.Compare(a.seq, b.seq) })
	upTo := h.Seq
	for _, tb := range all {
		m, err := p.logStream.GetMsg(ctx, tb.seq)
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			// Gone already (an earlier pass purged it and died before
			// the store forgot the entity).
		} else if err != nil {
			return 0, fmt.Errorf("read tombstone of %q: %w", tb.entity, err)
		} else if p.clock().Sub(m.Time) < p.opts.TombstoneGrace {
			// This one and every later one are too young: the log is in
			// time order.
			upTo = tb.seq - 1
			break
		}
		if err := p.forgetTombstone(ctx, sh, tb.entity, tb.seq); err != nil {
			return 0, err
		}
	}
	return max(upTo, h.TombsTrimmed), nil
}

// forgetTombstone purges entity's log subject up to its tombstone at seq
// and forgets the entity in the store, unless the entity changed since.
func (p *Provider) forgetTombstone(ctx context.Context, sh *shardState, entity string, seq uint64) error {
	mu := p.stripe(entity)
	mu.Lock()
	defer mu.Unlock()
	if !p.valid(sh) || sh.released.Load() {
		return fmt.Errorf("trim shard %d: the shard is being released or lapsed", sh.id)
	}
	es, err := p.store.Entity(entity)
	if err != nil {
		return err
	}
	if es.Exists || es.LogSeq != seq {
		return nil
	}
	err = p.logStream.Purge(ctx, natsjs.WithPurgeSubject(p.names.logSubject(entity)), natsjs.WithPurgeSequence(seq+1))
	if err != nil {
		return fmt.Errorf("purge the tombstone of %q: %w", entity, err)
	}
	if p.opts.snapshotFault == snapFaultForget {
		return errSnapshotFault
	}
	return p.store.Apply([]pebble.Update{{Entity: entity, Delete: true}}, nil)
}

// forgetIfTrimmed forgets entity in the store when the store holds its
// tombstone and the log subject is empty: the tombstone was trimmed (see
// trimTombstones). Stripe held.
func (p *Provider) forgetIfTrimmed(ctx context.Context, entity string, es pebble.EntityState) error {
	if es.Exists || es.LogSeq == 0 {
		return nil
	}
	_, err := p.logStream.GetLastMsgForSubject(ctx, p.names.logSubject(entity))
	if !errors.Is(err, natsjs.ErrMsgNotFound) {
		return err
	}
	return p.store.Apply([]pebble.Update{{Entity: entity, Delete: true}}, nil)
}

// restoreSnapshot replaces the store's state of the shard with snapshot h.
func (p *Provider) restoreSnapshot(ctx context.Context, shard int, h *snapHead) error {
	started := time.Now()
	r := &chunkReader{ctx: ctx, p: p, subject: p.names.snapChunkSubject(shard, h.ID), next: h.First, left: h.Chunks}
	keep := func(e string) bool { return p.names.shardOf(e) == shard }
	stats, err := p.store.RestoreSnapshot(s2.NewReader(r), keep, map[string]uint64{logWatermark(shard): h.Seq})
	if err != nil {
		return fmt.Errorf("restore snapshot %d of shard %d: %w", h.Seq, shard, err)
	}
	p.log.Info("restored snapshot", "shard", shard, "seq", h.Seq, "entities", stats.Entities, "bytes", h.Bytes,
		"took", time.Since(started).Round(time.Millisecond))
	return nil
}

// chunkReader reads a snapshot's chunks in order.
type chunkReader struct {
	ctx     context.Context
	p       *Provider
	subject string
	next    uint64
	left    int
	cur     []byte
}

func (c *chunkReader) Read(b []byte) (int, error) {
	for len(c.cur) == 0 {
		if c.left == 0 {
			return 0, io.EOF
		}
		m, err := c.p.snapStream.GetMsg(c.ctx, c.next, natsjs.WithGetMsgSubject(c.subject))
		if err != nil {
			// A newer snapshot may have purged this one meanwhile: the
			// restore fails and the caller starts again.
			return 0, fmt.Errorf("read snapshot chunk at %d: %w", c.next, err)
		}
		c.cur, c.next = m.Data, m.Sequence+1
		c.left--
	}
	n := copy(b, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// snapInfo describes the shard's latest snapshot known here.
func (sh *shardState) snapInfo() SnapshotInfo {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.snap == nil {
		return SnapshotInfo{Shard: sh.id}
	}
	return sh.snap.info()
}

// setSnap records h as the shard's latest snapshot.
func (sh *shardState) setSnap(h *snapHead) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.snap == nil || h.Seq > sh.snap.Seq || (h.Seq == sh.snap.Seq && h.Trimmed >= sh.snap.Trimmed) {
		sh.snap = h
	}
}

// snapshotDue reports whether sh needs a snapshot: enough records or bytes
// above its latest one, or records and an old one.
func (p *Provider) snapshotDue(sh *shardState, now time.Time) bool {
	recs, bytes := sh.tailCount.records(), sh.tailCount.bytes()
	if recs == 0 {
		return false
	}
	sh.mu.Lock()
	var taken time.Time
	if sh.snap != nil {
		taken = sh.snap.Taken
	} else {
		taken = sh.acquired
	}
	sh.mu.Unlock()
	return recs >= uint64(p.opts.SnapshotRecords) || bytes >= uint64(p.opts.SnapshotBytes) ||
		now.Sub(taken) >= p.opts.SnapshotInterval
}

// snapshotLoop takes the owned shards' snapshots when due, one at a time.
func (p *Provider) snapshotLoop() {
	defer p.wg.Done()
	tick := time.NewTicker(p.opts.snapshotCheck)
	defer tick.Stop()
	live := p.opts.Liveness.Loop(LoopSnapshots)
	for {
		select {
		case <-p.closing:
			return
		case now := <-tick.C:
			done := live.Busy()
			for _, sh := range p.ownedStates() {
				if !sh.serving.Load() || !p.valid(sh) || !p.snapshotDue(sh, now) {
					continue
				}
				if _, err := p.snapshotShard(p.closeCtx, sh); err != nil && !p.closed.Load() {
					p.log.Warn("snapshot", "shard", sh.id, "err", err)
				}
			}
			done()
		}
	}
}

// tailCounted notes a record of the shard above its snapshot, of size
// bytes.
func (sh *shardState) tailCounted(bytes int) { sh.tailCount.add(bytes) }

// tailCount counts a shard's log records above its latest snapshot: the
// records replayed above it and those the tailer delivered since, less
// those a later snapshot covers. Counts are cumulative; points remember
// the cumulative counts at log positions (noted with each dispatch mark
// pass), so that a snapshot at S subtracts what was counted up to S.
type tailCount struct {
	mu           sync.Mutex
	cumR, cumB   uint64
	baseR, baseB uint64
	points       []tailPoint
}

type tailPoint struct{ pos, cumR, cumB uint64 }

func (t *tailCount) add(bytes int) {
	t.mu.Lock()
	t.cumR++
	t.cumB += uint64(bytes)
	t.mu.Unlock()
}

// note records that every record counted so far is at or below pos.
func (t *tailCount) note(pos uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.points); n > 0 && t.points[n-1].cumR == t.cumR {
		return
	}
	t.points = append(t.points, tailPoint{pos, t.cumR, t.cumB})
}

// covered subtracts the records at or below seq: a snapshot covers them.
func (t *tailCount) covered(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := 0
	for i < len(t.points) && t.points[i].pos <= seq {
		t.baseR, t.baseB = t.points[i].cumR, t.points[i].cumB
		i++
	}
	t.points = append(t.points[:0], t.points[i:]...)
}

func (t *tailCount) records() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cumR - t.baseR
}

func (t *tailCount) bytes() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cumB - t.baseB
}

// ShardStorage describes the storage of one owned shard.
type ShardStorage struct {
	Shard int
	// TailRecords and TailBytes count the shard's log records above its
	// latest snapshot that this process has seen (replayed or tailed):
	// what a new owner replays after restoring the snapshot.
	TailRecords, TailBytes uint64
	// Snapshot is the shard's latest snapshot (Seq 0: none yet).
	Snapshot SnapshotInfo
}

// StorageStats is what the log and snapshot streams hold, and the owned
// shards' storage.
type StorageStats struct {
	// LogBytes and LogMessages are the log stream's size; SnapshotBytes
	// the snapshot stream's.
	LogBytes, LogMessages, SnapshotBytes uint64
	Shards                               []ShardStorage
}

// StorageStats reads the log and snapshot streams' sizes and reports the
// owned shards' storage (for metrics and the bench).
func (p *Provider) StorageStats(ctx context.Context) (StorageStats, error) {
	var out StorageStats
	li, err := p.logStream.Info(ctx)
	if err != nil {
		return out, fmt.Errorf("read log stream: %w", err)
	}
	out.LogBytes, out.LogMessages = li.State.Bytes, li.State.Msgs
	si, err := p.snapStream.Info(ctx)
	if err != nil {
		return out, fmt.Errorf("read snapshot stream: %w", err)
	}
	out.SnapshotBytes = si.State.Bytes
	for _, id := range p.OwnedShards() {
		sh := p.shard(id)
		if sh == nil {
			continue
		}
		s := ShardStorage{Shard: id, TailRecords: sh.tailCount.records(), TailBytes: sh.tailCount.bytes()}
		sh.mu.Lock()
		if sh.snap != nil {
			s.Snapshot = sh.snap.info()
		} else {
			s.Snapshot.Shard = id
		}
		sh.mu.Unlock()
		out.Shards = append(out.Shards, s)
	}
	return out, nil
}

// headerMsgSize is the header a headers-only delivery carries with the
// payload's size.
const headerMsgSize = "Nats-Msg-Size"

func msgSize(h nats.Header, fallback int) int {
	if n, err := strconv.Atoi(h.Get(headerMsgSize)); err == nil {
		return n
	}
	return fallback
}
