package apiserver

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime/control"
)

// start validates a start request and queues the start durably; the reply
// is sent only once the provider has accepted the start message. forwarded
// marks a start another server forwarded to this one.
func (s *Server) start(ctx context.Context, data []byte, forwarded bool) (any, error) {
	var req api.StartRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if req.ID == "" {
		req.ID = api.NewUUID()
	}
	if err := s.startRequest(ctx, &req, forwarded); err != nil {
		return nil, err
	}
	return api.StartReply{ID: req.ID}, nil
}

// startRequest validates req (whose ID is set) and starts it. Shared by the
// request/reply and the submit paths. The start is made by the owner of the
// id's shard, whose store tells whether the id is in use: a server owning
// another shard forwards it there.
func (s *Server) startRequest(ctx context.Context, req *api.StartRequest, forwarded bool) error {
	if err := req.Validate(); err != nil {
		return err
	}
	if err := api.ValidateInstanceID(req.ID); err != nil {
		return err
	}
	if err := api.CheckPayload("input", len(req.Input), s.opts.MaxPayloadBytes); err != nil {
		return err
	}
	if s.opts.Orchestrations != nil && !s.opts.Orchestrations(req.Name, req.Version) {
		if req.Version != "" {
			return api.Errorf(api.CodeUnknownOrchestration, "orchestration %q version %q is not registered", req.Name, req.Version)
		}
		return api.Errorf(api.CodeUnknownOrchestration, "orchestration %q is not registered", req.Name)
	}
	if shard := s.sharding.ShardOf(req.ID); !s.sharding.OwnsShard(shard) {
		if forwarded {
			return api.Errorf(api.CodeUnavailable, "this orchestrator does not run shard %d of instance %q; retry", shard, req.ID)
		}
		return s.forwardCall(ctx, shard, api.VerbStart, req, nil)
	}
	reuse := req.Reuse
	if reuse == "" {
		reuse = s.opts.Reuse
	}
	retention, err := req.RetentionDuration()
	if err != nil {
		return err
	}
	opts := []control.StartOption{control.WithID(req.ID), control.WithVersion(req.Version), control.WithStartAt(req.StartAt),
		control.WithReusePolicy(reuse), control.WithRetention(retention)}
	_, err = s.client.Start(ctx, req.Name, rawOrNil(req.Input), opts...)
	if err != nil && outcomeUnknown(err) {
		// The start message may be stored (its acknowledgement was lost,
		// or this server is stopping): unavailable would tell the client
		// it was not, and its retry would find the instance "already
		// exists".
		return api.Errorf(api.CodeTimeout, "the start of %q may have been recorded (%v); read its status before starting it again", req.ID, err)
	}
	return err
}

// outcomeUnknown reports an error after which a sent request may have been
// carried out: no acknowledgement within the time, the request cut short,
// the connection lost. (No responders, by contrast, means nobody received
// it.)
func outcomeUnknown(err error) bool {
	for _, t := range []error{nats.ErrTimeout, context.DeadlineExceeded, context.Canceled,
		nats.ErrConnectionClosed, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting, nats.ErrDisconnected} {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func (s *Server) raise(ctx context.Context, data []byte) (any, error) {
	var req api.RaiseRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if err := api.CheckPayload("event payload", len(req.Payload), s.opts.MaxPayloadBytes); err != nil {
		return nil, err
	}
	if err := s.client.RaiseEvent(ctx, req.ID, req.Event, rawOrNil(req.Payload), requestID(req.RequestID)...); err != nil {
		return nil, err
	}
	return api.Empty{}, nil
}

// decodeControl decodes and validates the {"id","reason","request_id"} body
// shared by terminate, suspend and resume.
func decodeControl(data []byte) (api.TerminateRequest, error) {
	var req api.TerminateRequest
	if err := decode(data, &req); err != nil {
		return req, err
	}
	return req, req.Validate()
}

// requestID turns a request's request_id into the runtime option that makes
// it the message's identity; absent, the runtime draws a random one (and a
// retry is a new request).
func requestID(id string) []control.RequestOption {
	if id == "" {
		return nil
	}
	return []control.RequestOption{control.WithRequestID(id)}
}

type controlFunc func(c *control.Client, ctx context.Context, id, reason string, opts ...control.RequestOption) error

func (s *Server) control(ctx context.Context, data []byte, f controlFunc) (any, error) {
	req, err := decodeControl(data)
	if err != nil {
		return nil, err
	}
	if err := f(s.client, ctx, req.ID, req.Reason, requestID(req.RequestID)...); err != nil {
		return nil, err
	}
	return api.Empty{}, nil
}

func (s *Server) terminate(ctx context.Context, data []byte) (any, error) {
	return s.control(ctx, data, (*control.Client).Terminate)
}

func (s *Server) suspend(ctx context.Context, data []byte) (any, error) {
	return s.control(ctx, data, (*control.Client).Suspend)
}

func (s *Server) resume(ctx context.Context, data []byte) (any, error) {
	return s.control(ctx, data, (*control.Client).Resume)
}

func (s *Server) status(ctx context.Context, data []byte) (any, error) {
	var req api.StatusRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return statusObject(ctx, s.client, req.ID)
}

func (s *Server) purge(ctx context.Context, data []byte) (any, error) {
	var req api.PurgeRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if err := s.client.Purge(ctx, req.ID); err != nil {
		return nil, err
	}
	return api.Empty{}, nil
}

// rawOrNil passes a JSON value to the runtime's codec; an absent value is
// no payload at all rather than null.
func rawOrNil(v json.RawMessage) any {
	if len(v) == 0 {
		return nil
	}
	return v
}
