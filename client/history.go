package client

import (
	"context"

	"github.com/reprise/reprise/api"
)

// Event is one event of an instance's history, decoded by the server for
// people and debugging tools; do not build logic on its shape.
type Event = api.HistoryEvent

// Failure is a recorded error in an [Event].
type Failure = api.Failure

// History returns the events of the current execution of instance id.
func (c *Client) History(ctx context.Context, id string) ([]Event, error) {
	return c.history(ctx, api.HistoryRequest{ID: id})
}

// PartitionHistory returns the events of one execution (partition) of
// instance id; executions are numbered from 0 and grow with each
// continue-as-new.
func (c *Client) PartitionHistory(ctx context.Context, id string, partition uint64) ([]Event, error) {
	return c.history(ctx, api.HistoryRequest{ID: id, Partition: &partition})
}

// history reads every page of an execution's history.
func (c *Client) history(ctx context.Context, req api.HistoryRequest) ([]Event, error) {
	if err := validate(api.VerbHistory, &req); err != nil {
		return nil, err
	}
	var all []Event
	for {
		var rep api.HistoryReply
		if err := c.callRetry(ctx, api.VerbHistory, req, &rep, c.requestTimeout, retryLostReply); err != nil {
			return nil, err
		}
		all = append(all, rep.Events...)
		if rep.NextSeq == 0 || rep.NextSeq <= req.FromSeq || len(rep.Events) == 0 {
			if all == nil {
				all = []Event{}
			}
			return all, nil
		}
		// Later pages are of the execution the first one was.
		p := rep.Partition
		req.Partition, req.FromSeq = &p, rep.NextSeq
	}
}
