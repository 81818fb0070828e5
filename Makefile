# Ballast's interface. Every target either does its job or fails with one line naming what
# is missing; none succeeds silently.

SHELL := /bin/bash
GO ?= go
STATICCHECK_VERSION := v0.8.2
BIN := $(CURDIR)/.bin
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)

# Packages that run goroutines of their own (the production node driver, servers, chaos
# clients, programs) are tested with -race; the simulator's single-goroutine packages are not,
# since the race detector slows them about tenfold and they have no concurrency to check.
RACE_DIRS := ./kv/node/... ./rpc/... ./chaos/... ./cmd/... ./linearizability/history/...
TEST_TIMEOUT ?= 20m

.PHONY: build test lint unit browser sim chaos bench image cluster canaries deps

build:
	$(GO) build ./...

deps:
	$(GO) mod download

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $(STATICCHECK)

lint: deps $(STATICCHECK)
	@unformatted=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

unit: deps
	@race=$$($(GO) list $(RACE_DIRS) 2>/dev/null); \
	plain=$$($(GO) list ./... | grep -vxF -f <(printf '%s\n' $$race)); \
	echo "go test (no -race): $$(echo $$plain | wc -w) packages; go test -race: $$(echo $$race | wc -w) packages"; \
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $$plain && \
	if [ -n "$$race" ]; then $(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) $$race; fi

# The checker's HTML report rendered in headless Chromium (Debian package chromium; .ci/run
# installs it). With CI=true a missing chromium fails the test instead of skipping it.
browser:
	$(GO) test -count=1 -tags browser -run TestReportInBrowser -v ./linearizability/

test: lint unit browser

sim:
	@echo "make sim: the deterministic simulator (sim/, cmd/ballast-sim) does not exist yet"; exit 1

chaos:
	@echo "make chaos: the Docker chaos runner (chaos/, cmd/ballast-chaos) does not exist yet"; exit 1

bench:
	@echo "make bench: no benchmarks exist yet (cmd/ballast-bench and package benchmarks are still to come)"; exit 1

image:
	@echo "make image: the server binary (cmd/ballast) does not exist yet, so there is no image to build"; exit 1

cluster:
	@echo "make cluster: the server binary (cmd/ballast) and its image do not exist yet"; exit 1

canaries:
	@echo "make canaries: the canary builds and the simulator that catches them do not exist yet"; exit 1
