package providertest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/memory"
	"github.com/reprise/reprise/provider/providertest"
)

// The suite is only as good as the bugs it catches. These tests run it, in a
// child process, against the memory provider with one deliberate bug each,
// and require the named conformance test to fail; and against the unbroken
// provider, requiring the same tests to pass.

const mutantEnv = "PROVIDERTEST_MUTANT"

// mutant is a deliberate bug and the conformance test that must catch it.
type mutant struct {
	name   string
	catch  string // Group/Test
	mutate func(provider.Provider) provider.Provider
}

func mutants() []mutant {
	return []mutant{
		{"history-unsorted", "Partitions/HistoryIsInNumericSeqOrder", func(p provider.Provider) provider.Provider { return historyReversed{p} }},
		{"partition-ignored", "Partitions/HigherPartitionBecomesCurrent", func(p provider.Provider) provider.Provider { return partitionIgnored{p} }},
		{"metadata-delete-ignored", "Metadata/DeleteMetadataRemovesKeys", func(p provider.Provider) provider.Provider { return deleteIgnored{p} }},
		{"attempt-always-one", "DelaysAndAttempts/AttemptStartsAtOneAndCountsEveryAbandon", func(p provider.Provider) provider.Provider { return attemptReset{p} }},
		{"not-before-ignored", "DelaysAndAttempts/DelayedMessageIsNotFetchedBeforeNotBefore", func(p provider.Provider) provider.Provider { return notBeforeIgnored{p} }},
		{"rejected-commit-still-sends", "Atomicity/DuplicateSeqCommitChangesNothing", func(p provider.Provider) provider.Provider { return leakySend{p} }},
		{"list-descending", "Listing/ListPagesInAscendingOrder", func(p provider.Provider) provider.Provider { return listReversed{p} }},
		{"delete-is-a-no-op", "Delete/DeleteRemovesEveryPartition", func(p provider.Provider) provider.Provider { return deleteNoOp{p} }},
		{"renew-is-a-no-op", "LockExpiryAndRenewal/RenewedEntityLockIsKept", func(p provider.Provider) provider.Provider { return renewNoOp{p} }},
		{"dedup-missing", "Dedup/PendingMessageIDIsNotEnqueuedTwice", func(p provider.Provider) provider.Provider { return dedupMissing{p, new(atomic.Uint64)} }},
		{"payload-trimmed", "Opacity/EventPayloadsRoundTripByteForByte", func(p provider.Provider) provider.Provider { return payloadTrimmed{p} }},
		{"partial-commit-on-fault", "FaultInjection/FaultAtEveryStepIsAllOrNothing", func(p provider.Provider) provider.Provider {
			return partialOnFault{p.(*memory.Provider), new(atomic.Bool)}
		}},
		{"expiry-ignored", "Expiry/ExpiredEntityIsDeleted", func(p provider.Provider) provider.Provider { return expiryIgnored{p} }},
		{"expiry-too-early", "Expiry/EntityIsNotDeletedBeforeItsExpiry", func(p provider.Provider) provider.Provider { return expiryEarly{p} }},
		{"expiry-kept-by-later-commit", "Expiry/LaterCommitReplacesTheExpiry", func(p provider.Provider) provider.Provider {
			return expirySticky{p, &stickyExpiries{at: map[string]time.Time{}}}
		}},
		{"partition-expiry-ignored", "Expiry/PartitionExpiryKeepsTheCurrentPartition", func(p provider.Provider) provider.Provider { return partitionExpiryIgnored{p} }},
		{"partition-expiry-takes-current", "Expiry/PartitionExpiryKeepsTheCurrentPartition", func(p provider.Provider) provider.Provider {
			return partitionExpiryGreedy{p, &stickyExpiries{at: map[string]time.Time{}}}
		}},
		{"fetch-ignores-close", "Close/CloseUnblocksFetchers", func(p provider.Provider) provider.Provider { return closeIgnored{p} }},
	}
}

// TestMutantChild runs the suite against the mutant named in the
// environment; without it, it does nothing.
func TestMutantChild(t *testing.T) {
	name := os.Getenv(mutantEnv)
	if name == "" {
		return
	}
	mutate := func(p provider.Provider) provider.Provider { return p }
	if name != "none" {
		all := mutants()
		i := slices.IndexFunc(all, func(m mutant) bool { return m.name == name })
		if i < 0 {
			t.Fatalf("unknown mutant %q", name)
		}
		mutate = all[i].mutate
	}
	providertest.Run(t, func(t *testing.T, topo provider.Topology) provider.Provider {
		p, err := memory.New(topo)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return mutate(p)
	}, providertest.WithWaitLimit(3*time.Second))
}

func runChild(t *testing.T, mutant string, tests ...string) (string, error) {
	t.Helper()
	pattern := "^TestMutantChild$"
	if len(tests) > 0 {
		pattern += "/(" + strings.Join(groupsOf(tests), "|") + ")$/(" + strings.Join(namesOf(tests), "|") + ")$"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", pattern, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), mutantEnv+"="+mutant)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func groupsOf(tests []string) []string {
	var out []string
	for _, tc := range tests {
		out = append(out, strings.SplitN(tc, "/", 2)[0])
	}
	return out
}

func namesOf(tests []string) []string {
	var out []string
	for _, tc := range tests {
		out = append(out, strings.SplitN(tc, "/", 2)[1])
	}
	return out
}

func TestSuiteCatchesMutants(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("inside a mutant child")
	}
	t.Run("unbroken provider passes the catching tests", func(t *testing.T) {
		var tests []string
		for _, m := range mutants() {
			tests = append(tests, m.catch)
		}
		out, err := runChild(t, "none", tests...)
		if err != nil {
			t.Fatalf("the unbroken provider failed: %v\n%s", err, out)
		}
		for _, tc := range tests {
			if !strings.Contains(out, "--- PASS: TestMutantChild/"+tc) {
				t.Errorf("test %s did not run and pass:\n%s", tc, out)
			}
		}
	})
	for _, m := range mutants() {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			out, err := runChild(t, m.name, m.catch)
			if err == nil {
				t.Fatalf("the suite passed a provider with bug %q:\n%s", m.name, out)
			}
			if !strings.Contains(out, "--- FAIL: TestMutantChild/"+m.catch) {
				t.Fatalf("bug %q was not caught by %s:\n%s", m.name, m.catch, out)
			}
		})
	}
}

// The mutants: each wraps a working provider and breaks one promise.

type historyReversed struct{ provider.Provider }

func (p historyReversed) History(ctx context.Context, entity string, part uint64) ([]provider.Event, error) {
	h, err := p.Provider.History(ctx, entity, part)
	slices.Reverse(h)
	return h, err
}

type partitionIgnored struct{ provider.Provider }

func (p partitionIgnored) CurrentPartition(ctx context.Context, entity string) (uint64, error) {
	_, err := p.Provider.CurrentPartition(ctx, entity)
	return 0, err
}

type deleteIgnored struct{ provider.Provider }

func (p deleteIgnored) Commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) error {
	c.DeleteMetadata = nil
	return p.Provider.Commit(ctx, lock, c)
}

type attemptReset struct{ provider.Provider }

func (p attemptReset) FetchEntity(ctx context.Context, queue string) (*provider.EntityBatch, error) {
	b, err := p.Provider.FetchEntity(ctx, queue)
	if b != nil {
		for i := range b.Messages {
			b.Messages[i].Attempt = 1
		}
	}
	return b, err
}

type notBeforeIgnored struct{ provider.Provider }

func (p notBeforeIgnored) Send(ctx context.Context, msgs ...provider.Outgoing) error {
	for i := range msgs {
		msgs[i].Message.NotBefore = time.Time{}
	}
	return p.Provider.Send(ctx, msgs...)
}

type leakySend struct{ provider.Provider }

func (p leakySend) Commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) error {
	err := p.Provider.Commit(ctx, lock, c)
	if err != nil {
		_ = p.Provider.Send(ctx, c.Send...)
	}
	return err
}

type listReversed struct{ provider.Provider }

func (p listReversed) ListEntities(ctx context.Context, q provider.ListQuery) (provider.ListPage, error) {
	page, err := p.Provider.ListEntities(ctx, q)
	slices.Reverse(page.Entities)
	return page, err
}

type deleteNoOp struct{ provider.Provider }

func (deleteNoOp) DeleteEntity(context.Context, string) error { return nil }

type renewNoOp struct{ provider.Provider }

func (renewNoOp) RenewEntityLock(context.Context, provider.EntityLock) (time.Time, error) {
	return time.Now().Add(time.Minute), nil
}

// dedupMissing makes every sent ID unique, as if IDs were not deduplicated.
type dedupMissing struct {
	provider.Provider
	n *atomic.Uint64
}

func (p dedupMissing) Send(ctx context.Context, msgs ...provider.Outgoing) error {
	for i := range msgs {
		msgs[i].Message.ID = fmt.Sprintf("%s#%d", msgs[i].Message.ID, p.n.Add(1))
	}
	return p.Provider.Send(ctx, msgs...)
}

type payloadTrimmed struct{ provider.Provider }

func (p payloadTrimmed) History(ctx context.Context, entity string, part uint64) ([]provider.Event, error) {
	h, err := p.Provider.History(ctx, entity, part)
	for i := range h {
		if n := len(h[i].Data); n > 0 && h[i].Data[n-1] == 0 {
			h[i].Data = h[i].Data[:n-1] // a C-string habit
		}
	}
	return h, err
}

// partialOnFault, when a fault is armed, applies the commit without its
// outgoing messages and then reports the fault.
type partialOnFault struct {
	*memory.Provider
	armed *atomic.Bool
}

func (p partialOnFault) FailNextCommitAt(string) { p.armed.Store(true) }

func (p partialOnFault) Commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) error {
	if !p.armed.Swap(false) {
		return p.Provider.Commit(ctx, lock, c)
	}
	c.Send = nil
	if err := p.Provider.Commit(ctx, lock, c); err != nil {
		return err
	}
	return fmt.Errorf("partial: %w", provider.ErrInjectedFault)
}

type closeIgnored struct{ provider.Provider }

func (closeIgnored) Close() error { return nil }

type expiryIgnored struct{ provider.Provider }

func (p expiryIgnored) Commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) error {
	c.ExpireAt, c.ExpirePartitions = time.Time{}, provider.PartitionExpiry{}
	return p.Provider.Commit(ctx, lock, c)
}

type expiryEarly struct{ provider.Provider }

func (p expiryEarly) Commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) error {
	if !c.ExpireAt.IsZero() {
		c.ExpireAt = time.Now()
	}
	return p.Provider.Commit(ctx, lock, c)
}

// stickyExpiries remembers, per entity, an expiry time a mutant keeps.
type stickyExpiries struct {
	mu sync.Mutex
	at map[string]time.Time
}

// expirySticky keeps the first expiry an entity was given, whatever later
// commits say.
type expirySticky struct {
	provider.Provider
	s *stickyExpiries
}

func (p expirySticky) Commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) error {
	p.s.mu.Lock()
	if at, ok := p.s.at[lock.Entity]; ok {
		c.ExpireAt = at
	} else if !c.ExpireAt.IsZero() {
		p.s.at[lock.Entity] = c.ExpireAt
	}
	p.s.mu.Unlock()
	return p.Provider.Commit(ctx, lock, c)
}

type partitionExpiryIgnored struct{ provider.Provider }

func (p partitionExpiryIgnored) Commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) error {
	c.ExpirePartitions = provider.PartitionExpiry{}
	return p.Provider.Commit(ctx, lock, c)
}

// partitionExpiryGreedy expires every partition, the current one included,
// when a partition expiry comes due.
type partitionExpiryGreedy struct {
	provider.Provider
	s *stickyExpiries
}

func (p partitionExpiryGreedy) Commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) error {
	if c.ExpirePartitions.Below > 0 {
		p.s.mu.Lock()
		p.s.at[lock.Entity] = c.ExpirePartitions.At
		p.s.mu.Unlock()
	}
	return p.Provider.Commit(ctx, lock, c)
}

func (p partitionExpiryGreedy) History(ctx context.Context, entity string, part uint64) ([]provider.Event, error) {
	p.s.mu.Lock()
	at, ok := p.s.at[entity]
	p.s.mu.Unlock()
	if ok && !time.Now().Before(at) {
		return nil, nil
	}
	return p.Provider.History(ctx, entity, part)
}
