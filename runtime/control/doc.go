// Package control is the in-process client of the runtime: it starts
// instances and controls them (raise, terminate, suspend, resume, purge) by
// sending the core's protocol messages (runtime.StartMessage, ...) through a
// provider, and reads their status, history and lists from the provider's
// metadata. services/apiserver serves the NATS API with it; tests drive
// engines with it.
//
// It speaks the start/control vocabulary of package api (WithID,
// WithVersion, WithStartAt, WithReusePolicy, WithRequestID), as the NATS
// client (package client) does. It must not build protocol messages itself,
// nor know a provider implementation.
package control
