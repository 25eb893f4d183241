package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
)

// Event stream pacing.
const (
	// changeInterval coalesces the list page's "change" events: at most
	// one per interval, however many instances change.
	changeInterval = time.Second
	// pingInterval keeps idle streams open through proxies.
	pingInterval = 20 * time.Second
	// notifyBuffer bounds notifications queued for one slow stream; when
	// it is full, NATS drops more (notifications are best effort, and the
	// page reloads the status on the next one).
	notifyBuffer = 64
)

// events streams server-sent events. With ?id=, it forwards the instance's
// status notifications ("status" events, the status object as data),
// starting with its current status; without, it sends a "change" event
// whenever some instance's status changed, at most once a second. Both
// come from the API's notify subjects. The stream ends with the request.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	id := r.URL.Query().Get("id")
	subject := api.NotifyWildcard(h.opts.Prefix)
	if id != "" {
		subject = api.NotifySubject(h.opts.Prefix, id)
	}
	ch := make(chan *nats.Msg, notifyBuffer)
	sub, err := h.nc.ChanSubscribe(subject, ch)
	if err != nil {
		http.Error(w, "subscribe to notifications: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	ctx := r.Context()

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, data []byte) error {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}
	// Subscribed first, then read: a change between the two is not lost.
	if id != "" {
		st, err := h.client.Status(ctx, id)
		switch {
		case err == nil:
			body, _ := json.Marshal(st)
			if send("status", body) != nil {
				return
			}
		case errors.Is(err, client.ErrNotFound):
			// Not started yet: its first notification will come.
		default:
			h.log.Debug("ui: events: status", "id", id, "err", err)
		}
	} else if _, err := fmt.Fprint(w, ": listening\n\n"); err == nil {
		flusher.Flush()
	}

	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	// For the list stream: a change waits for the coalescing timer.
	var coalesce <-chan time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case m := <-ch:
			if id != "" {
				// One line of JSON: an event's data ends at a newline.
				var line bytes.Buffer
				if json.Compact(&line, m.Data) != nil {
					continue
				}
				if send("status", line.Bytes()) != nil {
					return
				}
				continue
			}
			if coalesce == nil {
				timer = time.NewTimer(changeInterval)
				coalesce = timer.C
			}
		case <-coalesce:
			coalesce, timer = nil, nil
			if send("change", []byte("{}")) != nil {
				return
			}
		}
	}
}
