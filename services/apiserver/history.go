package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime"
)

func (s *Server) history(ctx context.Context, data []byte) (any, error) {
	var req api.HistoryRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	cur, err := s.client.Partition(ctx, req.ID)
	if errors.Is(err, runtime.ErrInstanceNotFound) {
		return nil, api.Errorf(api.CodeNotFound, "instance %q not found", req.ID)
	}
	if err != nil {
		return nil, err
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
	return historyPage(part, historyEvents(evs), req.FromSeq, req.Limit, s.replyBudget()), nil
}

// historyPage cuts one page out of an execution's events: from fromSeq
// (1-based; 0 is 1), at most limit events (0: the default), and no more
// than budget bytes of encoded events. The page holds at least one event
// when any is left; an event too large for a reply on its own is sent
// without its data (DataOmitted says how large it was).
func historyPage(part uint64, all []api.HistoryEvent, fromSeq uint64, limit, budget int) api.HistoryReply {
	if limit == 0 {
		limit = api.DefaultHistoryLimit
	}
	limit = min(limit, api.MaxHistoryLimit)
	reply := api.HistoryReply{Partition: part, Events: []api.HistoryEvent{}}
	start := uint64(0)
	if fromSeq > 1 {
		start = fromSeq - 1
	}
	if start >= uint64(len(all)) {
		return reply
	}
	used := 0
	for i := start; i < uint64(len(all)); i++ {
		ev := all[i]
		size := encodedSize(ev)
		if size > budget {
			ev.DataOmitted, ev.Data = len(ev.Data), nil
			size = encodedSize(ev)
		}
		if len(reply.Events) == limit || (len(reply.Events) > 0 && used+size > budget) {
			reply.NextSeq = i + 1
			break
		}
		reply.Events = append(reply.Events, ev)
		used += size + 1
	}
	return reply
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

// encodedSize is the length of v's JSON encoding (0 if it has none).
func encodedSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}
