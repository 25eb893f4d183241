package runtime

import (
	"errors"
	"math"
	"slices"
	"time"
)

// RetryPolicy retries a failed activity or sub-orchestration with exponential
// backoff on durable timers. The zero value does not retry.
type RetryPolicy struct {
	// MaxAttempts bounds the attempts, the first included (0 or 1: no retry).
	MaxAttempts int
	// InitialInterval is the delay before the second attempt (default 1 s).
	InitialInterval time.Duration
	// BackoffCoefficient multiplies the delay after each attempt (default 2).
	BackoffCoefficient float64
	// MaxInterval caps the delay (default 100 × InitialInterval).
	MaxInterval time.Duration
	// NonRetryable lists [Error.Type] values that are never retried.
	// Errors marked NonRetryable, cancellations and terminations are never
	// retried either.
	NonRetryable []string
}

// delay returns the backoff after the given failed attempt (1-based).
func (p *RetryPolicy) delay(attempt int) time.Duration {
	initial := p.InitialInterval
	if initial <= 0 {
		initial = time.Second
	}
	coef := p.BackoffCoefficient
	if coef < 1 {
		coef = 2
	}
	maxI := p.MaxInterval
	if maxI <= 0 {
		maxI = 100 * initial
	}
	d := float64(initial) * math.Pow(coef, float64(attempt-1))
	if d > float64(maxI) {
		return maxI
	}
	return time.Duration(d)
}

// retryable reports whether err, the failure of the given attempt, is
// retried.
func (p *RetryPolicy) retryable(err error, attempt int) bool {
	if p == nil || attempt >= p.MaxAttempts {
		return false
	}
	if errors.Is(err, ErrCancelled) || errors.Is(err, ErrTerminated) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		if e.NonRetryable || slices.Contains(p.NonRetryable, e.Type) {
			return false
		}
	}
	return true
}

// callOptions collects the options of an activity or sub-orchestration call.
type callOptions struct {
	retry      *RetryPolicy
	timeout    time.Duration
	queue      string
	instanceID string
	version    string
}

// ActivityOption configures [OrchestrationContext.CallActivity].
type ActivityOption interface{ applyActivity(*callOptions) }

// SubOption configures [OrchestrationContext.CallSubOrchestration].
type SubOption interface{ applySub(*callOptions) }

// CallOption is an option valid for both activities and sub-orchestrations.
type CallOption struct{ apply func(*callOptions) }

func (o CallOption) applyActivity(c *callOptions) { o.apply(c) }
func (o CallOption) applySub(c *callOptions)      { o.apply(c) }

type activityOnly func(*callOptions)

func (o activityOnly) applyActivity(c *callOptions) { o(c) }

type subOnly func(*callOptions)

func (o subOnly) applySub(c *callOptions) { o(c) }

// WithRetry retries failed attempts according to p.
func WithRetry(p RetryPolicy) CallOption {
	return CallOption{func(c *callOptions) { c.retry = &p }}
}

// WithTimeout bounds each attempt: an attempt still running after d fails
// with an error wrapping ErrTimeout (and is retried if a retry policy allows).
// An activity's context also carries the deadline.
func WithTimeout(d time.Duration) CallOption {
	return CallOption{func(c *callOptions) { c.timeout = d }}
}

// WithQueue routes an activity to the named worker queue instead of the
// default one; a worker serving that queue must run it.
func WithQueue(queue string) ActivityOption {
	return activityOnly(func(c *callOptions) { c.queue = queue })
}

// WithInstanceID gives a sub-orchestration an explicit instance id (default:
// derived from the parent's id and the call's position). Retry attempts after
// the first append "#<attempt>".
func WithInstanceID(id string) SubOption {
	return subOnly(func(c *callOptions) { c.instanceID = id })
}

// WithVersion starts a sub-orchestration at a registered version instead of
// the latest.
func WithVersion(version string) SubOption {
	return subOnly(func(c *callOptions) { c.version = version })
}

// EventOption configures [OrchestrationContext.WaitForEvent].
type EventOption func(*eventOptions)

type eventOptions struct{ timeout time.Duration }

// WithEventTimeout fails the wait with an error wrapping ErrTimeout if no
// event arrives within d.
func WithEventTimeout(d time.Duration) EventOption {
	return func(o *eventOptions) { o.timeout = d }
}

// ContinueAsNewOption configures [OrchestrationContext.ContinueAsNew].
type ContinueAsNewOption func(*continueRequest)

// WithContinueVersion continues as the given version instead of the latest.
func WithContinueVersion(version string) ContinueAsNewOption {
	return func(r *continueRequest) { r.version, r.versionSet = version, true }
}

type continueRequest struct {
	input      []byte
	version    string
	versionSet bool
	err        error
}
