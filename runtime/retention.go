package runtime

import (
	"slices"
	"time"

	"github.com/reprise/reprise/provider"
)

// DefaultRetention is how long a finished instance, and each earlier
// execution of a continued-as-new one, is kept before the provider deletes
// it, unless [EngineOptions.Retention] or the start says otherwise.
const DefaultRetention = 7 * 24 * time.Hour

// Metadata keys of retention.
const (
	// MetaRetention is the instance's own retention (a Go duration), set
	// when its start carried one; absent, the engine's applies.
	MetaRetention = "retention"
	// MetaExpiresAt is when a finished instance is deleted (RFC 3339).
	MetaExpiresAt = "expiresAt"
)

// retain sets the expiries of a turn's commit; the engine alone decides
// them, the provider only carries them out (provider.Commit.ExpireAt):
//
//   - An instance that is finished after the commit (Completed, Failed,
//     Terminated) expires its retention after it finished: the turn that
//     finishes it sets now + retention; a later turn (a late message,
//     dropped) sets the same time again, since every commit sets the
//     entity's expiry anew.
//   - An instance that runs (again: a reuse start over a finished one)
//     has no expiry.
//   - A commit that starts a new execution in a higher partition
//     (continue-as-new, a reuse start) expires the partitions below it
//     after the retention: the earlier executions.
//   - Messages to an id that never started are dropped by a commit that
//     creates an empty entity: it expires at once.
//
// The retention is the start's (kept in metadata as MetaRetention for the
// executions that continue it), or the engine's.
func (e *Engine) retain(res *turnResult, b *provider.EntityBatch, now time.Time) {
	if res.abandon {
		return
	}
	c := &res.commit
	set := func(k, v string) {
		if c.SetMetadata == nil {
			c.SetMetadata = provider.Metadata{}
		}
		c.SetMetadata[k] = v
	}
	unset := func(k string) {
		if b.Metadata[k] != "" && !slices.Contains(c.DeleteMetadata, k) {
			c.DeleteMetadata = append(c.DeleteMetadata, k)
		}
	}
	keep := e.retention
	switch {
	case res.fresh && res.retention > 0:
		keep = res.retention
		set(MetaRetention, res.retention.String())
	case res.fresh:
		unset(MetaRetention)
	default:
		if d, err := time.ParseDuration(b.Metadata[MetaRetention]); err == nil && d > 0 {
			keep = d
		}
	}
	status := Status(b.Metadata[MetaStatus])
	if s, ok := c.SetMetadata[MetaStatus]; ok {
		status = Status(s)
	}
	switch {
	case status.IsTerminal():
		prior := Status(b.Metadata[MetaStatus])
		if prior.IsTerminal() && !res.fresh && c.Partition == b.Partition {
			if at, err := time.Parse(time.RFC3339Nano, b.Metadata[MetaExpiresAt]); err == nil {
				c.ExpireAt = at
				break
			}
		}
		c.ExpireAt = now.Add(keep)
		set(MetaExpiresAt, c.ExpireAt.UTC().Format(time.RFC3339Nano))
	case status == "" && len(b.Metadata) == 0 && len(b.History) == 0 && len(c.Events) == 0:
		c.ExpireAt = now
	default:
		unset(MetaExpiresAt)
	}
	if c.Partition > b.Partition {
		c.ExpirePartitions = provider.PartitionExpiry{Below: c.Partition, At: now.Add(keep)}
	}
}
