package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/api"
)

// statusObject reads the status of instance id as the API presents it.
//
// Metadata and partition are two reads; a commit between them (a reuse start
// or a continue-as-new moving to the next partition) would pair one
// partition with another's metadata. So the partition is read before and
// after the metadata, and the read is retried until they agree: partitions
// only grow, so equal readings bracket metadata of that partition.
func statusObject(ctx context.Context, c *runtime.Client, p provider.Provider, id string) (*api.InstanceStatus, error) {
	for {
		before, err := currentPartition(ctx, p, id)
		if err != nil {
			return nil, err
		}
		st, err := c.Status(ctx, id)
		if err != nil {
			return nil, err
		}
		after, err := currentPartition(ctx, p, id)
		if err != nil {
			return nil, err
		}
		if before == after {
			out := toStatus(st)
			out.Partition = after
			return out, nil
		}
	}
}

func currentPartition(ctx context.Context, p provider.Provider, id string) (uint64, error) {
	part, err := p.CurrentPartition(ctx, id)
	if errors.Is(err, provider.ErrNotFound) {
		return 0, fmt.Errorf("%w: %q", runtime.ErrInstanceNotFound, id)
	}
	if err != nil {
		return 0, fmt.Errorf("apiserver: partition of %q: %w", id, err)
	}
	return part, nil
}

// toStatus converts the runtime's view of an instance to the status object.
func toStatus(st *runtime.InstanceStatus) *api.InstanceStatus {
	return &api.InstanceStatus{
		ID:           st.ID,
		Name:         st.Name,
		Version:      st.Version,
		Status:       api.Status(st.Status),
		Output:       asJSON(st.Output),
		Error:        st.Error,
		CustomStatus: asJSON(st.CustomStatus),
		Parent:       st.Parent,
		CreatedAt:    st.CreatedAt,
		UpdatedAt:    st.UpdatedAt,
	}
}

// asJSON returns data verbatim when it is JSON (the service's codec is
// JSON) and as a JSON string otherwise, so a reply is always valid JSON.
func asJSON(data []byte) json.RawMessage {
	if len(data) == 0 {
		return nil
	}
	if json.Valid(data) {
		return json.RawMessage(data)
	}
	b, _ := json.Marshal(string(data))
	return b
}
