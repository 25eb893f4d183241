package provider

import (
	"fmt"
	"slices"
)

// MaxEntityLen is the longest entity key, in bytes, that providers accept.
const MaxEntityLen = 1024

// MaxQueueNameLen is the longest queue name providers accept.
const MaxQueueNameLen = 64

// ValidateQueueName reports whether name is a usable queue name: 1 to
// MaxQueueNameLen characters from [A-Za-z0-9_-]. Names are restricted so every
// provider can use them verbatim in keys and subjects.
func ValidateQueueName(name string) error {
	if name == "" || len(name) > MaxQueueNameLen {
		return fmt.Errorf("%w: queue name %q must be 1 to %d characters", ErrInvalidQueue, name, MaxQueueNameLen)
	}
	for _, r := range name {
		ok := r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("%w: queue name %q may only contain letters, digits, '-' and '_'", ErrInvalidQueue, name)
		}
	}
	return nil
}

// ValidateEntity reports whether entity is a usable entity key: non-empty and
// at most MaxEntityLen bytes. Any bytes are allowed.
func ValidateEntity(entity string) error {
	if entity == "" {
		return fmt.Errorf("%w: empty entity", ErrInvalidArgument)
	}
	if len(entity) > MaxEntityLen {
		return fmt.Errorf("%w: entity is %d bytes, the limit is %d", ErrInvalidArgument, len(entity), MaxEntityLen)
	}
	return nil
}

// ValidateOutgoing checks the envelope of a message to be sent.
func ValidateOutgoing(o Outgoing) error {
	if err := ValidateQueueName(o.Queue); err != nil {
		return err
	}
	if o.Message.ID == "" {
		return fmt.Errorf("%w: message to queue %q has an empty ID", ErrInvalidArgument, o.Queue)
	}
	if err := ValidateEntity(o.Message.Entity); err != nil {
		return fmt.Errorf("message %q to queue %q: %w", o.Message.ID, o.Queue, err)
	}
	return nil
}

// ValidateTopology checks a topology and returns it with defaults applied.
func ValidateTopology(t Topology) (Topology, error) {
	if len(t.EntityQueues) == 0 {
		return t, fmt.Errorf("%w: topology declares no entity-locked queue", ErrInvalidArgument)
	}
	for _, q := range t.EntityQueues {
		if err := ValidateQueueName(q); err != nil {
			return t, err
		}
	}
	if t.LockTimeout <= 0 {
		t.LockTimeout = DefaultLockTimeout
	}
	if t.DeadLetterQueue == "" {
		t.DeadLetterQueue = t.EntityQueues[0]
	}
	if !slices.Contains(t.EntityQueues, t.DeadLetterQueue) {
		return t, fmt.Errorf("%w: dead-letter queue %q is not an entity-locked queue", ErrInvalidQueue, t.DeadLetterQueue)
	}
	if t.MaxDeliveries < 0 {
		return t, fmt.Errorf("%w: MaxDeliveries %d is negative", ErrInvalidArgument, t.MaxDeliveries)
	}
	return t, nil
}

// IsEntityQueue reports whether queue is declared entity-locked in t.
func (t Topology) IsEntityQueue(queue string) bool {
	return slices.Contains(t.EntityQueues, queue)
}

// IsIndexed reports whether key is declared indexed in t.
func (t Topology) IsIndexed(key string) bool {
	return slices.Contains(t.IndexedKeys, key)
}

// ValidateExpiry checks a commit's expiry fields: a partition expiry must
// name a time, and may not reach the commit's partition (the current one
// after the commit).
func ValidateExpiry(c Commit) error {
	pe := c.ExpirePartitions
	if pe.Below == 0 {
		return nil
	}
	if pe.Below > c.Partition {
		return fmt.Errorf("%w: partition expiry below %d reaches the commit's partition %d, which must be kept",
			ErrInvalidArgument, pe.Below, c.Partition)
	}
	if pe.At.IsZero() {
		return fmt.Errorf("%w: partition expiry below %d has no time", ErrInvalidArgument, pe.Below)
	}
	return nil
}
