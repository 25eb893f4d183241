package api

// The Validate methods check every field of a request that does not depend
// on a server's configuration (payload limits and registered names do);
// the server, its submit path and the Go client call the same methods.
// Errors are *Error values naming the field and the allowed range.

// checkRequiredID checks the id of a request about an instance: absent is
// a missing field, present but malformed is an invalid id.
func checkRequiredID(id string) error {
	if id == "" {
		return Errorf(CodeBadRequest, "id is required: the instance id")
	}
	return ValidateInstanceID(id)
}

func checkRequestID(id string) error {
	if id == "" {
		return nil
	}
	return ValidateRequestID(id)
}

// Validate checks a start request (an empty ID is allowed: the server
// generates one).
func (r *StartRequest) Validate() error {
	if r.Name == "" {
		return Errorf(CodeBadRequest, "name is required: the registered orchestration to start")
	}
	if err := ValidateName("name", r.Name); err != nil {
		return err
	}
	if err := ValidateName("version", r.Version); err != nil {
		return err
	}
	if !r.Reuse.Valid() {
		return Errorf(CodeBadRequest, "unknown reuse policy %q: want %q or %q", r.Reuse, ReuseReject, ReuseReplaceFinished)
	}
	if r.ID != "" {
		if err := ValidateInstanceID(r.ID); err != nil {
			return err
		}
	}
	if _, err := r.RetentionDuration(); err != nil {
		return err
	}
	return CheckStartAt(r.StartAt)
}

// Validate checks a raise request.
func (r *RaiseRequest) Validate() error {
	if err := checkRequiredID(r.ID); err != nil {
		return err
	}
	if r.Event == "" {
		return Errorf(CodeBadRequest, "event is required: the name of the event to raise")
	}
	if err := ValidateName("event", r.Event); err != nil {
		return err
	}
	return checkRequestID(r.RequestID)
}

func checkControl(id, reason, requestID string) error {
	if err := checkRequiredID(id); err != nil {
		return err
	}
	if err := ValidateReason(reason); err != nil {
		return err
	}
	return checkRequestID(requestID)
}

// Validate checks a terminate request.
func (r *TerminateRequest) Validate() error { return checkControl(r.ID, r.Reason, r.RequestID) }

// Validate checks a suspend request.
func (r *SuspendRequest) Validate() error { return checkControl(r.ID, r.Reason, r.RequestID) }

// Validate checks a resume request.
func (r *ResumeRequest) Validate() error { return checkControl(r.ID, r.Reason, r.RequestID) }

// Validate checks a status request.
func (r *StatusRequest) Validate() error { return checkRequiredID(r.ID) }

// Validate checks a purge request.
func (r *PurgeRequest) Validate() error { return checkRequiredID(r.ID) }

// Validate checks a wait request. A timeout_ms above [MaxWaitTimeout] is
// clamped (see [WaitRequest.Timeout]); a negative one is refused.
func (r *WaitRequest) Validate() error {
	if err := checkRequiredID(r.ID); err != nil {
		return err
	}
	if r.TimeoutMS < 0 {
		return Errorf(CodeBadRequest, "timeout_ms is %d: it must be from 0 (the default, %s) up; values above %d are treated as %d",
			r.TimeoutMS, DefaultWaitTimeout, MaxWaitTimeout.Milliseconds(), MaxWaitTimeout.Milliseconds())
	}
	return nil
}

// Validate checks a list request. A limit above [MaxListLimit] is clamped;
// a negative one is refused.
func (r *ListRequest) Validate() error {
	if r.Status != "" && !r.Status.Valid() {
		return Errorf(CodeBadRequest, "unknown status %q: want one of %v", r.Status, Statuses())
	}
	if err := ValidateName("name", r.Name); err != nil {
		return err
	}
	if r.Parent != "" {
		if err := ValidateInstanceID(r.Parent); err != nil {
			return Errorf(CodeBadRequest, "parent: %s", err.(*Error).Message)
		}
	}
	if err := ValidateCursor(r.Cursor); err != nil {
		return err
	}
	if r.Limit < 0 {
		return Errorf(CodeBadRequest, "limit is %d: it must be from 0 (the default, %d) up; values above %d are treated as %d",
			r.Limit, DefaultListLimit, MaxListLimit, MaxListLimit)
	}
	return nil
}

// Validate checks a history request. A limit above [MaxHistoryLimit] is
// clamped; a negative one is refused.
func (r *HistoryRequest) Validate() error {
	if err := checkRequiredID(r.ID); err != nil {
		return err
	}
	if r.Limit < 0 {
		return Errorf(CodeBadRequest, "limit is %d: it must be from 0 (the default, %d) up; values above %d are treated as %d",
			r.Limit, DefaultHistoryLimit, MaxHistoryLimit, MaxHistoryLimit)
	}
	return nil
}
