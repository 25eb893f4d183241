// Command orchestrator runs Reprise's orchestrator service: orchestration
// turns for its shards, the NATS subject API and, with no NATS URL, an
// embedded NATS server with JetStream and an in-process activity worker, so
// that one command runs everything. It registers the examples'
// orchestrations and activities.
//
// Run with -h for the flags; every flag also has a REPRISE_* environment
// variable. Users build their own orchestrator with package services/host.
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
	host.Main(host.Orchestrator, reg)
}
