package worker

import "sync"

// turnOrder keeps what a worker reports after each turn of an instance (its
// status change and notification) in the order of the instance's turns. A
// provider may release an instance's lock before Commit returns (a durable
// one releases it while the commit's record is synced), so the next turn
// can commit on another goroutine and return first; without the order, a
// "running" notification could follow the "completed" one.
type turnOrder struct {
	mu   sync.Mutex
	last map[string]chan struct{} // closed once that turn has reported
}

// enter is called while the instance's lock is held, before its commit:
// it returns the report of the instance's previous turn to wait for (nil
// when none is pending) and this turn's, to close with leave.
func (o *turnOrder) enter(id string) (prev <-chan struct{}, mine chan struct{}) {
	mine = make(chan struct{})
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last == nil {
		o.last = map[string]chan struct{}{}
	}
	if p, ok := o.last[id]; ok {
		prev = p
	}
	o.last[id] = mine
	return prev, mine
}

// leave marks this turn's report done.
func (o *turnOrder) leave(id string, mine chan struct{}) {
	o.mu.Lock()
	if o.last[id] == mine {
		delete(o.last, id)
	}
	o.mu.Unlock()
	close(mine)
}
