// Package metrics is Reprise's Prometheus instrumentation: one [Metrics]
// value per process owns a private registry (with the Go and process
// collectors), serves it over HTTP in the OpenMetrics and Prometheus text and
// protobuf formats, and is fed by
//
//   - the runtime, through [runtime.Observer], which *Metrics implements:
//     orchestration starts, finishes and end-to-end latency, turn latency,
//     replays and cache hits, activity schedule-to-start and execution
//     latency, timers and their lateness, redeliveries, poison and
//     dead-lettered messages;
//   - [InstrumentProvider], a provider decorator that times every provider
//     operation;
//   - the API server ([Metrics.APIRequest], [Metrics.APIBadRequest]) and the
//     host ([Metrics.NATSReconnected], [Metrics.SetReady]);
//   - collectors run on scrape: queue depth (asking the provider), NATS
//     connection state and Pebble's own metrics (see [Options]).
//
// Every metric name starts with reprise_ and is listed by [Names]; labels
// carry only bounded values (registered names, configured queues, fixed
// outcomes), never instance ids. Histograms carry classic buckets and native
// (sparse) buckets; the native ones only travel in the protobuf exposition
// format, which Prometheus negotiates when native histograms are enabled.
//
// The package knows the runtime's observer interface and the provider
// contract; it must not know how the services wire them (that is the host's
// business), and the runtime must never import it.
package metrics
