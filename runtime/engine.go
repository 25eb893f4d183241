package runtime

import (
	"log/slog"
	"time"
)

// Limits bound what one instance may do. Zero fields take the defaults.
type Limits struct {
	// MaxPayloadBytes bounds every encoded input, output, result and event
	// payload (default 2 MiB).
	MaxPayloadBytes int
	// MaxEventsPerPartition bounds the history of one partition (default
	// 200,000); an instance that exceeds it fails with an error that
	// recommends ContinueAsNew.
	MaxEventsPerPartition int
	// MaxPendingFutures bounds the calls an instance may have outstanding
	// at once (default 100,000); a call beyond it fails with
	// ErrTooManyPending.
	MaxPendingFutures int
}

func (l Limits) withDefaults() Limits {
	if l.MaxPayloadBytes <= 0 {
		l.MaxPayloadBytes = 2 << 20
	}
	if l.MaxEventsPerPartition <= 0 {
		l.MaxEventsPerPartition = 200_000
	}
	if l.MaxPendingFutures <= 0 {
		l.MaxPendingFutures = 100_000
	}
	return l
}

// Engine is the pure core: configuration plus the turn function. It does no
// I/O; a worker (package runtime/worker) feeds it batches ([Engine.Turn])
// and applies what it returns ([TurnResult]), as etcd raft's RawNode hands
// out Ready values. Create it with [NewEngine]; safe for concurrent use (one
// turn per instance at a time).
type Engine struct {
	reg               *Registry
	codec             Codec
	limits            Limits
	logger            *slog.Logger
	orchestratorQueue string
	activityQueue     string
	// maxDeliveries: a message delivered more often than this poisons the
	// instance.
	maxDeliveries int
	// unknownAttempts: deliveries an unregistered orchestration is retried
	// (with backoff) before the instance fails.
	unknownAttempts int
	unknownBackoff  time.Duration
	// retention: how long finished instances and earlier executions are
	// kept (retention.go).
	retention time.Duration
}

func (e *Engine) backoff(attempt int) time.Duration {
	d := e.unknownBackoff
	for i := 1; i < attempt && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}
