package host

import "runtime/debug"

// DefaultGCPercent is the garbage collector's target (GOGC) that [Main]
// sets when the environment sets none: 200, where Go's default is 100.
//
// The engine allocates mostly short-lived objects (messages, turns, the
// embedded NATS server's buffers), and little of its heap stays live: at
// GOGC=100 the collector ran often enough to take 8–9 % of the CPU of an
// orchestration in the bench. Letting the heap grow twice as far past the
// live data before a collection halves how often it runs, which took 4–6 %
// off the CPU per orchestration for about 35 MB more peak memory
// (140 → 175 MB in bench; bench/README). GOMEMLIMIT, when set, still
// bounds the heap: near it the collector runs as often as it must.
const DefaultGCPercent = 200

// SetDefaultGCPercent sets the garbage collector's target to
// [DefaultGCPercent] unless getenv("GOGC") is set (the Go runtime has then
// applied it); it reports whether it set it. It changes the whole process:
// only a main function (such as [Main]) should call it.
func SetDefaultGCPercent(getenv func(string) string) bool {
	if getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(DefaultGCPercent)
	return true
}
