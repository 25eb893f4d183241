// Command reprise is the command-line client of a Reprise deployment: it
// starts, controls and inspects orchestration instances through the NATS
// subject API, using package client.
//
//	reprise start hello --input '"world"' --wait
//	reprise list --status Running
//	reprise history <id>
//
// Output is a readable table by default and JSON with --json. Run
// "reprise help" for the commands and "reprise <command> -h" for their
// flags. The command knows only the client package: no runtime, provider or
// server internals.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/reprise/reprise/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{
		stdout:      os.Stdout,
		stderr:      os.Stderr,
		stdin:       os.Stdin,
		getenv:      os.Getenv,
		stderrIsTTY: isTerminal(os.Stderr),
		now:         time.Now,
	})
	stop()
	os.Exit(code)
}

// env is what a run of the command sees of its process.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	// stderrIsTTY enables the live progress line while waiting.
	stderrIsTTY bool
	now         func() time.Time
}

// Exit codes.
const (
	exitOK = 0
	// exitFailed: the request failed, or the awaited instance did not
	// complete.
	exitFailed = 1
	// exitUsage: bad command line.
	exitUsage = 2
)

// errUsage marks command-line mistakes; the usage has been printed.
var errUsage = errors.New("usage")

// errInstanceFailed reports an awaited instance that failed or was
// terminated; its error has been printed.
var errInstanceFailed = errors.New("instance did not complete")

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		printUsage(e.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		printUsage(e.stdout)
		return exitOK
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(e.stderr, "reprise: unknown command %q\n\n", name)
		printUsage(e.stderr)
		return exitUsage
	}
	err := cmd.run(ctx, rest, e)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, errInstanceFailed):
		return exitFailed
	case errors.Is(err, errHelp):
		return exitOK
	}
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Fprintf(e.stderr, "reprise %s: %s (%s)\n", name, apiErr.Message, apiErr.Code)
	} else {
		fmt.Fprintf(e.stderr, "reprise %s: %v\n", name, err)
	}
	var hint *hintError
	if errors.As(err, &hint) {
		fmt.Fprintf(e.stderr, "reprise %s: %s\n", name, hint.hint)
	}
	return exitFailed
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
