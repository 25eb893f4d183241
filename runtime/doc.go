// Package runtime is Reprise's orchestration engine and Go SDK.
//
// It owns everything that understands orchestrations: the registry of
// orchestration and activity functions, the [OrchestrationContext] that user
// code programs against, the futures it awaits, the event and message codecs,
// deterministic replay with nondeterminism detection, the pure turn core
// ([Engine]) and the protocol messages ([StartMessage], [RaiseMessage], ...).
// The I/O loops that feed the core — fetch, turn, commit, notify; activity
// dispatch; lock renewal; the sticky instance cache — are package
// runtime/worker; the in-process client that starts and controls instances
// is package runtime/control.
//
// One orchestration turn turns (history + new messages) into exactly one
// [TurnResult] value ([Engine.Turn]): the [provider.Commit] (events as bytes,
// metadata, the partition number — continue-as-new moves to the next
// partition — and outgoing messages, each with an explicit target entity),
// or a request to abandon the batch, plus the live instance to cache. The
// worker applies that value and the provider stores it without
// understanding it, the way etcd's raft core hands its caller a Ready value.
//
// The package must not know how a provider stores or moves bytes: it only
// speaks the [provider.Provider] contract. It must not import runtime/worker,
// runtime/control nor any provider implementation (imports_test.go checks). Nothing
// under provider/ may import this package.
//
// # Determinism
//
// Orchestration code runs on goroutines that the engine hands control to one
// at a time, in an order fixed by the history. Code must take time, ids and
// randomness from the context ([OrchestrationContext.Now],
// [OrchestrationContext.NewUUID]), start concurrency only with
// [OrchestrationContext.Go], and never block on anything but a [Future].
package runtime
