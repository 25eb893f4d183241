package host

// SetBeforeRecovery makes Start call f with the health address once the
// HTTP endpoints are served and before the provider recovers; Start waits
// for f to return, so a test can probe the node while it is not ready.
func SetBeforeRecovery(c *Config, f func(healthAddr string)) { c.beforeRecovery = f }
