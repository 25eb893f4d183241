package provider

// Unwrapper is implemented by a provider that decorates another (timing,
// tracing, ...): Unwrap returns the decorated provider. A decorator forwards
// the [Provider] methods and whichever optional capability it changes
// (times, for instance); [As] finds the others on the providers it wraps,
// so a decorator never hides one, and needs no type per combination of
// them.
type Unwrapper interface {
	Unwrap() Provider
}

// As finds the optional capability T ([DedupSender], [DeferredCommitter],
// [FaultInjector], [HealthChecker], ...) on p or, through [Unwrapper], on
// the providers p decorates, outermost first, as errors.As does for errors.
// Assert optional capabilities with As, not with a type assertion, so that
// decorators keep them.
func As[T any](p Provider) (T, bool) {
	for p != nil {
		if c, ok := p.(T); ok {
			return c, true
		}
		u, ok := p.(Unwrapper)
		if !ok {
			break
		}
		p = u.Unwrap()
	}
	var zero T
	return zero, false
}
