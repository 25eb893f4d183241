package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
)

// WaitOption configures [Client.Wait].
type WaitOption func(*waitOptions)

type waitOptions struct {
	progress func(InstanceStatus)
}

// WithProgress calls fn with the instance's status when the wait begins and
// on every status change the server announces until the wait returns. fn is
// called from one goroutine, one call at a time, never after Wait returned;
// it must not block for long.
func WithProgress(fn func(InstanceStatus)) WaitOption {
	return func(o *waitOptions) { o.progress = fn }
}

// Wait blocks until instance id has finished (completed, failed or
// terminated) and returns its final status, or until ctx ends. The server
// wakes it on the instance's status change; each request holds for at most
// the wait interval ([WithWaitInterval]) and Wait repeats it.
//
// An id the server does not know yet is waited for too, because a start
// becomes visible only after the instance's first turn: bound the wait with
// ctx. A failed instance is not an error of Wait: check the returned status
// (or use [Output]).
func (c *Client) Wait(ctx context.Context, id string, opts ...WaitOption) (*InstanceStatus, error) {
	var o waitOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.progress != nil {
		stop, err := c.watch(ctx, id, o.progress)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	var unknown *unknownWait
	defer func() {
		if unknown != nil {
			unknown.close()
		}
	}()
	req := api.WaitRequest{ID: id}
	if err := validate(api.VerbWait, &req); err != nil {
		return nil, err
	}
	// unavailable counts consecutive "unavailable" answers (a server
	// shutting down, a wait pool full): each is retried after a backoff,
	// up to the client's retries in a row.
	unavailable, backoff := 0, retryFirstDelay
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("client: wait for %q: %w", id, err)
		}
		hold := c.waitInterval
		if dl, ok := ctx.Deadline(); ok {
			hold = min(hold, time.Until(dl))
		}
		hold = max(hold, time.Millisecond)
		var st api.InstanceStatus
		err := c.call(ctx, api.VerbWait, api.WaitRequest{ID: id, TimeoutMS: hold.Milliseconds()}, &st, hold+c.requestTimeout)
		var apiErr *APIError
		switch {
		case errors.As(err, &apiErr) && apiErr.Code == api.CodeTimeout:
			unavailable, backoff = 0, retryFirstDelay
			continue // not finished yet: ask again
		case errors.As(err, &apiErr) && apiErr.Code == api.CodeNotFound:
			if unknown == nil {
				// Subscribe, then ask again at once: a notification sent
				// before the subscription is caught by the next request.
				if unknown, err = c.subscribeUnknown(id); err != nil {
					return nil, err
				}
				continue
			}
			if err := unknown.await(ctx); err != nil {
				return nil, fmt.Errorf("client: wait for %q: %w", id, err)
			}
			continue
		case err != nil && retryable(err, retryUnavailable) && unavailable < c.retries:
			unavailable++
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("client: wait for %q: %w (after %w)", id, ctx.Err(), err)
			case <-t.C:
			}
			backoff = min(2*backoff, retryMaxDelay)
			continue
		case err != nil:
			return nil, err
		case !st.Status.IsTerminal():
			return nil, fmt.Errorf("client: wait for %q: the server answered with status %q, which is not final: %w", id, st.Status, ErrInternal)
		}
		final := InstanceStatus(st)
		return &final, nil
	}
}

// unknownWait waits for an instance the server does not know yet: for its
// first status notification, or a backoff in case the notification was
// missed.
type unknownWait struct {
	sub   *nats.Subscription
	notes chan *nats.Msg
	delay time.Duration
}

// maxUnknownDelay bounds the backoff between asks about an unknown id.
const maxUnknownDelay = time.Second

func (c *Client) subscribeUnknown(id string) (*unknownWait, error) {
	u := &unknownWait{notes: make(chan *nats.Msg, 1), delay: 10 * time.Millisecond}
	sub, err := c.nc.ChanSubscribe(api.NotifySubject(c.prefix, id), u.notes)
	if err != nil {
		return nil, fmt.Errorf("client: wait for %q: subscribe to status changes: %w", id, err)
	}
	u.sub = sub
	return u, nil
}

func (u *unknownWait) await(ctx context.Context) error {
	t := time.NewTimer(u.delay)
	defer t.Stop()
	u.delay = min(2*u.delay, maxUnknownDelay)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-u.notes:
	case <-t.C:
	}
	return nil
}

func (u *unknownWait) close() { _ = u.sub.Unsubscribe() }

// watch reports the instance's current status and then every status
// notification to fn from a goroutine it owns, until stop is called.
func (c *Client) watch(ctx context.Context, id string, fn func(InstanceStatus)) (stop func(), err error) {
	notes := make(chan *nats.Msg, 64)
	sub, err := c.nc.ChanSubscribe(api.NotifySubject(c.prefix, id), notes)
	if err != nil {
		return nil, fmt.Errorf("client: wait for %q: subscribe to status changes: %w", id, err)
	}
	// Subscribing before reading the status means no change is missed.
	first, err := c.Status(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		_ = sub.Unsubscribe()
		return nil, err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if first != nil {
			fn(*first)
		}
		for {
			select {
			case <-done:
				return
			case m := <-notes:
				var st InstanceStatus
				if json.Unmarshal(m.Data, &st) == nil && st.ID == id {
					fn(st)
				}
			}
		}
	})
	return func() {
		_ = sub.Unsubscribe()
		close(done)
		wg.Wait()
	}, nil
}
