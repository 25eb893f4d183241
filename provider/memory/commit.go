package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/reprise/reprise/provider"
)

// The steps of a commit, in order. Every step before the swap only stages
// new values; the swap that follows the last step cannot fail, so a commit
// failed at any step — by a rejected argument or an injected fault — leaves
// the provider exactly as it was, lock included.
const (
	stepValidate = "validate" // the lock, the partition, event Seqs, messages
	stepAppend   = "append"   // the partition's new event list
	stepMetadata = "metadata" // the new metadata and its index changes
	stepSend     = "send"     // the outgoing messages and cancellations
	stepAck      = "ack"      // the consumed messages and the lock release
)

func commitSteps() []string {
	return []string{stepValidate, stepAppend, stepMetadata, stepSend, stepAck}
}

// CommitSteps lists the commit steps at which [Provider.FailNextCommitAt] can
// inject a fault, in order.
func (p *Provider) CommitSteps() []string { return commitSteps() }

// FailNextCommitAt makes the next Commit fail with an error wrapping
// [provider.ErrInjectedFault] at step, changing nothing. The arming is used
// up by the next Commit whatever happens to it; an unknown step makes that
// commit fail with [provider.ErrInvalidArgument] instead.
func (p *Provider) FailNextCommitAt(step string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failAt = step
}

// stagedCommit holds the new values a commit will swap in.
type stagedCommit struct {
	queue  *entityQueue
	inbox  *inbox
	record *entityRecord // nil: the entity commits for the first time
	// events are the new events sorted by Seq; appendOnly is set when they
	// all follow the partition's last event, so they can be appended in
	// place; otherwise merged is the partition's whole new event list.
	events     []provider.Event
	appendOnly bool
	merged     []provider.Event
	metadata   provider.Metadata
}

// Commit applies c atomically under lock. See [provider.Provider.Commit].
func (p *Provider) Commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) error {
	if err := p.lockOpen("commit"); err != nil {
		return err
	}
	defer p.mu.Unlock()
	failAt := p.failAt
	p.failAt = ""
	if failAt != "" && !slices.Contains(commitSteps(), failAt) {
		return fmt.Errorf("memory: commit: %w: unknown fault step %q (steps: %v)", provider.ErrInvalidArgument, failAt, commitSteps())
	}
	fault := func(step string) error {
		if step == failAt {
			return fmt.Errorf("memory: commit of entity %q: step %q: %w", lock.Entity, step, provider.ErrInjectedFault)
		}
		return nil
	}
	now := p.clock.Now()

	if err := fault(stepValidate); err != nil {
		return err
	}
	s, err := p.validateCommit(lock, c, now)
	if err != nil {
		return err
	}
	if err := fault(stepAppend); err != nil {
		return err
	}
	s.stageEvents(c)
	if err := fault(stepMetadata); err != nil {
		return err
	}
	s.stageMetadata(c)
	if err := fault(stepSend); err != nil {
		return err
	}
	// Outgoing messages and cancellations were validated; enqueue copies
	// them at the swap, so there is nothing more to stage.
	if err := fault(stepAck); err != nil {
		return err
	}
	p.swap(s, lock.Entity, c, now)
	return nil
}

// validateCommit checks the lock and every part of c. Callers hold p.mu.
func (p *Provider) validateCommit(lock provider.EntityLock, c provider.Commit, now time.Time) (*stagedCommit, error) {
	q, err := p.entityQueueFor(lock.Queue)
	if err != nil {
		return nil, err
	}
	in, err := q.heldLock(lock, now)
	if err != nil {
		return nil, err
	}
	s := &stagedCommit{queue: q, inbox: in, record: p.entities[lock.Entity]}
	var current uint64
	if s.record != nil {
		current = s.record.partition
	}
	if c.Partition < current {
		return nil, fmt.Errorf("memory: commit of entity %q to partition %d: %w (current is %d)",
			lock.Entity, c.Partition, provider.ErrStalePartition, current)
	}
	var stored []provider.Event
	if s.record != nil {
		stored = s.record.partitions[c.Partition]
	}
	seen := make(map[uint64]struct{}, len(c.Events))
	for _, e := range c.Events {
		if _, dup := seen[e.Seq]; dup || hasSeq(stored, e.Seq) {
			return nil, fmt.Errorf("memory: commit of entity %q: %w: seq %d in partition %d",
				lock.Entity, provider.ErrDuplicateEvent, e.Seq, c.Partition)
		}
		seen[e.Seq] = struct{}{}
	}
	for _, o := range c.Send {
		if err := provider.ValidateOutgoing(o); err != nil {
			return nil, fmt.Errorf("memory: commit of entity %q: %w", lock.Entity, err)
		}
	}
	if err := provider.ValidateExpiry(c); err != nil {
		return nil, fmt.Errorf("memory: commit of entity %q: %w", lock.Entity, err)
	}
	for _, ref := range c.Cancel {
		if err := provider.ValidateQueueName(ref.Queue); err != nil {
			return nil, fmt.Errorf("memory: commit of entity %q: cancel: %w", lock.Entity, err)
		}
	}
	return s, nil
}

// stageEvents copies and sorts the new events and decides how they join the
// partition.
func (s *stagedCommit) stageEvents(c provider.Commit) {
	if len(c.Events) == 0 {
		return
	}
	s.events = cloneEvents(c.Events)
	slices.SortFunc(s.events, func(a, b provider.Event) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	var stored []provider.Event
	if s.record != nil {
		stored = s.record.partitions[c.Partition]
	}
	if len(stored) == 0 || stored[len(stored)-1].Seq < s.events[0].Seq {
		s.appendOnly = true
		return
	}
	merged := make([]provider.Event, 0, len(stored)+len(s.events))
	i, j := 0, 0
	for i < len(stored) || j < len(s.events) {
		if j == len(s.events) || (i < len(stored) && stored[i].Seq < s.events[j].Seq) {
			merged = append(merged, stored[i])
			i++
		} else {
			merged = append(merged, s.events[j])
			j++
		}
	}
	s.merged = merged
}

// stageMetadata builds the entity's new metadata: upserts first, then
// deletions, so a key both set and deleted is deleted.
func (s *stagedCommit) stageMetadata(c provider.Commit) {
	var old provider.Metadata
	if s.record != nil {
		old = s.record.metadata
	}
	if len(c.SetMetadata) == 0 && len(c.DeleteMetadata) == 0 && old != nil {
		s.metadata = old
		return
	}
	s.metadata = cloneMetadata(old)
	for k, v := range c.SetMetadata {
		s.metadata[k] = v
	}
	for _, k := range c.DeleteMetadata {
		delete(s.metadata, k)
	}
}

// swap makes a staged commit visible. Nothing here can fail. Callers hold
// p.mu.
func (p *Provider) swap(s *stagedCommit, entity string, c provider.Commit, now time.Time) {
	rec := s.record
	if rec == nil {
		rec = &entityRecord{partitions: map[uint64][]provider.Event{}}
		p.entities[entity] = rec
	}
	switch {
	case s.appendOnly:
		rec.partitions[c.Partition] = append(rec.partitions[c.Partition], s.events...)
	case s.merged != nil:
		rec.partitions[c.Partition] = s.merged
	}
	rec.partition = c.Partition
	p.index.update(entity, rec.metadata, s.metadata)
	rec.metadata = s.metadata
	p.scheduleExpiry(entity, rec, c)

	s.queue.ackLocked(s.inbox, now)
	for _, ref := range c.Cancel {
		p.cancel(ref)
	}
	for _, o := range c.Send {
		p.enqueue(o, now)
	}
	p.broadcast()
}
