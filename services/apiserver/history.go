package apiserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/api"
)

func (s *Server) history(ctx context.Context, data []byte) (any, error) {
	var req api.HistoryRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if err := checkID(req.ID); err != nil {
		return nil, err
	}
	cur, err := s.p.CurrentPartition(ctx, req.ID)
	if errors.Is(err, provider.ErrNotFound) {
		return nil, api.Errorf(api.CodeNotFound, "instance %q not found", req.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("apiserver: partition of %q: %w", req.ID, err)
	}
	part := cur
	if req.Partition != nil {
		part = *req.Partition
		if part > cur {
			return nil, api.Errorf(api.CodeNotFound, "instance %q has no partition %d (the current one is %d)", req.ID, part, cur)
		}
	}
	evs, err := s.client.PartitionHistory(ctx, req.ID, part)
	if err != nil {
		return nil, err
	}
	return api.HistoryReply{Partition: part, Events: historyEvents(evs)}, nil
}

// historyEvents renders decoded events for people: each event carries the
// time of the turn that recorded it.
func historyEvents(evs []runtime.Event) []api.HistoryEvent {
	out := make([]api.HistoryEvent, 0, len(evs))
	var turn time.Time
	for i := range evs {
		e := &evs[i]
		if e.Kind == runtime.KindTurnStarted {
			turn = e.Time
		}
		h := api.HistoryEvent{
			Seq:        uint64(i + 1),
			Kind:       e.Kind.String(),
			Name:       e.Name,
			Timestamp:  turn,
			Data:       asJSON(e.Payload),
			InstanceID: e.InstanceID,
			Version:    e.Version,
			Reason:     e.Reason,
			Attempt:    e.Attempt,
		}
		switch e.Kind {
		case runtime.KindActivityScheduled, runtime.KindActivityCompleted, runtime.KindActivityFailed,
			runtime.KindTimerCreated, runtime.KindTimerFired,
			runtime.KindSubOrchestrationScheduled, runtime.KindSubOrchestrationCompleted, runtime.KindSubOrchestrationFailed,
			runtime.KindOrchestrationStarted, runtime.KindCancelRequested:
			d := e.Decision
			h.Decision = &d
		}
		if e.Kind == runtime.KindTimerCreated {
			h.FireAt = e.Time
		}
		if e.Failure != nil {
			h.Failure = &api.Failure{Type: e.Failure.Type, Message: e.Failure.Message, NonRetryable: e.Failure.NonRetryable}
		}
		out = append(out, h)
	}
	return out
}
