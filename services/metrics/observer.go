package metrics

import (
	"time"

	"github.com/reprise/reprise/runtime"
)

var _ runtime.Observer = (*Metrics)(nil)

// OrchestrationStarted implements [runtime.Observer].
func (m *Metrics) OrchestrationStarted(name string) {
	m.orchStarted.WithLabelValues(name).Inc()
}

// OrchestrationFinished implements [runtime.Observer].
func (m *Metrics) OrchestrationFinished(name string, status runtime.Status, elapsed time.Duration) {
	m.orchFinished.WithLabelValues(name, string(status)).Inc()
	m.orchDuration.WithLabelValues(name).Observe(elapsed.Seconds())
}

// TurnDone implements [runtime.Observer].
func (m *Metrics) TurnDone(name string, elapsed time.Duration, replayed int, cache runtime.CacheResult) {
	m.turnDuration.WithLabelValues(name).Observe(elapsed.Seconds())
	if replayed > 0 {
		m.replayedEvents.WithLabelValues(name).Add(float64(replayed))
	}
	switch cache {
	case runtime.CacheHit:
		m.cacheHits.Inc()
	case runtime.CacheMiss:
		m.cacheMisses.Inc()
	}
}

// ActivityStarted implements [runtime.Observer].
func (m *Metrics) ActivityStarted(name string, scheduleToStart time.Duration) {
	m.activityScheduleToStart.WithLabelValues(name).Observe(scheduleToStart.Seconds())
}

// ActivityFinished implements [runtime.Observer].
func (m *Metrics) ActivityFinished(name string, outcome runtime.ActivityOutcome, elapsed time.Duration) {
	m.activityExecution.WithLabelValues(name, string(outcome)).Observe(elapsed.Seconds())
}

// TimerFired implements [runtime.Observer].
func (m *Metrics) TimerFired(lateness time.Duration) {
	m.timersFired.Inc()
	m.timerLateness.Observe(lateness.Seconds())
}

// Redelivered implements [runtime.Observer]. The attempt number is not a
// label (it would multiply the series); the counter counts deliveries.
func (m *Metrics) Redelivered(queue string, _ int) {
	m.redeliveries.WithLabelValues(queue).Inc()
}

// Poisoned implements [runtime.Observer].
func (m *Metrics) Poisoned(queue string) {
	m.poison.WithLabelValues(queue).Inc()
}

// DeadLettered implements [runtime.Observer].
func (m *Metrics) DeadLettered(queue string) {
	m.deadLettered.WithLabelValues(queue).Inc()
}
