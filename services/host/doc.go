// Package host runs Reprise's services — the orchestrator and the activity
// worker — from a configuration and the caller's registry, so a user's own
// binary is a few lines:
//
//	func main() {
//		reg := runtime.NewRegistry()
//		if err := myapp.Register(reg); err != nil {
//			log.Fatal(err)
//		}
//		host.Main(host.Orchestrator, reg) // or host.Worker
//	}
//
// It owns process wiring: flags and environment variables ([Config]), the
// NATS connection (or, with no NATS URL, an embedded NATS server with
// JetStream under the data directory), the Pebble store, the JetStream
// provider, the runtime worker, the subject API server (package
// services/apiserver), the shards an orchestrator owns (an explicit list, or
// its ordinal's share among several orchestrators), the Prometheus metrics
// (package services/metrics) fed by the runtime, the provider, the API and
// the connection, the /healthz, /readyz and /metrics endpoints, and a
// graceful drain on SIGTERM or SIGINT.
//
// It must not know what an orchestration does or how the provider stores
// data: it only builds and connects the pieces.
package host
