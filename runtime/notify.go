package runtime

import "sync"

// Notifier is an in-process broadcaster of instance status changes. A
// [worker.Worker] publishes after every commit; a control client (package runtime/control) sharing the notifier
// wakes its Wait calls instead of polling. Safe for concurrent use.
type Notifier struct {
	mu   sync.Mutex
	subs map[string]map[chan Status]struct{}
}

// NewNotifier returns a notifier with no subscribers.
func NewNotifier() *Notifier {
	return &Notifier{subs: make(map[string]map[chan Status]struct{})}
}

// Publish tells the subscribers of instance its status after a commit. A
// slow subscriber only ever sees the latest status.
func (n *Notifier) Publish(instance string, s Status) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs[instance] {
		select {
		case <-ch: // drop the stale value
		default:
		}
		ch <- s
	}
}

// Subscribe returns a channel receiving the statuses published for instance
// and a function that ends the subscription.
func (n *Notifier) Subscribe(instance string) (<-chan Status, func()) {
	ch := make(chan Status, 1)
	n.mu.Lock()
	m := n.subs[instance]
	if m == nil {
		m = make(map[chan Status]struct{})
		n.subs[instance] = m
	}
	m[ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.subs[instance], ch)
		if len(n.subs[instance]) == 0 {
			delete(n.subs, instance)
		}
	}
}
