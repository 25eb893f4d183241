// Package chaos is Reprise's reliability suite: its test builds a node
// binary (internal/chaosnode), runs a NATS server with JetStream on a file
// store, an orchestrator and activity workers as subprocesses, puts them
// under load (internal/workload: activities, a fan-out, a child
// orchestration and timers), and SIGKILLs the orchestrator, the NATS server
// and a worker mid-activity at random points. At the end every instance
// must have completed with the expected output, no history may record an
// event twice, no child may have started twice, and every activity run
// twice must be explained by a kill or restart between the two runs.
//
//	go test ./bench/chaos                                    # short variant
//	go test ./bench/chaos -run Chaos -chaos.long -timeout 20m # make chaos
//	go test ./bench/chaos -run '^TestChaos$' -chaos.fsync    # durable mode (-fsync), short (make chaos-fsync)
//
// The top-level README.md ("Failure cases") lists the failure cases the suites cover and what a
// user sees in each.
//
// The package has no code of its own outside its tests.
package chaos
