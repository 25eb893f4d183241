package worker

import (
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
)

// observeTurn reports one processed batch; only a committed turn reports
// what it changed (an abandoned or failed commit will run again).
func (w *Worker) observeTurn(st *runtime.TurnStats, b *provider.EntityBatch, elapsed time.Duration, committed bool) {
	o := w.opts.Observer
	name := w.boundedName(st.Name)
	if committed {
		if st.Started {
			o.OrchestrationStarted(name)
		}
		for _, l := range st.TimerLateness {
			o.TimerFired(l)
		}
		if st.Poisoned {
			o.Poisoned(w.opts.OrchestratorQueue)
		}
		for i := range b.Messages {
			if m := &b.Messages[i]; m.DeadLettered {
				o.DeadLettered(m.DeadLetterQueue)
			}
		}
		if st.Finished != "" {
			o.OrchestrationFinished(name, st.Finished, st.Elapsed)
		}
	}
	o.TurnDone(name, elapsed, st.Replayed, st.Cache)
}

// boundedName maps names this worker has not registered to
// [runtime.UnregisteredName].
func (w *Worker) boundedName(name string) string {
	if name == "" {
		return runtime.UnregisteredName
	}
	if !w.reg.HasOrchestration(name, "") {
		return runtime.UnregisteredName
	}
	return name
}

// observeRedeliveries reports the fetched messages that are redeliveries.
// Dead-lettered messages carry their source queue's attempt count and are
// reported by [runtime.Observer.DeadLettered] instead.
func (w *Worker) observeRedeliveries(queue string, msgs []provider.Message) {
	for i := range msgs {
		if m := &msgs[i]; m.Attempt > 1 && !m.DeadLettered {
			w.opts.Observer.Redelivered(queue, m.Attempt)
		}
	}
}
