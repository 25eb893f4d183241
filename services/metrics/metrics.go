package metrics

import (
	"log/slog"
	"net/http"
	"slices"
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/reprise/reprise/provider"
)

// DefaultQueueDepthTimeout bounds the provider calls one scrape makes for
// reprise_queue_depth when [Options.QueueDepthTimeout] is zero.
const DefaultQueueDepthTimeout = time.Second

// Options configure [New]. Every field is optional: a collector whose source
// is missing is simply not registered.
type Options struct {
	// Provider and Queues enable reprise_queue_depth: on every scrape the
	// provider's QueueDepth is asked for each queue.
	Provider provider.Provider
	Queues   []string
	// QueueDepthTimeout bounds all the QueueDepth calls of one scrape
	// (default [DefaultQueueDepthTimeout]). A queue whose depth cannot be
	// read in time is left out of that scrape and logged.
	QueueDepthTimeout time.Duration
	// NATSConnected enables reprise_nats_connected, read on every scrape. It
	// must be cheap and must not block (e.g. nats.Conn.IsConnected).
	NATSConnected func() bool
	// Pebble enables the reprise_pebble_* collector: it returns the store's
	// metrics, or nil once the store is closed (the collector then reports
	// reprise_pebble_open 0 and nothing else).
	Pebble func() *cpebble.Metrics
	// Logger receives collection problems (default: discard).
	Logger *slog.Logger
	// Now is the clock of the age gauges (default time.Now); tests set it.
	Now func() time.Time
}

// Metrics owns a private Prometheus registry and every Reprise metric. It
// implements [runtime.Observer]. All methods are safe for concurrent use and
// never block.
type Metrics struct {
	reg        *prometheus.Registry
	log        *slog.Logger
	depthLimit time.Duration
	now        func() time.Time

	orchStarted    *prometheus.CounterVec
	orchFinished   *prometheus.CounterVec
	orchDuration   *prometheus.HistogramVec
	turnDuration   *prometheus.HistogramVec
	replayedEvents *prometheus.CounterVec
	cacheHits      prometheus.Counter
	cacheMisses    prometheus.Counter

	activityScheduleToStart *prometheus.HistogramVec
	activityExecution       *prometheus.HistogramVec

	timersFired   prometheus.Counter
	timerLateness prometheus.Histogram

	redeliveries *prometheus.CounterVec
	poison       *prometheus.CounterVec
	deadLettered *prometheus.CounterVec

	providerOps *prometheus.HistogramVec

	apiRequests    *prometheus.CounterVec
	apiBadRequests *prometheus.CounterVec

	natsReconnects prometheus.Counter
	ready          prometheus.Gauge
}

// Metric family names, exported through [Names]. The dashboard and the docs
// are written against them: never rename one.
const (
	nameOrchStarted             = "reprise_orchestrations_started_total"
	nameOrchFinished            = "reprise_orchestrations_finished_total"
	nameOrchDuration            = "reprise_orchestration_duration_seconds"
	nameTurnDuration            = "reprise_orchestration_turn_duration_seconds"
	nameReplayedEvents          = "reprise_orchestration_replayed_events_total"
	nameCacheHits               = "reprise_orchestration_cache_hits_total"
	nameCacheMisses             = "reprise_orchestration_cache_misses_total"
	nameActivityScheduleToStart = "reprise_activity_schedule_to_start_seconds"
	nameActivityExecution       = "reprise_activity_execution_seconds"
	nameTimersFired             = "reprise_timers_fired_total"
	nameTimerLateness           = "reprise_timer_lateness_seconds"
	nameRedeliveries            = "reprise_redeliveries_total"
	namePoison                  = "reprise_poison_messages_total"
	nameDeadLettered            = "reprise_dead_lettered_total"
	nameQueueDepth              = "reprise_queue_depth"
	nameProviderOps             = "reprise_provider_operation_duration_seconds"
	nameAPIRequests             = "reprise_api_requests_total"
	nameAPIBadRequests          = "reprise_api_bad_requests_total"
	nameNATSConnected           = "reprise_nats_connected"
	nameNATSReconnects          = "reprise_nats_reconnects_total"
	nameReady                   = "reprise_ready"
	nameQueueDepthAge           = "reprise_queue_depth_age_seconds"
	nameShards                  = "reprise_shards"
	nameShardOwner              = "reprise_shard_owner"
	nameShardPending            = "reprise_shard_pending_messages"
	nameShardLag                = "reprise_shard_lag_seconds"
)

// Names returns the name of every metric family this package can export,
// sorted. Which of them a process exports depends on its [Options]
// (reprise_queue_depth, reprise_nats_connected and reprise_pebble_* need
// their source); a labelled family appears once it has a first sample.
func Names() []string {
	names := []string{
		nameOrchStarted, nameOrchFinished, nameOrchDuration, nameTurnDuration, nameReplayedEvents,
		nameCacheHits, nameCacheMisses, nameActivityScheduleToStart, nameActivityExecution,
		nameTimersFired, nameTimerLateness, nameRedeliveries, namePoison, nameDeadLettered,
		nameQueueDepth, nameProviderOps, nameAPIRequests, nameAPIBadRequests,
		nameNATSConnected, nameNATSReconnects, nameReady, nameQueueDepthAge,
		nameShards, nameShardOwner, nameShardPending, nameShardLag,
	}
	names = append(names, pebbleNames()...)
	names = append(names, leaseNames()...)
	names = append(names, storageNames()...)
	slices.Sort(names)
	return names
}

// Histograms returns the names of the histogram families among [Names]
// (each also exported as _bucket, _sum and _count series), sorted.
func Histograms() []string {
	names := []string{nameOrchDuration, nameTurnDuration, nameActivityScheduleToStart,
		nameActivityExecution, nameTimerLateness, nameProviderOps, nameShardCatchUp}
	slices.Sort(names)
	return names
}

// Bucket layouts of the classic histograms, in seconds.
var (
	// fastBuckets: provider calls and turns, 0.5 ms to 30 s.
	fastBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// waitBuckets: queueing delays and timer lateness, 1 ms to 5 min.
	waitBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	// workBuckets: activity executions, 1 ms to 1 h.
	workBuckets = []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}
	// lifeBuckets: whole orchestrations, 10 ms to 1 day.
	lifeBuckets = []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}
)

// histogramOpts returns the options of a histogram with classic buckets and
// native buckets (factor 1.1, at most 100 buckets, reset at most hourly).
func histogramOpts(name, help string, buckets []float64) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Name:                            name,
		Help:                            help,
		Buckets:                         buckets,
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  100,
		NativeHistogramMinResetDuration: time.Hour,
	}
}

// New returns metrics registered in a fresh private registry, together with
// the Go and process collectors and the collectors opts enables.
func New(opts Options) *Metrics {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: log,
		now: now,

		orchStarted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: nameOrchStarted,
			Help: "Orchestration instances started (continue-as-new is not a start), by orchestration name."}, []string{"name"}),
		orchFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: nameOrchFinished,
			Help: "Orchestration instances that reached a terminal status (Completed, Failed, Terminated), by name and status."},
			[]string{"name", "status"}),
		orchDuration: prometheus.NewHistogramVec(histogramOpts(nameOrchDuration,
			"End-to-end orchestration latency, from creation to a terminal status, by name.", lifeBuckets), []string{"name"}),
		turnDuration: prometheus.NewHistogramVec(histogramOpts(nameTurnDuration,
			"Orchestration turn latency, from fetching an instance's messages to committing the turn (replay included), by name.",
			fastBuckets), []string{"name"}),
		replayedEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: nameReplayedEvents,
			Help: "History events re-executed to rebuild instances missing from the sticky cache, by name."}, []string{"name"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{Name: nameCacheHits,
			Help: "Turns that found their instance in the sticky cache."}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{Name: nameCacheMisses,
			Help: "Turns that rebuilt their instance by replaying its history."}),

		activityScheduleToStart: prometheus.NewHistogramVec(histogramOpts(nameActivityScheduleToStart,
			"Activity queueing latency, from the turn that scheduled an attempt to a worker starting it, by activity name.",
			waitBuckets), []string{"name"}),
		activityExecution: prometheus.NewHistogramVec(histogramOpts(nameActivityExecution,
			"Activity attempt execution time, by activity name and outcome (success, failure, timeout, lock_lost).",
			workBuckets), []string{"name", "outcome"}),

		timersFired: prometheus.NewCounter(prometheus.CounterOpts{Name: nameTimersFired,
			Help: "Durable timers applied to their instance."}),
		timerLateness: prometheus.NewHistogram(histogramOpts(nameTimerLateness,
			"Timer lateness: the time between a durable timer's due time and the turn that applied it.", waitBuckets)),

		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: nameRedeliveries,
			Help: "Messages fetched again after an abandon or an expired lock, by queue."}, []string{"queue"}),
		poison: prometheus.NewCounterVec(prometheus.CounterOpts{Name: namePoison,
			Help: "Messages delivered more often than the worker's limit, which failed their instance, by queue."},
			[]string{"queue"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: nameDeadLettered,
			Help: "Activity tasks the provider stopped delivering after its delivery limit, by the queue they came from."},
			[]string{"queue"}),

		providerOps: prometheus.NewHistogramVec(histogramOpts(nameProviderOps,
			"Provider operation latency, by operation and result (ok, error). Blocking fetches include the time spent waiting for work.",
			fastBuckets), []string{"operation", "result"}),

		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: nameAPIRequests,
			Help: "API requests answered, by verb and result code."}, []string{"verb", "code"}),
		apiBadRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: nameAPIBadRequests,
			Help: "API requests rejected as malformed or invalid, by reason."}, []string{"reason"}),

		natsReconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: nameNATSReconnects,
			Help: "Reconnections of the process's NATS connection."}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{Name: nameReady,
			Help: "1 when the process reports ready on /readyz, else 0."}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.orchStarted, m.orchFinished, m.orchDuration, m.turnDuration, m.replayedEvents, m.cacheHits, m.cacheMisses,
		m.activityScheduleToStart, m.activityExecution, m.timersFired, m.timerLateness,
		m.redeliveries, m.poison, m.deadLettered, m.providerOps, m.apiRequests, m.apiBadRequests,
		m.natsReconnects, m.ready,
	)
	m.depthLimit = opts.QueueDepthTimeout
	if m.depthLimit <= 0 {
		m.depthLimit = DefaultQueueDepthTimeout
	}
	if opts.Provider != nil {
		m.WatchQueueDepth(opts.Provider, opts.Queues)
	}
	if opts.NATSConnected != nil {
		connected := opts.NATSConnected
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: nameNATSConnected,
			Help: "1 while the process's NATS connection is connected, else 0."}, func() float64 {
			return boolValue(connected())
		}))
	}
	if opts.Pebble != nil {
		m.reg.MustRegister(newPebbleCollector(opts.Pebble))
	}
	return m
}

// WatchQueueDepth enables reprise_queue_depth for queues of p, as
// [Options.Provider] and [Options.Queues] do, for a process whose provider
// only exists after the metrics are served (the host serves /metrics while
// the provider recovers). Call it at most once, and not when New was given
// a provider; no queues is a no-op.
func (m *Metrics) WatchQueueDepth(p provider.Provider, queues []string) {
	if p == nil || len(queues) == 0 {
		return
	}
	m.reg.MustRegister(newQueueDepthCollector(p, queues, m.depthLimit, m.log, m.now))
}

// Registry returns the private registry, for registering more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry: OpenMetrics text when the scraper asks for it,
// else the Prometheus text or protobuf format (protobuf carries the native
// histogram buckets). A collector error is logged and the rest of the scrape
// is still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
		ErrorLog:          slogErrorLog{m.log},
	})
}

// APIRequest counts one answered API request. verb and code must come from
// fixed sets (the API's verbs and result codes), never from user input.
func (m *Metrics) APIRequest(verb, code string) {
	m.apiRequests.WithLabelValues(verb, code).Inc()
}

// APIBadRequest counts one request rejected as invalid. reason must come
// from a fixed set (e.g. "malformed_json", "invalid_id").
func (m *Metrics) APIBadRequest(reason string) {
	m.apiBadRequests.WithLabelValues(reason).Inc()
}

// NATSReconnected counts one reconnection of the NATS connection (call it
// from the connection's reconnect handler).
func (m *Metrics) NATSReconnected() { m.natsReconnects.Inc() }

// SetReady sets reprise_ready to 1 (ready) or 0.
func (m *Metrics) SetReady(ready bool) { m.ready.Set(boolValue(ready)) }

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// slogErrorLog adapts a slog.Logger to promhttp's error logger.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) {
	var err any = v
	if len(v) == 1 {
		err = v[0]
	}
	l.log.Error("metrics scrape", "err", err)
}
