// Package servicetest runs the built service binaries in tests: it builds
// them, starts them as subprocesses (waiting for their "ready" log line),
// kills or stops them, and drives them through the subject API with raw
// JSON only, the way a client in another language would.
//
// It is for tests of the services; it must not know their internals.
package servicetest
