package jetstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// The tailer reads the headers of every record of the owned shards, in log
// order, from where each shard's recovery stopped: one ordered consumer for
// all of them (it resumes by itself after a reconnect or a server restart).
// One reader, not one per shard: the server finds a shard's next record by
// scanning the log from the reader's position, so a reader per shard would
// pass over every other shard's records, and each shard's reader would need
// its own subscription.
//
// Each record it delivers is noted in its shard (shardState.delivered); one
// that no commit of this process is writing is an orphan, for the completer.
// A shard's tailer position bounds its watermark.
//
// The owned shards change (AcquireShard, ReleaseShard): each change starts a
// new generation of the reader, over the shards owned then, from the lowest
// position among them. A shard skips the records at or below its position,
// so the records the new generation delivers again are noted once; the old
// generation is stopped once the new one runs, and whatever it still
// delivers is dropped.
type logTailer struct {
	// mu orders deliveries with a change of generation.
	mu     sync.Mutex
	gen    uint64
	cc     natsjs.ConsumeContext
	shards map[int]*shardState // the current generation's
}

// restartTailer starts a tailer generation over the owned shards and stops the
// previous one; with no shard owned it only stops. ownMu held. On error the
// previous generation keeps running.
func (p *Provider) restartTailer(ctx context.Context) error {
	if err := p.checkOpen(); err != nil {
		// Close has stopped the tailer (or is about to, under ownMu): a
		// generation started now would outlive it.
		return err
	}
	t := &p.tailer
	shards := p.ownedStates()
	var filters []string
	from := uint64(0)
	for _, id := range slices.Sorted(maps.Keys(shards)) {
		sh := shards[id]
		filters = append(filters, p.names.logShardFilter(id))
		if pos := sh.tailPos.Load() + 1; from == 0 || pos < from {
			from = pos
		}
	}
	t.mu.Lock()
	gen := t.gen + 1
	t.mu.Unlock()

	var cc natsjs.ConsumeContext
	ready := make(chan struct{})
	if len(filters) > 0 {
		cons, err := p.js.OrderedConsumer(ctx, p.names.logStream(), natsjs.OrderedConsumerConfig{
			FilterSubjects: filters,
			DeliverPolicy:  natsjs.DeliverByStartSequencePolicy,
			OptStartSeq:    from,
			HeadersOnly:    true,
		})
		if err != nil {
			return fmt.Errorf("create log tailer of %d shards: %w", len(filters), err)
		}
		cc, err = cons.Consume(func(m natsjs.Msg) {
			<-ready
			p.onTail(gen, m)
		}, natsjs.ConsumeErrHandler(func(_ natsjs.ConsumeContext, err error) {
			if !p.closed.Load() {
				p.log.Debug("log tailer", "err", err)
			}
		}))
		if err != nil {
			return fmt.Errorf("start log tailer of %d shards: %w", len(filters), err)
		}
	}
	t.mu.Lock()
	old := t.cc
	t.gen, t.cc, t.shards = gen, cc, shards
	t.mu.Unlock()
	close(ready)
	if old != nil {
		// Not waited for: what the old generation still delivers is
		// dropped (onTail), and an acquisition waits for no round trip.
		old.Stop()
	}
	return nil
}

// wakeTailer asks tailerLoop to start the tailer over the shards owned
// then.
func (p *Provider) wakeTailer() {
	select {
	case p.tailerWake <- struct{}{}:
	default:
	}
}

// tailerLoop starts the tailer over when asked (after a shard was
// dropped), until Close. A failed start is tried again a second later; in
// the meantime the running generation goes on, and onTail drops the records
// of the shards no longer owned.
func (p *Provider) tailerLoop() {
	defer p.wg.Done()
	retry := time.NewTimer(0)
	<-retry.C
	defer retry.Stop()
	for {
		select {
		case <-p.closing:
			return
		case <-p.tailerWake:
		case <-retry.C:
		}
		ctx, cancel := context.WithTimeout(p.closeCtx, requestTimeout)
		p.ownMu.Lock()
		err := p.restartTailer(ctx)
		p.ownMu.Unlock()
		cancel()
		if err != nil && !p.closed.Load() {
			p.log.Warn("restart log tailer", "err", err)
			retry.Reset(time.Second)
		}
	}
}

// stopTailer stops the tailer; ownMu held.
func (p *Provider) stopTailer() {
	t := &p.tailer
	t.mu.Lock()
	old := t.cc
	t.gen, t.cc, t.shards = t.gen+1, nil, nil
	t.mu.Unlock()
	if old != nil {
		stopConsumes(p, []natsjs.ConsumeContext{old})
	}
}

// onTail notes one record delivered by tailer generation gen.
func (p *Provider) onTail(gen uint64, m natsjs.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		return
	}
	seq := meta.Sequence.Stream
	id, mark, ok := p.names.parseLogSubject(m.Subject())
	if !ok {
		return
	}
	t := &p.tailer
	t.mu.Lock()
	defer t.mu.Unlock()
	sh := t.shards[id]
	if t.gen != gen || sh == nil || seq <= sh.tailPos.Load() || p.shard(id) != sh {
		return
	}
	writer := m.Headers().Get(writerHeader)
	switch {
	case mark:
		if writer != p.writer {
			own, err := strconv.ParseUint(m.Headers().Get(ownMarkHeader), 10, 64)
			if err == nil && sh.noteOwner(writer, own) {
				p.wakeCompleter()
			}
		}
	default:
		if writer == p.writer {
			writer = ""
		} else if writer == "" {
			writer = "?" // written by an earlier version of this package
		}
		if sh.delivered(seq, m.Subject(), writer, time.Now()) {
			p.wakeCompleter()
		}
		sh.tailCounted(msgSize(m.Headers(), 0))
	}
	sh.tailPos.Store(seq)
}

// Headers of the log's messages. Every record names its writer (one provider
// instance); every dispatch mark carries its writer's own mark: the highest
// log sequence of the shard at or below which everything that writer wrote
// is dispatched. Another process that sees one of the writer's records then
// knows, without dispatching it itself, when it has been.
const (
	writerHeader  = "Reprise-Writer"
	ownMarkHeader = "Reprise-Own-Mark"
)

// maxForeignGrace is how long a record of another writer may stay
// unconfirmed by that writer's own mark before the completer dispatches it
// itself (the writer died between publishing it and dispatching it).
const maxForeignGrace = 3 * time.Second

// foreignGrace is maxForeignGrace, or a quarter of the duplicate window if
// that is shorter. Both writers' copies of a record's messages carry the
// same ids, so the server drops the second only if it comes within the
// window of the first: dispatching another writer's record later than that
// after the writer did would run its tasks again. (With the default window
// of 10 minutes this is maxForeignGrace; a test that shortens the window to
// 1 s saw an activity of the other writer's record run twice.)
func foreignGrace(window time.Duration) time.Duration {
	return min(maxForeignGrace, window/4)
}

// The dispatch mark of a shard is one message on <p>.log.<shard>._mark
// (rolled up: the server keeps only the latest), saying "every record of this
// shard at or below W is applied and dispatched". It lives in the log, so it
// is as durable and replicated as the records, and whoever owns the shard
// next reads it: recovery dispatches again only the records above it.
const markVersion = 1

func encodeMark(w uint64) []byte {
	b := []byte{markVersion}
	return binary.AppendUvarint(b, w)
}

func decodeMark(b []byte) (uint64, error) {
	if len(b) < 2 || b[0] != markVersion {
		return 0, fmt.Errorf("%w: dispatch mark of %d bytes", errCorrupt, len(b))
	}
	w, n := binary.Uvarint(b[1:])
	if n <= 0 || n != len(b)-1 {
		return 0, fmt.Errorf("%w: dispatch mark", errCorrupt)
	}
	return w, nil
}

// readMark returns the shard's dispatch mark in the log and its log
// sequence; a shard without one (written by an earlier version of this
// package) falls back to the store's dispatch watermark.
func (p *Provider) readMark(ctx context.Context, shard int) (w, seq uint64, err error) {
	m, err := p.logStream.GetLastMsgForSubject(ctx, p.names.markSubject(shard))
	if errors.Is(err, natsjs.ErrMsgNotFound) {
		w, err := p.store.Watermark(legacyDispatchWatermark(shard))
		return w, 0, err
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read dispatch mark of shard %d: %w", shard, err)
	}
	w, err = decodeMark(m.Data)
	if err != nil {
		return 0, 0, fmt.Errorf("dispatch mark of shard %d: %w", shard, err)
	}
	return w, m.Sequence, nil
}

// markMsg is the dispatch mark w of shard, replacing the previous one, with
// this writer's own mark.
func (p *Provider) markMsg(shard int, w, own uint64) *nats.Msg {
	m := nats.NewMsg(p.names.markSubject(shard))
	m.Data = encodeMark(w)
	m.Header.Set(natsjs.MsgRollup, natsjs.MsgRollupSubject)
	m.Header.Set(writerHeader, p.writer)
	m.Header.Set(ownMarkHeader, strconv.FormatUint(own, 10))
	return m
}

// writeMarks advances the watermark of the given shards (default: every
// owned shard) and writes those that moved: to the log as dispatch marks
// (pipelined, one round trip for all), and to the store as log watermarks
// (where recovery resumes applying). A shard whose deadline has passed is
// skipped: it may have another owner.
func (p *Provider) writeMarks(ctx context.Context, only ...*shardState) {
	shards := only
	if len(shards) == 0 {
		for _, sh := range p.ownedStates() {
			shards = append(shards, sh)
		}
	}
	type write struct {
		sh     *shardState
		w, own uint64
		f      natsjs.PubAckFuture
	}
	var writes, due []write
	local := map[string]uint64{}
	late := p.takeLateAcks()
	for _, sh := range shards {
		if !p.valid(sh) {
			continue
		}
		pos := sh.tailPos.Load()
		sh.tailCount.note(pos)
		w, own := sh.advance(pos)
		sh.mu.Lock()
		needs, storeIt := sh.needsMark(w, own), min(w, sh.lastRecord) > sh.stored
		sh.mu.Unlock()
		if storeIt {
			local[logWatermark(sh.id)] = w
		}
		if needs {
			due = append(due, write{sh: sh, w: w, own: own})
		}
	}
	if p.opts.Durable != nil && (len(due) > 0 || len(local) > 0 || len(late) > 0) {
		// A mark (and the store's watermark) names records as dispatched:
		// they, and the messages they sent, must be durable first; so must
		// the records that consumed the late acks' deliveries (durable.go).
		if err := p.syncDurable(ctx); err != nil {
			p.log.Warn("write dispatch marks", "err", err)
			// The late deliveries come back after the ack wait.
			return
		}
	}
	for _, m := range late {
		_ = m.Ack()
	}
	for _, wr := range due {
		f, err := p.js.PublishMsgAsync(p.markMsg(wr.sh.id, wr.w, wr.own))
		if err != nil {
			p.log.Warn("write dispatch mark", "shard", wr.sh.id, "err", err)
			continue
		}
		wr.f = f
		writes = append(writes, wr)
	}
	for _, wr := range writes {
		select {
		case ack := <-wr.f.Ok():
			wr.sh.mu.Lock()
			wr.sh.published = max(wr.sh.published, wr.w)
			wr.sh.publishedOwn = max(wr.sh.publishedOwn, wr.own)
			wr.sh.markSeq = ack.Sequence
			wr.sh.mu.Unlock()
		case err := <-wr.f.Err():
			p.log.Warn("write dispatch mark", "shard", wr.sh.id, "err", err)
		case <-ctx.Done():
			return
		}
	}
	if len(local) == 0 {
		return
	}
	if err := p.store.Apply(nil, local); err != nil {
		p.log.Warn("persist log watermarks", "err", err)
		return
	}
	for _, sh := range shards {
		if w, ok := local[logWatermark(sh.id)]; ok {
			sh.mu.Lock()
			sh.stored = max(sh.stored, w)
			sh.mu.Unlock()
		}
	}
}

// markLoop writes the dispatch marks every Options.MarkInterval.
func (p *Provider) markLoop() {
	defer p.wg.Done()
	tick := time.NewTicker(p.opts.MarkInterval)
	defer tick.Stop()
	live := p.opts.Liveness.Loop(LoopMarks)
	for {
		select {
		case <-p.closing:
			return
		case <-tick.C:
			done := live.Busy()
			p.writeMarks(p.closeCtx)
			done()
		}
	}
}

// DispatchMark returns the shard's watermark: every record of the shard at
// or below it is applied to the store and dispatched, and whether that
// watermark is written to the log (a new owner of the shard would not send
// those records' messages again). ok is false for a shard this provider does
// not own.
func (p *Provider) DispatchMark(shard int) (w uint64, durable, ok bool) {
	sh := p.shard(shard)
	if sh == nil {
		return 0, false, false
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.mark, sh.published >= sh.mark, true
}

// Settled reports whether every record of the owned shards that this
// provider wrote or has read is applied, dispatched and confirmed by a
// dispatch mark in the log, with no repair outstanding: a crash now would
// make a new owner of these shards send nothing again. Tests and operators
// use it to tell a quiescent provider.
func (p *Provider) Settled() bool {
	p.repairMu.Lock()
	repairs := len(p.repairs)
	p.repairMu.Unlock()
	if repairs > 0 {
		return false
	}
	for _, sh := range p.ownedStates() {
		if !p.shardSettled(sh) {
			return false
		}
	}
	return true
}

// parseLogSubject returns the shard of a log subject and whether it is the
// shard's dispatch mark.
func (n names) parseLogSubject(subject string) (shard int, mark, ok bool) {
	rest, found := strings.CutPrefix(subject, n.prefix+".log.")
	if !found {
		return 0, false, false
	}
	num, tok, found := strings.Cut(rest, ".")
	if !found {
		return 0, false, false
	}
	s, err := strconv.Atoi(num)
	if err != nil {
		return 0, false, false
	}
	return s, tok == markToken, true
}
