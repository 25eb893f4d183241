package apiserver

import (
	"context"
	"encoding/json"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime/control"
)

// statusObject reads the status of instance id as the API presents it. The
// runtime reads it in one metadata read, partition included, so its parts
// always belong to the same commit.
func statusObject(ctx context.Context, c *control.Client, id string) (*api.InstanceStatus, error) {
	st, err := c.Status(ctx, id)
	if err != nil {
		return nil, err
	}
	return toStatus(st), nil
}

// toStatus converts the runtime's view of an instance to the status object.
func toStatus(st *control.InstanceStatus) *api.InstanceStatus {
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
		Partition:    st.Partition,
		ScheduledAt:  st.ScheduledAt,
		ExpiresAt:    st.ExpiresAt,
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
