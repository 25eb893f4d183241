// Package worker is the I/O half of the runtime: the loops that feed the pure
// core (runtime.Engine) and apply what it decides. An orchestration loop
// fetches a locked instance, keeps its lock renewed while the core computes
// the turn, then commits the turn's value (or abandons the batch), caches
// the live instance and publishes the new status once the commit is durable
// (with a provider.DeferredCommitter, waiting for that off the loop, which
// goes on to the next instance); activity loops, one per slot, fetch tasks,
// run them through the core and complete them with the reply the core
// built. It owns the sticky instance cache and lock renewal.
//
// It must not build or parse protocol messages itself (the core does), and
// it speaks to storage only through the provider.Provider contract.
package worker
