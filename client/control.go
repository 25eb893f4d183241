package client

import (
	"context"

	"github.com/reprise/reprise/api"
)

// RaiseEvent raises the external event on instance id with payload (encoded
// as JSON; a json.RawMessage is sent as is). The request carries a request
// id ([WithRequestID]; random when not given), so the client's own retries
// after a lost reply or an unavailable server record the event once.
func (c *Client) RaiseEvent(ctx context.Context, id, event string, payload any, opts ...RequestOption) error {
	data, err := encodePayload("event payload", payload)
	if err != nil {
		return err
	}
	req := api.RaiseRequest{ID: id, Event: event, Payload: data, RequestID: requestID(opts)}
	if err := validate(api.VerbRaise, &req); err != nil {
		return err
	}
	return c.callRetry(ctx, api.VerbRaise, req, nil, c.requestTimeout, retryLostReply)
}

// Terminate ends instance id with reason; its running sub-orchestrations
// are terminated too, and a Scheduled instance never runs. Retries are
// safe, as for [Client.RaiseEvent].
func (c *Client) Terminate(ctx context.Context, id, reason string, opts ...RequestOption) error {
	req := api.TerminateRequest{ID: id, Reason: reason, RequestID: requestID(opts)}
	if err := validate(api.VerbTerminate, &req); err != nil {
		return err
	}
	return c.callRetry(ctx, api.VerbTerminate, req, nil, c.requestTimeout, retryLostReply)
}

// Suspend holds instance id: what arrives for it is recorded but not
// delivered to its code until [Client.Resume]. Retries are safe, as for
// [Client.RaiseEvent].
func (c *Client) Suspend(ctx context.Context, id, reason string, opts ...RequestOption) error {
	req := api.SuspendRequest{ID: id, Reason: reason, RequestID: requestID(opts)}
	if err := validate(api.VerbSuspend, &req); err != nil {
		return err
	}
	return c.callRetry(ctx, api.VerbSuspend, req, nil, c.requestTimeout, retryLostReply)
}

// Resume lets a suspended instance run again. Retries are safe, as for
// [Client.RaiseEvent].
func (c *Client) Resume(ctx context.Context, id, reason string, opts ...RequestOption) error {
	req := api.ResumeRequest{ID: id, Reason: reason, RequestID: requestID(opts)}
	if err := validate(api.VerbResume, &req); err != nil {
		return err
	}
	return c.callRetry(ctx, api.VerbResume, req, nil, c.requestTimeout, retryLostReply)
}

// Purge deletes a finished or Scheduled instance: its history, status and
// pending messages (a Scheduled instance then never runs). An instance
// still running is refused with ErrNotTerminal.
func (c *Client) Purge(ctx context.Context, id string) error {
	req := api.PurgeRequest{ID: id}
	if err := validate(api.VerbPurge, &req); err != nil {
		return err
	}
	return c.callRetry(ctx, api.VerbPurge, req, nil, c.requestTimeout, retryUnavailable)
}

// Status returns the state of instance id; an unknown id is ErrNotFound.
func (c *Client) Status(ctx context.Context, id string) (*InstanceStatus, error) {
	req := api.StatusRequest{ID: id}
	if err := validate(api.VerbStatus, &req); err != nil {
		return nil, err
	}
	var st InstanceStatus
	if err := c.callRetry(ctx, api.VerbStatus, req, &st, c.requestTimeout, retryLostReply); err != nil {
		return nil, err
	}
	return &st, nil
}
