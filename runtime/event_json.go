package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// eventJSON is the readable form of an Event used by golden histories and
// tools. Payloads that are valid JSON are embedded as JSON; others are
// base64.
type eventJSON struct {
	Kind          string          `json:"kind"`
	Decision      *uint64         `json:"decision,omitempty"`
	Time          *time.Time      `json:"time,omitempty"`
	Name          string          `json:"name,omitempty"`
	Version       string          `json:"version,omitempty"`
	InstanceID    string          `json:"instanceId,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	PayloadBase64 []byte          `json:"payloadBase64,omitempty"`
	Failure       *Error          `json:"failure,omitempty"`
	Parent        *ParentRef      `json:"parent,omitempty"`
	Queue         string          `json:"queue,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	Attempt       int             `json:"attempt,omitempty"`
	Timeout       string          `json:"timeout,omitempty"`
	Carried       []carriedJSON   `json:"carried,omitempty"`
}

type carriedJSON struct {
	Name          string          `json:"name"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	PayloadBase64 []byte          `json:"payloadBase64,omitempty"`
}

func splitPayload(p []byte) (json.RawMessage, []byte) {
	if len(p) == 0 {
		return nil, nil
	}
	if json.Valid(p) {
		return json.RawMessage(p), nil
	}
	return nil, p
}

// joinPayload restores a payload; embedded JSON is compacted so that a file
// indented by hand or by MarshalIndent yields the recorded bytes.
func joinPayload(raw json.RawMessage, b64 []byte) []byte {
	if len(raw) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err == nil {
			return buf.Bytes()
		}
		return []byte(raw)
	}
	return b64
}

// MarshalJSON renders the event readably (for golden histories and tools).
func (e Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{Kind: e.Kind.String(), Name: e.Name, Version: e.Version, InstanceID: e.InstanceID,
		Failure: e.Failure, Parent: e.Parent, Queue: e.Queue, Reason: e.Reason, Attempt: e.Attempt}
	if e.Kind.isDecision() || e.Decision != 0 || e.Kind == KindActivityCompleted || e.Kind == KindTimerFired ||
		e.Kind == KindActivityFailed || e.Kind == KindSubOrchestrationCompleted || e.Kind == KindSubOrchestrationFailed ||
		e.Kind == KindCancelRequested {
		d := e.Decision
		j.Decision = &d
	}
	if !e.Time.IsZero() {
		t := e.Time
		j.Time = &t
	}
	if e.Timeout != 0 {
		j.Timeout = e.Timeout.String()
	}
	j.Payload, j.PayloadBase64 = splitPayload(e.Payload)
	for _, c := range e.Carried {
		cj := carriedJSON{Name: c.Name}
		cj.Payload, cj.PayloadBase64 = splitPayload(c.Payload)
		j.Carried = append(j.Carried, cj)
	}
	return json.Marshal(j)
}

// UnmarshalJSON parses the form MarshalJSON writes.
func (e *Event) UnmarshalJSON(data []byte) error {
	var j eventJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	kind, ok := kindByName(j.Kind)
	if !ok {
		return fmt.Errorf("runtime: unknown event kind %q", j.Kind)
	}
	*e = Event{Kind: kind, Name: j.Name, Version: j.Version, InstanceID: j.InstanceID, Failure: j.Failure,
		Parent: j.Parent, Queue: j.Queue, Reason: j.Reason, Attempt: j.Attempt, Payload: joinPayload(j.Payload, j.PayloadBase64)}
	if j.Decision != nil {
		e.Decision = *j.Decision
	}
	if j.Time != nil && !j.Time.IsZero() {
		t := j.Time.UTC()
		// History stores times as Unix nanoseconds: refuse what it cannot
		// hold (before 1678 or after 2262) rather than silently change it.
		if !time.Unix(0, t.UnixNano()).UTC().Equal(t) {
			return fmt.Errorf("runtime: event time %s is outside the range history can store (years 1678 to 2262)", j.Time.Format(time.RFC3339Nano))
		}
		e.Time = t
	}
	if j.Timeout != "" {
		d, err := time.ParseDuration(j.Timeout)
		if err != nil {
			return fmt.Errorf("runtime: event timeout: %w", err)
		}
		e.Timeout = d
	}
	for _, c := range j.Carried {
		e.Carried = append(e.Carried, CarriedEvent{Name: c.Name, Payload: joinPayload(c.Payload, c.PayloadBase64)})
	}
	return nil
}

func kindByName(name string) (EventKind, bool) {
	for k, n := range kindNames {
		if n != "" && n == name {
			return EventKind(k), true
		}
	}
	return 0, false
}
