package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUICommandServesTheDeployment(t *testing.T) {
	url := startOrchestrator(t)
	e, _, errs := testEnv(map[string]string{envServer: url})
	if code := run(t.Context(), []string{"start", "hello", "--id", "ui-1", "--input", `"ui"`, "--wait"}, e); code != exitOK {
		t.Fatalf("start: %d %s", code, errs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	outR, outW := io.Pipe()
	e.stdout = outW
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"ui", "--addr", "127.0.0.1:0", "--read-only"}, e)
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v (stderr %s)", err, errs)
	}
	base, _, ok := strings.Cut(strings.TrimPrefix(line, "Reprise UI on "), " ")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.Contains(line, "read-only") {
		t.Fatalf("ready line %q", line)
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()

	resp, err := http.Get(base + "instance?id=ui-1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-status="Completed"`) || !strings.Contains(string(body), "Hello, ui!") {
		t.Fatalf("instance page %d:\n%s", resp.StatusCode, body)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("reprise ui exited %d: %s", code, errs)
	}
}
