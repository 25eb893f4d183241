package host

import "time"

// SetBeforeRecovery makes Start call f with the health address once the
// HTTP endpoints are served and before the provider recovers; Start waits
// for f to return, so a test can probe the node while it is not ready.
func SetBeforeRecovery(c *Config, f func(healthAddr string)) { c.beforeRecovery = f }

// SetMaxReplyBytes bounds reply pages below the NATS max payload, so that
// a test pages with a few payloads instead of dozens of megabytes.
func SetMaxReplyBytes(c *Config, n int) { c.maxReplyBytes = n }

// SetSubmitMaxDeliveries lowers the deliveries after which a submission
// failing with an internal error is dead-lettered.
func SetSubmitMaxDeliveries(c *Config, n int) { c.submitMaxDeliveries = n }

// SetSubmitUnavailableMaxAge shortens how long a submission waits for its
// shard's owner before it is dead-lettered.
func SetSubmitUnavailableMaxAge(c *Config, d time.Duration) { c.submitUnavailableMaxAge = d }

// SetAPIConcurrency bounds the API requests and submissions handled at once.
func SetAPIConcurrency(c *Config, n int) { c.apiConcurrency = n }

// NextCommand is the command the ready message suggests.
func NextCommand(n *Node, names []string) string { return nextCommand(n, names) }
