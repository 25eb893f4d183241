package runtime

import (
	"strconv"
	"time"

	"github.com/reprise/reprise/provider"
)

// Scheduled starts.
//
// A client start with a start time ([StartMessage] with a non-zero at) is
// sent at once, marked flagSchedule and carrying the time. The turn that
// takes it (for a new id, or as a reuse start over a finished instance)
// runs no code when the time is still ahead: it commits the instance as
// [StatusScheduled] — metadata status, name, version, partition,
// [MetaScheduledAt] and [MetaScheduledMessage] — and sends the instance a
// copy of the start, the fire message (flagFire), delayed until the start
// time. The provider keeps the delayed message like a timer's, across
// restarts of the orchestrators.
//
// Invariants:
//   - A fire message starts the instance only while it is Scheduled and only
//     if its message id is the one the metadata records: a fire that arrives
//     after a terminate, a purge, or a later schedule of the same id (a
//     stale copy the provider failed to cancel) does nothing.
//   - A terminate (from a client) taken before the fire ends the instance as
//     Terminated without running any code, and cancels the fire message;
//     a terminate that comes after the fire, in the same batch or later,
//     terminates the running instance as usual.
//   - While Scheduled, raised events, suspend and resume are dropped (the
//     instance has no execution to record them in); child starts of the
//     same id are refused as for any instance in use.
//   - Scheduled is not terminal: a start of the id is refused whatever the
//     reuse policy, and Wait keeps waiting.

// idFire tags the fire message of a scheduled start; n is the scheduling
// turn's time, so that scheduling one id again (after a purge) never reuses
// an id the provider may still dedupe.
const idFire = 'f'

// isScheduleStart reports a client start that asks to be scheduled.
func (in *inbound) isScheduleStart() bool {
	return in.env.kind == msgStart && in.env.flags&flagSchedule != 0
}

// isFire reports the delayed fire message of a scheduled start.
func (in *inbound) isFire() bool {
	return in.env.kind == msgStart && in.env.flags&flagFire != 0
}

// scheduleTurn handles a batch for an instance that is Scheduled or that a
// start in the batch schedules. ok is false when the turn goes on as usual:
// nothing is scheduled, or the schedule's fire message is in the batch
// before any terminate (enter starts the execution from it).
func (e *Engine) scheduleTurn(b *provider.EntityBatch, msgs []inbound, prior Status, now time.Time) (res turnResult, ok bool) {
	id := b.Lock.Entity
	var (
		start     *inbound // the schedule start taken in this turn, if any
		partition = b.Partition
		rest      = msgs
	)
	switch {
	case prior == StatusScheduled:
	case prior.IsTerminal() || (prior == "" && len(b.History) == 0):
		i := -1
		if prior.IsTerminal() {
			i = indexOf(msgs, findReuseStart(msgs))
			partition++
		} else {
			i = indexOf(msgs, firstStart(msgs))
		}
		if i < 0 || !msgs[i].isScheduleStart() || !msgs[i].env.ev.Time.After(now) {
			return turnResult{}, false
		}
		start, rest = &msgs[i], msgs[i+1:]
	default:
		return turnResult{}, false
	}

	// scratch answers child starts that collide with the scheduled id.
	scratch := e.newInstance(id, partition)
	scratch.terminal = true
	scratch.beginTurn(now)
	if start != nil {
		// Starts before the one taken met a finished instance (or none).
		for i := range msgs[:indexOf(msgs, start)] {
			if msgs[i].env.kind == msgStart {
				e.rejectStart(scratch, &msgs[i])
			}
		}
	}
	var terminate *inbound
	for i := range rest {
		in := &rest[i]
		switch {
		case in.env.kind == msgTerminate && in.env.ev.Parent == nil:
			terminate = in
		case in.isFire() && start == nil && in.msg.ID == b.Metadata[MetaScheduledMessage] && in.env.partition == b.Partition:
			return turnResult{}, false
		case in.env.kind == msgStart:
			e.rejectStart(scratch, in)
		}
		if terminate != nil {
			break
		}
	}
	// Starts after a terminate are answered too.
	if terminate != nil {
		for i := indexOf(rest, terminate) + 1; i < len(rest); i++ {
			if rest[i].env.kind == msgStart && !rest[i].isFire() {
				e.rejectStart(scratch, &rest[i])
			}
		}
	}

	stamp := now.UTC().Format(time.RFC3339Nano)
	c := provider.Commit{Partition: partition, Send: scratch.send}
	res = turnResult{name: b.Metadata[MetaName]}
	switch {
	case start != nil:
		ev := &start.env.ev
		res.name = ev.Name
		// The start's retention (retention.go) is recorded now and
		// carried by the fire.
		res.fresh, res.retention = true, ev.Timeout
		c.SetMetadata = provider.Metadata{
			MetaStatus: string(StatusScheduled), MetaName: ev.Name, MetaPartition: strconv.FormatUint(partition, 10),
			MetaScheduledAt: ev.Time.UTC().Format(time.RFC3339Nano), MetaCreatedAt: stamp, MetaUpdatedAt: stamp,
		}
		if ev.Version != "" {
			c.SetMetadata[MetaVersion] = ev.Version
		}
		// A previous execution's results do not carry over.
		for _, k := range []string{MetaVersion, MetaOutput, MetaError, MetaCustomStatus, MetaScheduledMessage} {
			if _, set := c.SetMetadata[k]; !set && b.Metadata[k] != "" {
				c.DeleteMetadata = append(c.DeleteMetadata, k)
			}
		}
		if terminate == nil {
			fire := envelope{kind: msgStart, flags: flagFire, partition: partition,
				ev: Event{Name: ev.Name, Version: ev.Version, Payload: ev.Payload, Time: ev.Time, Timeout: ev.Timeout}}
			msgID := messageID(id, partition, idFire, uint64(now.UnixNano()))
			c.SetMetadata[MetaScheduledMessage] = msgID
			c.Send = append(c.Send, provider.Outgoing{Queue: e.orchestratorQueue, Message: provider.Message{
				ID: msgID, Entity: id, Data: encodeEnvelope(&fire), NotBefore: ev.Time,
			}})
			res.status = StatusScheduled
		}
	case terminate != nil:
		c.SetMetadata = provider.Metadata{MetaUpdatedAt: stamp}
		if ref := b.Metadata[MetaScheduledMessage]; ref != "" {
			c.Cancel = []provider.MessageRef{{Queue: e.orchestratorQueue, ID: ref}}
		}
	}
	if terminate != nil {
		f := &Error{Type: typeTerminated, Message: "terminated before its scheduled start: " + terminate.env.ev.Reason}
		c.SetMetadata[MetaStatus] = string(StatusTerminated)
		c.SetMetadata[MetaError] = f.Error()
		for _, k := range []string{MetaScheduledAt, MetaScheduledMessage} {
			if _, set := c.SetMetadata[k]; set {
				delete(c.SetMetadata, k)
			} else if b.Metadata[k] != "" {
				c.DeleteMetadata = append(c.DeleteMetadata, k)
			}
		}
		res.status = StatusTerminated
	}
	if res.status == "" {
		res.status = prior
	}
	res.commit = c
	res.statusChanged = res.status != prior || partition != b.Partition
	return res, true
}

// findFire returns the fire message of the schedule the metadata records,
// or nil.
func findFire(msgs []inbound, b *provider.EntityBatch) *inbound {
	for i := range msgs {
		if msgs[i].isFire() && msgs[i].msg.ID == b.Metadata[MetaScheduledMessage] && msgs[i].env.partition == b.Partition {
			return &msgs[i]
		}
	}
	return nil
}

// indexOf returns the index of the element in points to in msgs, or -1.
func indexOf(msgs []inbound, in *inbound) int {
	for i := range msgs {
		if &msgs[i] == in {
			return i
		}
	}
	return -1
}
