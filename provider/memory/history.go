package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/reprise/reprise/provider"
)

// entityRecord is what an entity has committed: its partitions of history,
// which one is current, and its metadata. It exists from the entity's first
// commit until DeleteEntity.
type entityRecord struct {
	partition  uint64
	partitions map[uint64][]provider.Event // each sorted by Seq, Data owned
	metadata   provider.Metadata
	// expiryGen counts the commits, each of which sets the entity's expiry
	// anew (expiry.go).
	expiryGen uint64
}

// cloneEvents deep-copies events into one allocation for all their data.
// Each copy's Data is capped at its length, so appending to one never
// overwrites the next.
func cloneEvents(events []provider.Event) []provider.Event {
	if len(events) == 0 {
		return nil
	}
	size := 0
	for _, e := range events {
		size += len(e.Data)
	}
	buf := make([]byte, 0, size)
	out := make([]provider.Event, len(events))
	for i, e := range events {
		out[i].Seq = e.Seq
		if e.Data != nil {
			start := len(buf)
			buf = append(buf, e.Data...)
			out[i].Data = buf[start:len(buf):len(buf)]
		}
	}
	return out
}

// hasSeq reports whether the Seq-sorted events contain seq.
func hasSeq(events []provider.Event, seq uint64) bool {
	_, found := slices.BinarySearchFunc(events, seq, func(e provider.Event, s uint64) int {
		switch {
		case e.Seq < s:
			return -1
		case e.Seq > s:
			return 1
		}
		return 0
	})
	return found
}

// History returns a copy of the events of one partition in Seq order; an
// unknown entity or partition has no events.
func (p *Provider) History(ctx context.Context, entity string, partition uint64) ([]provider.Event, error) {
	if err := provider.ValidateEntity(entity); err != nil {
		return nil, fmt.Errorf("memory: history: %w", err)
	}
	if err := p.lockOpen("history"); err != nil {
		return nil, err
	}
	defer p.mu.Unlock()
	rec := p.entities[entity]
	if rec == nil {
		return nil, nil
	}
	return cloneEvents(rec.partitions[partition]), nil
}

// CurrentPartition returns the entity's current partition, or ErrNotFound if
// it never committed.
func (p *Provider) CurrentPartition(ctx context.Context, entity string) (uint64, error) {
	if err := provider.ValidateEntity(entity); err != nil {
		return 0, fmt.Errorf("memory: current partition: %w", err)
	}
	if err := p.lockOpen("current partition"); err != nil {
		return 0, err
	}
	defer p.mu.Unlock()
	rec := p.entities[entity]
	if rec == nil {
		return 0, fmt.Errorf("memory: entity %q: %w", entity, provider.ErrNotFound)
	}
	return rec.partition, nil
}

// Metadata returns a copy of the entity's metadata, or ErrNotFound if it
// never committed.
func (p *Provider) Metadata(ctx context.Context, entity string) (provider.Metadata, error) {
	if err := provider.ValidateEntity(entity); err != nil {
		return nil, fmt.Errorf("memory: metadata: %w", err)
	}
	if err := p.lockOpen("metadata"); err != nil {
		return nil, err
	}
	defer p.mu.Unlock()
	rec := p.entities[entity]
	if rec == nil {
		return nil, fmt.Errorf("memory: entity %q: %w", entity, provider.ErrNotFound)
	}
	return cloneMetadata(rec.metadata), nil
}

// DeleteEntity removes the entity's history, metadata and index entries, and
// its messages in every queue, locked ones included: a lock held on it is
// lost. Deleting an unknown entity is not an error.
func (p *Provider) DeleteEntity(ctx context.Context, entity string) error {
	if err := provider.ValidateEntity(entity); err != nil {
		return fmt.Errorf("memory: delete entity: %w", err)
	}
	if err := p.lockOpen("delete entity"); err != nil {
		return err
	}
	defer p.mu.Unlock()
	if rec := p.entities[entity]; rec != nil {
		p.index.update(entity, rec.metadata, nil)
		delete(p.entities, entity)
	}
	for _, q := range p.entityQueues {
		q.removeEntity(entity)
	}
	for _, q := range p.workQueues {
		q.removeEntity(entity)
	}
	return nil
}
