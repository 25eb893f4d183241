package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// isTerminal reports whether f is a character device (a terminal), where a
// redrawn progress line makes sense; piped or captured output gets none.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// startProgress draws a progress bar of rec on stderr until the returned
// function is called (which clears it). It draws nothing with -progress=false.
func startProgress(o options, stderr io.Writer, label string, total int, rec *recorder) (stop func()) {
	if !o.progress || total <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	begin := time.Now()
	draw := func() {
		n := int(rec.done.Load())
		const width = 30
		filled := min(width, n*width/total)
		rate := float64(n) / max(time.Since(begin).Seconds(), 1e-3)
		fmt.Fprintf(stderr, "\r%-18s [%s%s] %d/%d  %.0f/s  in flight %d ",
			label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
			n, total, rate, rec.started.Load()-int64(n))
	}
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				draw()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		draw()
		fmt.Fprint(stderr, "\r\033[K")
	}
}
