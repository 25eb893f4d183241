package runtime

import (
	"fmt"
	"runtime/debug"
)

// Orchestration code runs on ordinary goroutines ("coroutines" here), but
// only one of them runs at a time: the engine hands control to a coroutine
// by sending on its resume channel and takes it back when the coroutine
// blocks in Await or returns (it then sends on the instance's yield channel).
// Ready coroutines run in FIFO order and futures complete in history order,
// so the interleaving is a function of the history alone.
//
// A coroutine that is parked when its instance is evicted or finishes is
// stopped by closing the instance's kill channel: Await panics with
// killSignal, which unwinds the user's stack (running its defers) and is
// recovered at the coroutine's root. The instance waits for every coroutine
// to exit, so no goroutine outlives its instance.

type coroutine struct {
	resume chan struct{}
}

// killSignal is the panic value that unwinds a killed coroutine.
type killSignal struct{}

// nondeterminismPanic carries a nondeterminism error out of user code.
type nondeterminismPanic struct{ err *NondeterminismError }

// spawn starts fn on a new coroutine, ready to run when the engine next
// schedules.
func (inst *Instance) spawn(fn func()) {
	co := &coroutine{resume: make(chan struct{})}
	inst.wg.Add(1)
	go inst.coroutineMain(co, fn)
	inst.makeReady(co)
}

func (inst *Instance) coroutineMain(co *coroutine, fn func()) {
	defer inst.wg.Done()
	select {
	case <-co.resume:
	case <-inst.kill:
		return
	}
	defer func() {
		r := recover()
		if _, killed := r.(killSignal); killed {
			return // the engine is waiting in stop, not for a yield
		}
		if r != nil {
			if nd, ok := r.(nondeterminismPanic); ok {
				inst.fail(nd.err)
			} else {
				inst.fail(&Error{Type: typePanic, Message: fmt.Sprintf("panic: %v", r), Stack: string(debug.Stack())})
			}
		}
		inst.running = nil
		inst.yield <- struct{}{}
	}()
	fn()
}

func (inst *Instance) makeReady(co *coroutine) { inst.ready = append(inst.ready, co) }

// run hands control to ready coroutines until all are blocked or done, or
// the instance failed.
func (inst *Instance) run() {
	for inst.readyHead < len(inst.ready) && inst.failure == nil {
		co := inst.ready[inst.readyHead]
		inst.ready[inst.readyHead] = nil
		inst.readyHead++
		inst.running = co
		co.resume <- struct{}{}
		<-inst.yield
	}
	if inst.readyHead == len(inst.ready) {
		inst.ready, inst.readyHead = inst.ready[:0], 0
	}
}

// block parks the running coroutine until f is done.
func (inst *Instance) block(f *future) {
	co := inst.running
	if co == nil {
		panic("runtime: Await called outside orchestration code (use ctx.Go for concurrency)")
	}
	for !f.done {
		f.waiters = append(f.waiters, co)
		inst.running = nil
		inst.yield <- struct{}{}
		select {
		case <-co.resume:
		case <-inst.kill:
			panic(killSignal{})
		}
		// run set inst.running = co before resuming.
	}
}

// stop kills every coroutine of the instance and waits for them to exit.
// It is idempotent.
func (inst *Instance) stop() {
	if inst.killed {
		return
	}
	inst.killed = true
	close(inst.kill)
	inst.wg.Wait()
}
