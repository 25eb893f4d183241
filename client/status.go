package client

import (
	"encoding/json"
	"fmt"

	"github.com/reprise/reprise/api"
)

// Status is the lifecycle state of an instance; IsTerminal tells whether
// it has finished for good (completed, failed or terminated).
type Status = api.Status

// Instance statuses.
const (
	StatusPending        = api.StatusPending
	StatusScheduled      = api.StatusScheduled
	StatusRunning        = api.StatusRunning
	StatusCompleted      = api.StatusCompleted
	StatusFailed         = api.StatusFailed
	StatusTerminated     = api.StatusTerminated
	StatusSuspended      = api.StatusSuspended
	StatusContinuedAsNew = api.StatusContinuedAsNew
)

// Statuses returns every status, in lifecycle order.
func Statuses() []Status { return api.Statuses() }

// InstanceStatus is the state of an instance as the server reports it (the
// status object of the API). Output and CustomStatus are JSON; decode them
// with DecodeOutput, DecodeCustomStatus or [Output].
type InstanceStatus api.InstanceStatus

// DecodeOutput decodes the output into out (a pointer). An absent output
// leaves out untouched.
func (s *InstanceStatus) DecodeOutput(out any) error {
	return decodeRaw("output of "+s.ID, s.Output, out)
}

// DecodeCustomStatus decodes the custom status into out (a pointer). An
// absent custom status leaves out untouched.
func (s *InstanceStatus) DecodeCustomStatus(out any) error {
	return decodeRaw("custom status of "+s.ID, s.CustomStatus, out)
}

func decodeRaw(what string, data json.RawMessage, out any) error {
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("client: decode %s: %w", what, err)
	}
	return nil
}

// Output decodes the output of a completed instance as a T. For an instance
// that did not complete it returns an error wrapping [ErrNotCompleted] that
// carries the status and the instance's error.
func Output[T any](s *InstanceStatus) (T, error) {
	var v T
	if s.Status != StatusCompleted {
		if s.Error != "" {
			return v, fmt.Errorf("%w: %s is %s: %s", ErrNotCompleted, s.ID, s.Status, s.Error)
		}
		return v, fmt.Errorf("%w: %s is %s", ErrNotCompleted, s.ID, s.Status)
	}
	err := s.DecodeOutput(&v)
	return v, err
}
