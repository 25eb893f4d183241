package memory

import (
	"log/slog"
	"time"
)

// DefaultDedupWindow is how long the ID of a delivered message is remembered
// so that sending it again to the same queue is a no-op.
const DefaultDedupWindow = 2 * time.Minute

// Option configures a [Provider] built by [New].
type Option func(*config)

type config struct {
	clock       Clock
	dedupWindow time.Duration
	logger      *slog.Logger
}

func defaultConfig() config {
	return config{
		clock:       wallClock{},
		dedupWindow: DefaultDedupWindow,
		logger:      slog.New(slog.DiscardHandler),
	}
}

// WithClock makes the provider read time from c (default: the wall clock).
func WithClock(c Clock) Option {
	return func(cfg *config) {
		if c != nil {
			cfg.clock = c
		}
	}
}

// WithDedupWindow sets how long a delivered message's ID keeps suppressing a
// re-send of the same ID to the same queue (default [DefaultDedupWindow]; 0
// forgets IDs as soon as their message is acked, so only pending messages
// deduplicate).
func WithDedupWindow(d time.Duration) Option {
	return func(cfg *config) {
		if d >= 0 {
			cfg.dedupWindow = d
		}
	}
}

// WithLogger sets the logger for rare events such as dead-lettering (default:
// discard).
func WithLogger(l *slog.Logger) Option {
	return func(cfg *config) {
		if l != nil {
			cfg.logger = l
		}
	}
}
