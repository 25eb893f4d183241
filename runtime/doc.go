// Package runtime is Reprise's orchestration engine and Go SDK.
//
// It owns everything that understands orchestrations: the registry of
// orchestration and activity functions, the [OrchestrationContext] that user
// code programs against, the futures it awaits, the event and message codecs,
// deterministic replay with nondeterminism detection, the sticky instance
// cache, the dispatchers that run turns and activities ([Worker]) and the
// client-side API ([Client]).
//
// One orchestration turn turns (history + new messages) into exactly one
// [provider.Commit] value: events as bytes, metadata (status, name, version,
// output, ...), the partition number (continue-as-new moves to the next
// partition) and outgoing messages, each with an explicit target entity. The
// provider applies that value without understanding it, the way etcd's raft
// core hands its caller a Ready value.
//
// The package must not know how a provider stores or moves bytes: it only
// speaks the [provider.Provider] contract. Nothing under provider/ may import
// this package.
//
// # Determinism
//
// Orchestration code runs on goroutines that the engine hands control to one
// at a time, in an order fixed by the history. Code must take time, ids and
// randomness from the context ([OrchestrationContext.Now],
// [OrchestrationContext.NewUUID]), start concurrency only with
// [OrchestrationContext.Go], and never block on anything but a [Future].
package runtime
