// Package liveness tells whether a process's long-running loops make
// progress, for a liveness probe that restarts a wedged process instead of
// answering a constant "ok".
//
// A loop registers itself with a [Monitor] under a name and brackets each
// unit of work that must end in bounded time with [Loop.Busy]: the work
// began when Busy was called and ended when the function it returned was
// called. Waiting for input (a fetch that blocks while there is nothing to
// do, a ticker's pause) is outside any Busy bracket: an idle loop is alive
// however long it waits. [Monitor.Check] names the loops whose oldest
// unfinished work began longer ago than a limit: those are stuck (a
// deadlock, a call that never returns, user code that blocks).
//
// The package knows nothing of what the loops do; a nil *Monitor and a nil
// *Loop are valid and do nothing, so code can bracket its work
// unconditionally.
package liveness
