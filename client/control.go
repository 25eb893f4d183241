package client

import (
	"context"

	"github.com/reprise/reprise/services/api"
)

// RaiseEvent raises the external event on instance id with payload (encoded
// as JSON; a json.RawMessage is sent as is).
func (c *Client) RaiseEvent(ctx context.Context, id, event string, payload any) error {
	data, err := encodePayload("event payload", payload)
	if err != nil {
		return err
	}
	return c.call(ctx, api.VerbRaise, api.RaiseRequest{ID: id, Event: event, Payload: data}, nil, c.requestTimeout)
}

// Terminate ends instance id with reason; its running sub-orchestrations
// are terminated too.
func (c *Client) Terminate(ctx context.Context, id, reason string) error {
	return c.call(ctx, api.VerbTerminate, api.TerminateRequest{ID: id, Reason: reason}, nil, c.requestTimeout)
}

// Suspend holds instance id: what arrives for it is recorded but not
// delivered to its code until [Client.Resume].
func (c *Client) Suspend(ctx context.Context, id, reason string) error {
	return c.call(ctx, api.VerbSuspend, api.SuspendRequest{ID: id, Reason: reason}, nil, c.requestTimeout)
}

// Resume lets a suspended instance run again.
func (c *Client) Resume(ctx context.Context, id, reason string) error {
	return c.call(ctx, api.VerbResume, api.ResumeRequest{ID: id, Reason: reason}, nil, c.requestTimeout)
}

// Purge deletes a finished instance: its history, status and pending
// messages. An instance still running is refused with ErrNotTerminal.
func (c *Client) Purge(ctx context.Context, id string) error {
	return c.call(ctx, api.VerbPurge, api.PurgeRequest{ID: id}, nil, c.requestTimeout)
}

// Status returns the state of instance id; an unknown id is ErrNotFound.
func (c *Client) Status(ctx context.Context, id string) (*InstanceStatus, error) {
	var st InstanceStatus
	if err := c.call(ctx, api.VerbStatus, api.StatusRequest{ID: id}, &st, c.requestTimeout); err != nil {
		return nil, err
	}
	return &st, nil
}
