// Package apiserver serves Reprise's NATS subject API (package
// services/api) on top of a [control.Client]: request/reply verbs on
// <prefix>.api.* (a core NATS queue group, so any number of replicas share
// the load), the durable fire-and-forget submit stream with its dead-letter
// stream, and status-change notifications published after commits. With
// several orchestrators sharing the shards (see [Sharding]), requests that
// need an instance's store are forwarded to the orchestrator owning its
// shard, and list pages over all of them.
//
// It owns translating outside JSON into runtime calls and runtime errors
// into documented error codes, and validating every outside input first:
// nothing a client sends may crash it or affect another request.
//
// It must not know how a provider stores or moves data (it speaks only
// [provider.Provider] and [control.Client]), nor how the process is
// configured or started (package services/host does that).
package apiserver
