package jetstream

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// workPuller is the one subscription through which this provider pulls a
// work queue's consumer. Every FetchWork of the queue waits on it, and the
// pull requests it sends (the JetStream next-message API) reply to it, each
// on its own subject under the subscription's prefix, so that a control
// message names the request it ends. It keeps between half and all of the
// waiting fetches covered by messages requested: a request asks for the
// waiting fetches not yet covered and expires before they give up (at most
// workPullWait later). A fetch thus costs no subscription of its own, and
// about half a pull request when fetches keep coming.
//
// Under mu:
//   - requests are this puller's requests in the order of the consumer's
//     waiting queue: a delivery (whose subject is the message's, not the
//     request's) answers the first, which then goes to the back if it asks
//     for more, as the server's round robin does; a control message (408
//     expired, 409, 503) ends the request it is addressed to; a request
//     that got neither is given up a while after its expiry (lost with a
//     connection or a consumer leader).
//   - pending is the sum of requests' n: messages asked for and not yet
//     delivered.
//   - a delivery goes to the oldest waiter; with none (its fetch gave up
//     first), it is kept in unclaimed for the next fetch, at most
//     hold, then Nak'ed (which counts as a delivery on the server).
type workPuller struct {
	p      *Provider
	queue  string
	api    string // the consumer's next-message API subject
	prefix string // request id replies to prefix + id
	sub    *nats.Subscription
	// hold is how long a delivery nobody waited for is kept for the next
	// fetch before it is Nak'ed.
	hold time.Duration
	// margin is how long before its reception a delivery may have left the
	// server, for a delivery whose request is older than that.
	margin time.Duration

	mu        sync.Mutex
	closed    bool
	waiters   []*pullWaiter
	requests  []*pullRequest
	pending   int
	unclaimed []arrival
	nextID    uint64
	// backoff delays the next request after a control message asking for
	// it (503 no responders: the consumer has no leader right now).
	backoff time.Time
	// wake is closed and replaced when a request ends, so that waiters
	// plan again.
	wake chan struct{}
}

// pullRequest is one pull request in flight.
type pullRequest struct {
	id   string
	n    int       // messages still asked for
	sent time.Time // before the server could deliver anything for it
	// giveUp is when the request is taken as lost if no control message
	// ended it (its expiry plus pullGrace).
	giveUp time.Time
}

// arrival is one delivery received.
type arrival struct {
	msg      *nats.Msg
	received time.Time
	// base is a time at or before the server's delivery: the server's ack
	// wait (the lock) runs from then at the latest.
	base time.Time
}

// pullWaiter is one waiting FetchWork. got receives exactly one result,
// sent under the puller's lock when the waiter is taken off waiters.
type pullWaiter struct {
	deadline time.Time // zero: none
	got      chan pullResult
}

type pullResult struct {
	a   arrival
	err error
}

const (
	// pullGrace is how long after its expiry a request without an
	// answer is taken as lost.
	pullGrace = time.Second
	// noRespondersWait spaces pull requests while the consumer has no
	// leader (a replicated consumer electing one) or refused a request.
	noRespondersWait = 50 * time.Millisecond
	// serverShutdownWait spaces pull requests after the server said it is
	// shutting down (its shutdown takes about a tenth of a second).
	serverShutdownWait = time.Second
)

// descrHdr is the header of a control message's description (nats.go's
// own name for it is unexported).
const descrHdr = "Description"

// errPullerClosed ends the fetches of a closing provider.
var errPullerClosed = fmt.Errorf("work queue puller closed")

// workPuller returns the puller of a work queue, subscribing on first use.
func (p *Provider) workPuller(queue string) (*workPuller, error) {
	p.work.mu.Lock()
	defer p.work.mu.Unlock()
	if wp := p.work.pullers[queue]; wp != nil {
		return wp, nil
	}
	if p.work.pullersClosed {
		return nil, p.closedErr()
	}
	q := &workPuller{
		p:      p,
		queue:  queue,
		api:    "$JS.API.CONSUMER.MSG.NEXT." + p.names.workStream() + "." + p.names.workConsumer(queue),
		prefix: p.nc.NewInbox() + ".",
		hold:   p.topo.LockTimeout / 3,
		margin: min(p.topo.LockTimeout/10, time.Second),
		wake:   make(chan struct{}),
	}
	sub, err := p.nc.Subscribe(q.prefix+"*", q.onMsg)
	if err != nil {
		return nil, fmt.Errorf("work queue %q: subscribe: %w", queue, err)
	}
	q.sub = sub
	if p.work.pullers == nil {
		p.work.pullers = map[string]*workPuller{}
	}
	p.work.pullers[queue] = q
	return q, nil
}

// stopPullers closes every work queue's puller: waiting fetches fail,
// deliveries nobody took are Nak'ed, and no puller is made afterwards.
func (p *Provider) stopPullers() {
	p.work.mu.Lock()
	p.work.pullersClosed = true
	pullers := p.work.pullers
	p.work.pullers = nil
	p.work.mu.Unlock()
	for _, q := range pullers {
		q.close()
	}
}

// releaseUnclaimed Nak's the deliveries that nobody fetched for too long.
func (p *Provider) releaseUnclaimed(now time.Time) {
	p.work.mu.Lock()
	pullers := make([]*workPuller, 0, len(p.work.pullers))
	for _, q := range p.work.pullers {
		pullers = append(pullers, q)
	}
	p.work.mu.Unlock()
	for _, q := range pullers {
		q.mu.Lock()
		q.unclaimed = slices.DeleteFunc(q.unclaimed, func(a arrival) bool {
			if now.Sub(a.received) <= q.hold {
				return false
			}
			q.nak(a)
			return true
		})
		q.mu.Unlock()
	}
}

func (q *workPuller) close() {
	q.mu.Lock()
	q.closed = true
	for _, a := range q.unclaimed {
		q.nak(a)
	}
	q.unclaimed = nil
	q.fail(errPullerClosed)
	q.mu.Unlock()
	if err := q.sub.Unsubscribe(); err != nil {
		q.p.log.Debug("work queue: unsubscribe", "queue", q.queue, "err", err)
	}
}

// next returns the next delivery of the queue, waiting for one until ctx
// ends.
func (q *workPuller) next(ctx context.Context) (arrival, error) {
	w := &pullWaiter{got: make(chan pullResult, 1)}
	if d, ok := ctx.Deadline(); ok {
		w.deadline = d
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return arrival{}, errPullerClosed
	}
	if a, ok := q.takeUnclaimed(time.Now()); ok {
		q.mu.Unlock()
		return a, nil
	}
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()

	var alarm *time.Timer
	defer func() {
		if alarm != nil {
			alarm.Stop()
		}
	}()
	for {
		now := time.Now()
		q.mu.Lock()
		id, req, recheck := q.plan(now)
		wake := q.wake
		q.mu.Unlock()
		if req != "" {
			if err := q.p.nc.PublishRequest(q.api, q.prefix+id, []byte(req)); err != nil {
				q.mu.Lock()
				q.end(id)
				q.mu.Unlock()
				q.leave(w)
				return arrival{}, fmt.Errorf("pull: %w", err)
			}
		}
		var tick <-chan time.Time
		if !recheck.IsZero() {
			d := max(recheck.Sub(now), time.Millisecond)
			if alarm == nil {
				alarm = time.NewTimer(d)
			} else {
				alarm.Reset(d)
			}
			tick = alarm.C
		}
		select {
		case r := <-w.got:
			return r.a, r.err
		case <-ctx.Done():
			q.leave(w)
			return arrival{}, ctx.Err()
		case <-wake:
		case <-tick:
		}
	}
}

// plan forgets lost requests and returns the pull request to send, if the
// waiters need one (its id and body), and when to plan again at the latest.
// Lock held.
func (q *workPuller) plan(now time.Time) (id, req string, recheck time.Time) {
	q.requests = slices.DeleteFunc(q.requests, func(r *pullRequest) bool {
		if !now.Before(r.giveUp) {
			q.pending -= r.n
			return true
		}
		if recheck.IsZero() || r.giveUp.Before(recheck) {
			recheck = r.giveUp
		}
		return false
	})
	if now.Before(q.backoff) {
		if recheck.IsZero() || q.backoff.Before(recheck) {
			recheck = q.backoff
		}
		return "", "", recheck
	}
	// The waiters a request can still serve, and the longest expiry any
	// of them can use: a request expires before its waiter gives up (as
	// nats.go's Fetch does), so that it does not outlive it.
	eligible, expires := 0, time.Duration(0)
	for _, w := range q.waiters {
		e := workPullWait
		if !w.deadline.IsZero() {
			left := w.deadline.Sub(now)
			e = min(e, left-min(left/10, time.Second))
		}
		if e < minPullWait {
			continue
		}
		eligible++
		expires = max(expires, e)
	}
	// Ask for every waiter not covered once at most half are covered, not
	// for each as it comes: fewer, larger requests, and a waiter that is
	// not covered meanwhile is served as soon as deliveries uncover half.
	n := eligible - q.pending
	if n <= 0 || 2*q.pending > eligible {
		return "", "", recheck
	}
	q.nextID++
	id = strconv.FormatUint(q.nextID, 36)
	r := &pullRequest{id: id, n: n, sent: now, giveUp: now.Add(expires + pullGrace)}
	q.requests = append(q.requests, r)
	q.pending += n
	if recheck.IsZero() || r.giveUp.Before(recheck) {
		recheck = r.giveUp
	}
	return id, `{"batch":` + strconv.Itoa(n) + `,"expires":` + strconv.FormatInt(expires.Nanoseconds(), 10) + `}`, recheck
}

// end forgets a request and what it still asked for. Lock held.
func (q *workPuller) end(id string) {
	i := slices.IndexFunc(q.requests, func(r *pullRequest) bool { return r.id == id })
	if i >= 0 {
		q.pending -= q.requests[i].n
		q.requests = slices.Delete(q.requests, i, i+1)
	}
}

// leave takes w off the waiters; a delivery handed to it meanwhile goes to
// the next waiter.
func (q *workPuller) leave(w *pullWaiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i := slices.Index(q.waiters, w); i >= 0 {
		q.waiters = slices.Delete(q.waiters, i, i+1)
		return
	}
	if r := <-w.got; r.err == nil {
		q.deliver(r.a)
	}
}

// onMsg receives the deliveries and control messages of every request (on
// the subscription's goroutine). A delivery has a reply subject (its ack
// subject); the server's control messages (a code and a description in
// the header, no payload) have none, and are told apart by their
// description, as nats.go does for the 409s: the codes' header name is
// not exported by nats.go.
func (q *workPuller) onMsg(m *nats.Msg) {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if m.Reply != "" {
		// The server delivered it after it received the request, and
		// after the margin before its reception.
		base := now.Add(-q.margin)
		if len(q.requests) > 0 {
			r := q.requests[0]
			if r.sent.After(base) {
				base = r.sent
			}
			r.n--
			q.pending--
			q.requests = slices.Delete(q.requests, 0, 1)
			if r.n > 0 {
				q.requests = append(q.requests, r)
			}
		}
		q.deliver(arrival{msg: m, received: now, base: base})
		return
	}
	id := strings.TrimPrefix(m.Subject, q.prefix)
	descr := strings.ToLower(m.Header.Get(descrHdr))
	switch {
	case strings.Contains(descr, "heartbeat"): // 100 (none is asked for)
		return
	case descr == "": // 503 no responders: the consumer has no leader now
		q.end(id)
		q.backoff = now.Add(noRespondersWait)
	case strings.Contains(descr, "request timeout"), strings.Contains(descr, "interest expired"),
		strings.Contains(descr, "no messages"): // 408, 404: the request ended
		q.end(id)
	case strings.Contains(descr, "consumer deleted"): // 409
		q.end(id)
		q.fail(fmt.Errorf("work queue %q: pull: %w", q.queue, natsjs.ErrConsumerDeleted))
	case strings.Contains(descr, "bad request"): // 400: a request this provider should not have made
		q.end(id)
		q.fail(fmt.Errorf("work queue %q: pull: %s", q.queue, m.Header.Get(descrHdr)))
	case strings.Contains(descr, "server shutdown"): // 409
		// The server still serves requests while it stops, but no longer
		// takes the acks of what it delivers: pull again once it is gone
		// (the request then waits for the reconnection).
		q.end(id)
		q.backoff = now.Add(serverShutdownWait)
	default:
		// 409 leadership change, exceeded MaxWaiting, or anything else:
		// the request is gone; pull again shortly.
		q.end(id)
		q.backoff = now.Add(noRespondersWait)
	}
	close(q.wake)
	q.wake = make(chan struct{})
}

// deliver hands a delivery to the oldest waiter, or keeps it for the next
// fetch. Lock held.
func (q *workPuller) deliver(a arrival) {
	if q.closed {
		q.nak(a)
		return
	}
	if len(q.waiters) > 0 {
		w := q.waiters[0]
		q.waiters = slices.Delete(q.waiters, 0, 1)
		w.got <- pullResult{a: a}
		return
	}
	q.unclaimed = append(q.unclaimed, a)
}

// takeUnclaimed returns the oldest delivery kept for a fetch, Nak'ing those
// kept too long. Lock held.
func (q *workPuller) takeUnclaimed(now time.Time) (arrival, bool) {
	for len(q.unclaimed) > 0 {
		a := q.unclaimed[0]
		q.unclaimed = slices.Delete(q.unclaimed, 0, 1)
		if now.Sub(a.received) <= q.hold {
			return a, true
		}
		q.nak(a)
	}
	return arrival{}, false
}

// fail ends every waiting fetch with err. Lock held.
func (q *workPuller) fail(err error) {
	for _, w := range q.waiters {
		w.got <- pullResult{err: err}
	}
	q.waiters = nil
}

// nak releases a delivery nobody fetched: the server delivers it again at
// once, its delivery count increased.
func (q *workPuller) nak(a arrival) {
	if err := q.p.nc.Publish(a.msg.Reply, ackNak); err != nil {
		q.p.log.Debug("work queue: nak", "queue", q.queue, "err", err)
	}
}

// The ack protocol's bodies.
var (
	ackAck      = []byte("+ACK")
	ackNak      = []byte("-NAK")
	ackProgress = []byte("+WPI")
	ackTerm     = []byte("+TERM")
)

// ackReply sends an ack-protocol message to a delivery's reply subject and
// waits for the server's reply.
func (p *Provider) ackReply(ctx context.Context, reply string, body []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	if _, err := p.nc.RequestWithContext(ctx, reply, body); err != nil {
		return fmt.Errorf("ack protocol %q: %w", body, err)
	}
	return nil
}
