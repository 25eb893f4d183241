package metrics

import "github.com/reprise/reprise/runtime"

// Known lists the label values a process knows before its first event: its
// registered orchestrations and activities, its queues, the API verbs and
// codes it answers with and the reasons it rejects requests for.
type Known struct {
	Orchestrations []string
	Activities     []string
	Queues         []string
	APIVerbs       []string
	APICodes       []string
	APIBadReasons  []string
}

// Preset creates every counter and histogram series for the known label
// values at zero, so that a dashboard shows 0 rather than "No data" and
// rate() and increase() see the first event as an increase from zero (a
// series born at its first event hides that event from rate()). Call it
// once at start-up; calling it again is harmless.
func (m *Metrics) Preset(k Known) {
	statuses := []runtime.Status{runtime.StatusCompleted, runtime.StatusFailed, runtime.StatusTerminated}
	outcomes := []runtime.ActivityOutcome{runtime.OutcomeSuccess, runtime.OutcomeFailure, runtime.OutcomeTimeout, runtime.OutcomeLockLost}
	for _, name := range k.Orchestrations {
		m.orchStarted.WithLabelValues(name)
		for _, s := range statuses {
			m.orchFinished.WithLabelValues(name, string(s))
		}
		m.orchDuration.WithLabelValues(name)
		m.turnDuration.WithLabelValues(name)
		m.replayedEvents.WithLabelValues(name)
	}
	for _, name := range k.Activities {
		m.activityScheduleToStart.WithLabelValues(name)
		for _, o := range outcomes {
			m.activityExecution.WithLabelValues(name, string(o))
		}
	}
	for _, q := range k.Queues {
		m.redeliveries.WithLabelValues(q)
		m.poison.WithLabelValues(q)
		m.deadLettered.WithLabelValues(q)
	}
	for _, v := range k.APIVerbs {
		for _, c := range k.APICodes {
			m.apiRequests.WithLabelValues(v, c)
		}
	}
	for _, r := range k.APIBadReasons {
		m.apiBadRequests.WithLabelValues(r)
	}
}
