package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/reprise/reprise/client"
)

// progressInterval is how often the live progress line is redrawn.
const progressInterval = 100 * time.Millisecond

// progress draws a live line on a terminal while a wait runs: the instance,
// its latest status and the time elapsed. It owns one goroutine, which stop
// ends.
type progress struct {
	w     io.Writer
	id    string
	now   func() time.Time
	start time.Time

	mu     sync.Mutex
	status client.Status

	quit chan struct{}
	wg   sync.WaitGroup
}

func startProgress(w io.Writer, id string, now func() time.Time) *progress {
	p := &progress{w: w, id: id, now: now, start: now(), status: client.StatusPending, quit: make(chan struct{})}
	p.draw()
	p.wg.Go(func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.draw()
			}
		}
	})
	return p
}

// update records a status reported by the wait.
func (p *progress) update(st client.InstanceStatus) {
	p.mu.Lock()
	p.status = st.Status
	p.mu.Unlock()
}

func (p *progress) draw() {
	p.mu.Lock()
	line := progressLine(p.id, p.status, p.now().Sub(p.start))
	p.mu.Unlock()
	fmt.Fprint(p.w, "\r\x1b[K"+line)
}

// stop ends the redraws and clears the line.
func (p *progress) stop() {
	close(p.quit)
	p.wg.Wait()
	fmt.Fprint(p.w, "\r\x1b[K")
}

// progressLine is the text of the progress line.
func progressLine(id string, st client.Status, elapsed time.Duration) string {
	return fmt.Sprintf("waiting for %s: %s, %s", shorten(id, 40), st, elapsed.Truncate(100*time.Millisecond))
}
