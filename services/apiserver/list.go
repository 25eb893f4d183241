package apiserver

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/api"
)

// listedStatuses returns the statuses the engine writes, in the order a
// list without filters walks them. (Pending is never stored.)
func listedStatuses() []runtime.Status {
	return []runtime.Status{
		runtime.StatusRunning, runtime.StatusSuspended, runtime.StatusContinuedAsNew,
		runtime.StatusCompleted, runtime.StatusFailed, runtime.StatusTerminated,
	}
}

// list pages through the instances of every orchestrator (see
// listSharded).
func (s *Server) list(ctx context.Context, data []byte) (any, error) {
	var req api.ListRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if err := checkList(&req); err != nil {
		return nil, err
	}
	return s.listSharded(ctx, req, req.Limit)
}

// checkList validates a list request and sets its limit.
func checkList(req *api.ListRequest) error {
	if req.Status != "" && !req.Status.Valid() {
		return api.Errorf(api.CodeBadRequest, "unknown status %q", req.Status)
	}
	if req.Limit < 0 {
		return api.Errorf(api.CodeBadRequest, "limit is negative")
	}
	if req.Limit == 0 {
		req.Limit = api.DefaultListLimit
	}
	req.Limit = min(req.Limit, api.MaxListLimit)
	return nil
}

// listLocal pages through the instances in this server's store. The
// runtime lists by exactly one indexed key, so the most selective filter
// given (name, then parent, then status) picks the index and the others
// filter the page. Without filters, the status indexes are walked one after
// another and the cursor records which one ("<index>:<inner cursor>").
func (s *Server) listLocal(ctx context.Context, req api.ListRequest) (api.ListReply, error) {
	if err := checkList(&req); err != nil {
		return api.ListReply{}, err
	}
	limit := req.Limit
	keep := func(st *api.InstanceStatus) bool {
		return (req.Status == "" || st.Status == req.Status) &&
			(req.Name == "" || st.Name == req.Name) &&
			(req.Parent == "" || st.Parent == req.Parent)
	}
	reply := api.ListReply{Instances: []api.InstanceStatus{}}
	if req.Name != "" || req.Parent != "" || req.Status != "" {
		q := runtime.ListQuery{Cursor: req.Cursor, Limit: limit}
		switch {
		case req.Name != "":
			q.Name = req.Name
		case req.Parent != "":
			q.Parent = req.Parent
		default:
			q.Status = runtime.Status(req.Status)
		}
		page, err := s.listPage(ctx, q)
		if err != nil {
			return api.ListReply{}, err
		}
		if reply.Instances, err = s.statuses(ctx, page.IDs, keep, reply.Instances); err != nil {
			return api.ListReply{}, err
		}
		reply.NextCursor = page.NextCursor
		return reply, nil
	}

	all := listedStatuses()
	idx, inner, err := parseAllCursor(req.Cursor, len(all))
	if err != nil {
		return api.ListReply{}, err
	}
	for idx < len(all) && len(reply.Instances) < limit {
		page, err := s.listPage(ctx, runtime.ListQuery{Status: all[idx], Cursor: inner, Limit: limit - len(reply.Instances)})
		if err != nil {
			return api.ListReply{}, err
		}
		if reply.Instances, err = s.statuses(ctx, page.IDs, keep, reply.Instances); err != nil {
			return api.ListReply{}, err
		}
		inner = page.NextCursor
		if inner == "" {
			idx++
		}
	}
	if idx < len(all) {
		reply.NextCursor = strconv.Itoa(idx) + ":" + inner
	}
	return reply, nil
}

// listPage reads one page of ids; the provider refuses a cursor it did not
// issue as an invalid argument, which is the client's error.
func (s *Server) listPage(ctx context.Context, q runtime.ListQuery) (runtime.ListPage, error) {
	page, err := s.client.List(ctx, q)
	if errors.Is(err, provider.ErrInvalidArgument) {
		return page, api.Errorf(api.CodeBadRequest, "malformed cursor %q: pass back a next_cursor unchanged", q.Cursor)
	}
	return page, err
}

// statuses appends the status objects of ids that keep accepts; ids purged
// since the page was read are skipped.
func (s *Server) statuses(ctx context.Context, ids []string, keep func(*api.InstanceStatus) bool, out []api.InstanceStatus) ([]api.InstanceStatus, error) {
	for _, id := range ids {
		if !s.sharding.OwnsShard(s.sharding.ShardOf(id)) {
			continue // left in the store from a shard this server ran before
		}
		st, err := statusObject(ctx, s.client, id)
		if errors.Is(err, runtime.ErrInstanceNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		if keep(st) {
			out = append(out, *st)
		}
	}
	return out, nil
}

func parseAllCursor(c string, n int) (int, string, error) {
	if c == "" {
		return 0, "", nil
	}
	i, inner, ok := strings.Cut(c, ":")
	idx, err := strconv.Atoi(i)
	if !ok || err != nil || idx < 0 || idx >= n {
		return 0, "", api.Errorf(api.CodeBadRequest, "malformed cursor %q: pass back a next_cursor unchanged", c)
	}
	return idx, inner, nil
}
