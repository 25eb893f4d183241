package apiserver

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/runtime/control"
)

// listedStatuses returns the statuses the engine writes, in the order a
// list without filters walks them. (Pending is never stored; Scheduled,
// added later, comes last so that cursors issued before keep their index.)
func listedStatuses() []runtime.Status {
	return []runtime.Status{
		runtime.StatusRunning, runtime.StatusSuspended, runtime.StatusContinuedAsNew,
		runtime.StatusCompleted, runtime.StatusFailed, runtime.StatusTerminated,
		runtime.StatusScheduled,
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

// errNoRoom says a page had no room for its first instance in the budget
// left of a reply, while starting at the beginning of an index: it is not
// an error to the client, whose next request starts there.
var errNoRoom = errors.New("apiserver: no room left in this reply")

// listBudget bounds a page by the bytes of its encoded instances; a first
// page holds at least one instance when any is left, whatever its size.
type listBudget struct {
	bytes int
	first bool
}

// take reports whether an instance of size bytes still fits, n instances
// being in the page already, and counts it if so.
func (b *listBudget) take(size, n int) bool {
	if size > b.bytes && (n > 0 || !b.first) {
		return false
	}
	b.bytes -= size + 1
	return true
}

// checkList validates a list request and sets its limit.
func checkList(req *api.ListRequest) error {
	if err := req.Validate(); err != nil {
		return err
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
//
// A page ends early when the next instance would overrun b; its cursor then
// continues at that instance.
func (s *Server) listLocal(ctx context.Context, req api.ListRequest, b listBudget) (api.ListReply, error) {
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
		q := control.ListQuery{Cursor: req.Cursor, Limit: limit}
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
		full := false
		if reply.Instances, page, full, err = s.statuses(ctx, q, page, keep, reply.Instances, &b); err != nil {
			return api.ListReply{}, err
		}
		if full && len(reply.Instances) == 0 {
			// No room for even the first instance: the caller asks again
			// from the same cursor in its next request.
			return reply, errNoRoom
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
		q := control.ListQuery{Status: all[idx], Cursor: inner, Limit: limit - len(reply.Instances)}
		page, err := s.listPage(ctx, q)
		if err != nil {
			return api.ListReply{}, err
		}
		full := false
		if reply.Instances, page, full, err = s.statuses(ctx, q, page, keep, reply.Instances, &b); err != nil {
			return api.ListReply{}, err
		}
		if full && len(reply.Instances) == 0 {
			return reply, errNoRoom // as above
		}
		inner = page.NextCursor
		if full {
			// Cut short: an empty cursor after taken ids means the
			// index ended; with none taken it means "from its start".
			if inner == "" && len(page.IDs) > 0 {
				idx++
			}
			break
		}
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
func (s *Server) listPage(ctx context.Context, q control.ListQuery) (control.ListPage, error) {
	page, err := s.client.List(ctx, q)
	if errors.Is(err, provider.ErrInvalidArgument) {
		return page, api.Errorf(api.CodeBadRequest, "malformed cursor %q: pass back a next_cursor unchanged", q.Cursor)
	}
	return page, err
}

// statuses appends the status objects of the ids of page (read with q)
// that keep accepts; ids purged since the page was read are skipped. When
// the budget runs out before the page's end it reports full and returns the
// page cut short: its ids up to the last one taken and the cursor after
// that one (the page read again with that limit).
func (s *Server) statuses(ctx context.Context, q control.ListQuery, page control.ListPage, keep func(*api.InstanceStatus) bool, out []api.InstanceStatus, b *listBudget) ([]api.InstanceStatus, control.ListPage, bool, error) {
	for i, id := range page.IDs {
		if !s.sharding.OwnsShard(s.sharding.ShardOf(id)) {
			continue // left in the store from a shard this server ran before
		}
		st, err := statusObject(ctx, s.client, id)
		if errors.Is(err, runtime.ErrInstanceNotFound) {
			continue
		}
		if err != nil {
			return out, page, false, err
		}
		if !keep(st) {
			continue
		}
		if !b.take(encodedSize(st), len(out)) {
			cut, err := s.cutPage(ctx, q, page, i)
			return out, cut, true, err
		}
		out = append(out, *st)
	}
	return out, page, false, nil
}

// cutPage returns page ending before its id at index n: the first n ids,
// and a cursor continuing at the n-th.
func (s *Server) cutPage(ctx context.Context, q control.ListQuery, page control.ListPage, n int) (control.ListPage, error) {
	if n == 0 {
		// Nothing of this page was taken: continue where it began. An
		// empty cursor means the beginning, which a "<index>:" cursor
		// says as well.
		return control.ListPage{NextCursor: q.Cursor, IDs: nil}, nil
	}
	q.Limit = n
	again, err := s.listPage(ctx, q)
	if err != nil {
		return page, err
	}
	return again, nil
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
