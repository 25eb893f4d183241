package runtime

import (
	"fmt"
	"reflect"
)

// Future is the eventual result of an orchestration call. Futures complete in
// an order fixed by the history, so awaiting them is deterministic.
type Future interface {
	// Await blocks the calling orchestration goroutine until the future is
	// done, then decodes its result into out (a pointer, or nil to discard)
	// and returns its error.
	Await(out any) error
	// IsReady reports whether Await would return without blocking.
	IsReady() bool
	// Cancel gives up on the result: an activity not yet started is revoked,
	// a child orchestration is terminated, a timer is dropped and an event
	// wait is withdrawn. Await then returns an error wrapping ErrCancelled.
	// Cancelling a done future does nothing.
	Cancel()
}

// future is the only implementation of Future. It is touched only by the
// goroutine that currently holds the instance's control.
type future struct {
	inst    *Instance
	done    bool
	payload []byte
	// local is a result produced inside the process (WhenAny's index),
	// assigned without the codec.
	local   any
	err     error
	waiters []*coroutine
	// callbacks run, in registration order, when the future completes.
	callbacks []func()
	// cancel undoes the work behind the future; nil when there is nothing
	// to undo.
	cancel func()
}

func (inst *Instance) newFuture() *future { return &future{inst: inst} }

// failedFuture returns a future that is already done with err.
func (inst *Instance) failedFuture(err error) *future {
	return &future{inst: inst, done: true, err: err}
}

func (f *future) IsReady() bool { return f.done }

func (f *future) Await(out any) error {
	if !f.done {
		f.inst.block(f)
	}
	if f.err != nil {
		return f.err
	}
	if f.local != nil {
		if out == nil {
			return nil
		}
		rv := reflect.ValueOf(out)
		lv := reflect.ValueOf(f.local)
		if rv.Kind() != reflect.Pointer || rv.IsNil() || !lv.Type().AssignableTo(rv.Elem().Type()) {
			return fmt.Errorf("runtime: Await needs a *%s, got %T", lv.Type(), out)
		}
		rv.Elem().Set(lv)
		return nil
	}
	return decodeValue(f.inst.e.codec, f.payload, out)
}

func (f *future) Cancel() {
	if f.done {
		return
	}
	if f.cancel != nil {
		f.cancel()
	}
	f.resolve(nil, &Error{Type: typeCancelled, Message: "cancelled"})
}

// resolve completes the future once; later calls are ignored.
func (f *future) resolve(payload []byte, err error) {
	if f.done {
		return
	}
	f.done, f.payload, f.err, f.cancel = true, payload, err, nil
	for _, co := range f.waiters {
		f.inst.makeReady(co)
	}
	f.waiters = nil
	cbs := f.callbacks
	f.callbacks = nil
	for _, cb := range cbs {
		cb()
	}
}

// onDone runs cb when the future completes (now, if it already has).
func (f *future) onDone(cb func()) {
	if f.done {
		cb()
		return
	}
	f.callbacks = append(f.callbacks, cb)
}

// asFuture unwraps a Future created by this package.
func asFuture(f Future) *future {
	ff, ok := f.(*future)
	if !ok {
		panic(fmt.Sprintf("runtime: %T is not a future of this runtime", f))
	}
	return ff
}

// whenAll returns a future that completes when every one of fs has; its
// error is the first error among fs in argument order.
func (inst *Instance) whenAll(fs []Future) *future {
	all := inst.newFuture()
	remaining := len(fs)
	finish := func() {
		for _, f := range fs {
			if err := asFuture(f).err; err != nil {
				all.resolve(nil, err)
				return
			}
		}
		all.resolve(nil, nil)
	}
	if remaining == 0 {
		finish()
		return all
	}
	for _, f := range fs {
		asFuture(f).onDone(func() {
			remaining--
			if remaining == 0 {
				finish()
			}
		})
	}
	return all
}

// whenAny returns a future whose result is the index (an int) of the first of
// fs to complete; among futures already done, the lowest index wins.
func (inst *Instance) whenAny(fs []Future) *future {
	anyF := inst.newFuture()
	for i, f := range fs {
		if asFuture(f).done {
			anyF.local = i
			anyF.resolve(nil, nil)
			return anyF
		}
	}
	for i, f := range fs {
		asFuture(f).onDone(func() {
			if !anyF.done {
				anyF.local = i
				anyF.resolve(nil, nil)
			}
		})
	}
	return anyF
}
