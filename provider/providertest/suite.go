// Package providertest is the conformance suite that every implementation of
// [provider.Provider] runs from its own tests:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, func(t *testing.T, topo provider.Topology) provider.Provider {
//			p, err := mypkg.New(topo)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { p.Close() })
//			return p
//		})
//	}
//
// The suite owns the contract's observable behaviour: atomic commits,
// exclusive entity locks, lock expiry and renewal, delays and attempt counts,
// partitions, metadata and its index, message-ID dedup, work-queue
// peek-locks and dead-lettering, cancel, delete, long-polling, concurrency,
// entity and partition expiry, payload opacity and, for providers that implement
// [provider.FaultInjector], all-or-nothing commits under injected faults.
// Every test builds its own provider, so tests run in parallel. Event and
// message payloads are random bytes: a provider that looked inside them could
// not pass.
//
// Beyond the interface's comments, the suite holds providers to these
// readings of the contract:
//   - A commit rejected for its content (ErrDuplicateEvent,
//     ErrStalePartition, an invalid outgoing message) changes nothing and
//     keeps the lock, so the caller can still commit or abandon under it.
//   - Messages sent before a fetch are all in its batch, in the order they
//     were sent; a lock's messages come back with Attempt increased after an
//     abandon or expiry.
//   - A message ID that was delivered and acked moments ago is still
//     deduplicated.
//   - Every method of a closed provider fails with an error wrapping
//     provider.ErrClosed; Close may be called again by the factory's cleanup.
//
// Time-based tests use real time with a short lock timeout and a short delay
// (see [WithLockTimeout], [WithDelay]); they assert that nothing happens too
// early and that things happen eventually (within [WithWaitLimit]), never
// that they happen fast. The suite must not know anything about the runtime:
// it speaks only the provider's vocabulary.
package providertest

import (
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// Factory builds a fresh, empty provider with topology topo for test t, and
// registers its own cleanup (t.Cleanup) that closes it and frees its
// resources. The suite may close the provider itself before that cleanup
// runs.
type Factory func(t *testing.T, topo provider.Topology) provider.Provider

// Option adjusts the suite to a provider's timing limits.
type Option func(*config)

type config struct {
	lockTimeout time.Duration
	delay       time.Duration
	quiet       time.Duration
	waitLimit   time.Duration
}

func defaultConfig() config {
	return config{
		lockTimeout: time.Second,
		delay:       500 * time.Millisecond,
		quiet:       250 * time.Millisecond,
		waitLimit:   30 * time.Second,
	}
}

// WithLockTimeout sets the Topology.LockTimeout of the tests that wait for a
// lock to expire or renew one (default 1 s). Renewals happen every fifth of
// it, so it must be comfortably longer than the provider's slowest renewal.
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) { c.lockTimeout = d }
}

// WithDelay sets how far in the future delayed messages and abandon delays
// are placed (default 500 ms). A provider whose delayed delivery has coarse
// granularity needs a longer one.
func WithDelay(d time.Duration) Option {
	return func(c *config) { c.delay = d }
}

// WithQuietPeriod sets how long a fetch that must return nothing is given to
// prove it (default 250 ms). A longer period makes those checks stricter,
// never flakier.
func WithQuietPeriod(d time.Duration) Option {
	return func(c *config) { c.quiet = d }
}

// WithWaitLimit sets how long the suite waits for something that must happen
// before failing the test (default 30 s).
func WithWaitLimit(d time.Duration) Option {
	return func(c *config) { c.waitLimit = d }
}

// suite is what every conformance test receives.
type suite struct {
	factory Factory
	cfg     config
}

// conformanceTest is one test, named after the invariant it defends.
type conformanceTest struct {
	name string
	run  func(t *testing.T, s *suite)
}

// group is a set of tests about one behaviour.
type group struct {
	name  string
	tests []conformanceTest
}

func groups() []group {
	return []group{
		{"Atomicity", atomicityTests()},
		{"EntityLocking", lockingTests()},
		{"LockExpiryAndRenewal", expiryTests()},
		{"DelaysAndAttempts", delayTests()},
		{"Partitions", partitionTests()},
		{"Metadata", metadataTests()},
		{"Listing", listingTests()},
		{"Dedup", dedupTests()},
		{"SendNew", sendNewTests()},
		{"WorkQueue", workQueueTests()},
		{"Cancel", cancelTests()},
		{"Delete", deleteTests()},
		{"Expiry", entityExpiryTests()},
		{"LongPoll", longPollTests()},
		{"Concurrency", concurrencyTests()},
		{"Opacity", opacityTests()},
		{"Queues", queueTests()},
		{"FaultInjection", faultTests()},
		{"Close", closeTests()},
	}
}

// Run runs the conformance suite against providers built by factory. Groups
// run one after another; the tests of a group run in parallel, each on its
// own provider.
func Run(t *testing.T, factory Factory, opts ...Option) {
	t.Helper()
	s := &suite{factory: factory, cfg: defaultConfig()}
	for _, o := range opts {
		o(&s.cfg)
	}
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, s)
				})
			}
		})
	}
}
