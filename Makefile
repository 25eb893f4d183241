# Reprise build targets. Every target works on a fresh machine with only Go installed.
GO            ?= go
STATICCHECK_VERSION := v0.8.2
BIN           := $(CURDIR)/.bin
STATICCHECK   := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
# promtool, for the alert rules: built from the Go module proxy without the
# service-discovery plugins (remove_all_sd), which it does not need to check
# and unit-test rules; cached under .bin like staticcheck.
PROMETHEUS_VERSION := v0.316.0
PROMTOOL      := $(BIN)/promtool-$(PROMETHEUS_VERSION)
TEST_FLAGS    ?= -race -count=1 -timeout 14m

.PHONY: power-loss chaos-fsync eternal all build test test-go test-rules lint vet staticcheck bench run fmt clean images chaos fuzz-smoke bench-storage rebuild-bench exactly-once cluster cluster-chaos

all: build test

build:
	$(GO) build ./...

## test: the full test suite with the race detector, and the alert rules' promtool checks (what CI runs).
test: test-rules test-go

test-go:
	$(GO) test $(TEST_FLAGS) ./...

$(PROMTOOL):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install -tags remove_all_sd github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)
	mv $(BIN)/promtool $(PROMTOOL)

## test-rules: promtool check rules and promtool test rules over deploy/k8s/alerts (docs/runbooks.md).
test-rules: $(PROMTOOL)
	$(PROMTOOL) check rules deploy/k8s/alerts/rules.yaml
	cd deploy/k8s/alerts && $(PROMTOOL) test rules tests.yaml

vet:
	$(GO) vet ./...

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $(STATICCHECK)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

## lint: go vet, gofmt and staticcheck (pinned, installed from the Go module proxy).
lint: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: the load generator over the embedded default: every workload, then the table (bench/README.md).
bench:
	$(GO) run ./bench -workload all -n 5000 -c 100

## bench-storage: Go benchmarks of the storage layer.
bench-storage:
	$(GO) test -run '^$$' -bench . -benchmem ./provider/...

## rebuild-bench: 200,000 hello instances, then the restart over a deleted Pebble directory timed without and
## with snapshots (README "Storage"); REBUILD_N overrides the count.
REBUILD_N ?= 200000
rebuild-bench:
	$(GO) run ./bench -rebuild -workload hello -n $(REBUILD_N) -c 100

## run: the orchestrator with embedded NATS (127.0.0.1:4222), Pebble under ./data and an in-process worker.
## It builds the orchestrator and the CLI first, listing packages as they compile (the first build takes minutes).
run:
	@mkdir -p $(BIN)
	@echo "make run: building the orchestrator and the CLI into $(BIN) (the first build compiles every dependency: a few minutes)"
	$(GO) build -v -o $(BIN)/reprise-orchestrator ./services/orchestrator
	$(GO) build -v -o $(BIN)/reprise ./cmd/reprise
	$(BIN)/reprise-orchestrator $(RUN_FLAGS)

IMAGE_PREFIX  ?= reprise
# The release version (VERSION): the images' tag, which deploy/k8s pins.
VERSION       := $(shell cat VERSION)
IMAGE_TAG     ?= $(VERSION)
IMAGES_DIR    ?= $(BIN)/images
REVISION      := $(shell git rev-parse HEAD 2>/dev/null)

## images: OCI image tarballs of the orchestrator and worker in .bin/images, built without Docker
## (deploy/images: static binary, empty base, non-root); load or push them as README.md says.
images:
	$(GO) run ./deploy/images -main ./services/orchestrator -image $(IMAGE_PREFIX)/orchestrator:$(IMAGE_TAG) \
		-out $(IMAGES_DIR)/orchestrator.tar -revision "$(REVISION)"
	$(GO) run ./deploy/images -main ./services/worker -image $(IMAGE_PREFIX)/worker:$(IMAGE_TAG) \
		-out $(IMAGES_DIR)/worker.tar -revision "$(REVISION)"

## chaos: the long reliability run: under load, 6 orchestrator SIGKILLs, 3 NATS server SIGKILL+restarts and
## 2 worker SIGKILLs mid-activity (0 re-runs may follow an orchestrator kill); then NATS embedded in the
## orchestrator, 4 kills of both (re-runs bounded by the tasks recovery re-sent); checks nothing is lost or
## recorded twice and prints every re-run with its cause.
chaos:
	$(GO) test ./bench/chaos -race -count=1 -run '^TestChaos$$' -v -chaos.long -timeout 20m

## power-loss: the power-loss test (root, loop devices, ext4; about 2 minutes): the engine with -fsync on an ext4
## image, killed under load, the image copied as the device had it with the kernel's writeback held back (a power
## loss), restarted on the copy: every acknowledged start, completion and activity result is there. Then the same
## without -fsync, which must lose acknowledged work (the negative control). Skipped when not root.
power-loss:
	REPRISE_POWER_LOSS=1 $(GO) test ./services/host -run '^TestPowerLoss$$' -count=1 -v -timeout 10m

## chaos-fsync: the chaos run in the durable mode (-fsync, group commit; NATS embedded in the orchestrator, as
## -fsync needs): the short variant (2 kills of the orchestrator with its server, 1 worker kill mid-activity);
## CHAOS_FLAGS=-chaos.long for the long embedded one.
chaos-fsync:
	$(GO) test ./bench/chaos -race -count=1 -run '^TestChaos$$' -v -chaos.fsync $(CHAOS_FLAGS) -timeout 20m

## exactly-once: the exactly-once crash tests at full size: 1,000 mixed instances run, the process and its
## embedded NATS are killed, the Pebble store is deleted, the restart past a 1 s duplicate window re-runs nothing.
exactly-once:
	REPRISE_EO_INSTANCES=1000 $(GO) test ./runtime/runtimetest -race -count=1 -v -timeout 20m \
		-run '^(TestRebuiltStoreResendsNothing|TestKillAfterCompletionReRunsNothing|TestFailedDispatchCompletesInBackground|TestRecordsOfAnotherOwnerAreApplied|TestCommitTooLargeFailsTheInstance)$$'

## eternal: the eternal monitor at full size: 10,000 continue-as-new iterations on memory and on JetStream
## (retention 1 s and 2 s, duplicate window 1 s); every earlier execution expires, the current one stays intact.
eternal:
	REPRISE_ETERNAL_ITERATIONS=10000 $(GO) test ./runtime/runtimetest -race -count=1 -v -timeout 30m \
		-run '^TestRetentionOn(Memory|JetStream)$$/^EternalMonitorKeepsOnlyRecentExecutions$$'

## cluster: a local multi-process cluster: 3 NATS servers (one cluster, R3), 3 orchestrators, 2 workers, running the
## bench workloads; prints the URL, logs and metrics endpoints; Ctrl-C stops it (data in .cluster/).
cluster:
	$(GO) run ./bench/cluster

## cluster-chaos: the whole fail-over suite on real processes (3-node NATS cluster, R3): SIGKILL, rolling restart,
## SIGSTOP past the lease, 3->5->3, a NATS node killed, with the default 12 s leases. CI runs the short variant.
cluster-chaos:
	$(GO) test ./bench/chaos -run '^TestFailover$$' -count=1 -v -timeout 30m -args -failover.long

# Fuzz targets as <package>:<target>.
FUZZ_TARGETS := \
	./runtime:FuzzDecodeEvent ./runtime:FuzzDecodeEnvelope ./runtime:FuzzEventRoundTrip \
	./runtime:FuzzEnvelopeRoundTrip ./runtime:FuzzEventJSON \
	./provider/jetstream:FuzzDecodeRecord ./provider/jetstream:FuzzDecodeEnvelope \
	./provider/jetstream:FuzzApplyRecord ./provider/jetstream:FuzzSubjects ./provider/jetstream:FuzzParsePubAck \
	./api:FuzzRequestRoundTrip ./api:FuzzDecodeReply ./api:FuzzInstanceID ./api:FuzzDecodeRequest ./api:FuzzCheckMembersFastPath \
	./services/apiserver:FuzzHandle ./services/apiserver:FuzzSubmit
# A count (Nx), not a duration: a duration -fuzztime races Go 1.26's fuzz coordinator at the deadline and
# reports a spurious "context deadline exceeded" (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 10000x

## fuzz-smoke: every fuzz target for FUZZTIME executions (default 10000x); seed corpora are in each package's testdata/fuzz.
fuzz-smoke:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
