package client

import (
	"context"

	"github.com/reprise/reprise/services/api"
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

func (c *Client) history(ctx context.Context, req api.HistoryRequest) ([]Event, error) {
	var rep api.HistoryReply
	if err := c.call(ctx, api.VerbHistory, req, &rep, c.requestTimeout); err != nil {
		return nil, err
	}
	return rep.Events, nil
}
