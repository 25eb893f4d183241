package client

import (
	"context"
	"iter"

	"github.com/reprise/reprise/api"
)

// ListQuery selects instances. Filters combine with AND; with none, every
// instance is listed.
type ListQuery struct {
	// Status selects instances in this status.
	Status Status
	// Name selects instances of this orchestration.
	Name string
	// Parent selects the sub-orchestrations of this instance.
	Parent string
	// Cursor continues from a previous page's NextCursor ("" starts at the
	// beginning).
	Cursor string
	// Limit caps the page size (0: the server's default).
	Limit int
}

// ListPage is one page of instances. A page may hold fewer instances than
// the limit, even none, while NextCursor is not empty.
type ListPage struct {
	Instances []InstanceStatus
	// NextCursor continues the listing; "" when this is the last page.
	NextCursor string
	// UnreachableShards lists the shards whose orchestrator could not be
	// reached for this page (no owner now, during a fail-over): their
	// instances are missing from it.
	UnreachableShards []int
}

// List returns one page of the instances q selects.
func (c *Client) List(ctx context.Context, q ListQuery) (*ListPage, error) {
	var rep api.ListReply
	req := api.ListRequest{Status: q.Status, Name: q.Name, Parent: q.Parent, Cursor: q.Cursor, Limit: q.Limit}
	if err := validate(api.VerbList, &req); err != nil {
		return nil, err
	}
	if err := c.callRetry(ctx, api.VerbList, req, &rep, c.requestTimeout, retryLostReply); err != nil {
		return nil, err
	}
	page := &ListPage{Instances: make([]InstanceStatus, len(rep.Instances)), NextCursor: rep.NextCursor,
		UnreachableShards: rep.UnreachableShards}
	for i, st := range rep.Instances {
		page.Instances[i] = InstanceStatus(st)
	}
	return page, nil
}

// Instances iterates over every instance q selects, fetching page after
// page (q.Limit sets the page size). An error ends the iteration after being
// yielded.
func (c *Client) Instances(ctx context.Context, q ListQuery) iter.Seq2[InstanceStatus, error] {
	return func(yield func(InstanceStatus, error) bool) {
		for {
			page, err := c.List(ctx, q)
			if err != nil {
				yield(InstanceStatus{}, err)
				return
			}
			for _, st := range page.Instances {
				if !yield(st, nil) {
					return
				}
			}
			if page.NextCursor == "" || page.NextCursor == q.Cursor {
				return
			}
			q.Cursor = page.NextCursor
		}
	}
}
