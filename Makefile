# Reprise build targets. Every target works on a fresh machine with only Go installed.
GO            ?= go
STATICCHECK_VERSION := v0.8.2
BIN           := $(CURDIR)/.bin
STATICCHECK   := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
TEST_FLAGS    ?= -race -count=1 -timeout 14m

.PHONY: all build test lint vet staticcheck bench run fmt clean images

all: build test

build:
	$(GO) build ./...

## test: the full test suite with the race detector (what CI runs).
test:
	$(GO) test $(TEST_FLAGS) ./...

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

## bench: benchmarks of the storage layer.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./provider/...

## run: the orchestrator with embedded NATS (127.0.0.1:4222), Pebble under ./data and an in-process worker.
run:
	$(GO) run ./services/orchestrator

IMAGE_PREFIX  ?= reprise
IMAGE_TAG     ?= dev
DOCKER        ?= docker

## images: the orchestrator and worker container images (see deploy/README.md).
images:
	$(DOCKER) build -f services/orchestrator/Dockerfile -t $(IMAGE_PREFIX)/orchestrator:$(IMAGE_TAG) .
	$(DOCKER) build -f services/worker/Dockerfile -t $(IMAGE_PREFIX)/worker:$(IMAGE_TAG) .

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
