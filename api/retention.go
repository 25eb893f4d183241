package api

import "time"

// The range of a start's retention: at least a second (shorter would delete
// an instance before its caller can read the outcome), at most 100 years
// (so that a finish time plus retention stays far inside what int64
// nanoseconds hold).
const (
	MinRetention = time.Second
	MaxRetention = 100 * 365 * 24 * time.Hour
)

// RetentionDuration parses the request's retention: 0 when absent, else a
// Go duration from [MinRetention] to [MaxRetention]; anything else is a
// bad_request naming the field.
func (r *StartRequest) RetentionDuration() (time.Duration, error) {
	if r.Retention == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(r.Retention)
	if err != nil {
		return 0, Errorf(CodeBadRequest, "retention %q is not a duration: write it like 72h or 30m", r.Retention)
	}
	return d, CheckRetention(d)
}

// CheckRetention checks a retention against [MinRetention] and
// [MaxRetention]; 0 (the server's) passes.
func CheckRetention(d time.Duration) error {
	if d != 0 && (d < MinRetention || d > MaxRetention) {
		return Errorf(CodeBadRequest, "retention %v is out of range: it must be from %v to %v", d, MinRetention, MaxRetention)
	}
	return nil
}
