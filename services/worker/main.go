// Command worker runs Reprise's stateless activity worker: it fetches the
// examples' activities from JetStream, runs them and sends their results
// back. Any number of workers compete for the same queue. It needs a NATS
// URL (-nats-url or REPRISE_NATS_URL).
//
// Run with -h for the flags; every flag also has a REPRISE_* environment
// variable. Users build their own worker with package services/host.
package main

import (
	"fmt"
	"os"

	"github.com/reprise/reprise/examples"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

func main() {
	reg := runtime.NewRegistry()
	if err := examples.RegisterAll(reg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	host.Main(host.Worker, reg)
}
