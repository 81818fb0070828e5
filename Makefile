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

# etcd's own programs at the release Ballast is compatible with, built from the wrapper module
# tools/etcd (go install of etcd's modules is refused: see tools/etcd/README.md).
ETCD_VERSION := v3.7.3
ETCD := $(BIN)/etcd-$(ETCD_VERSION)
ETCDCTL := $(BIN)/etcdctl-$(ETCD_VERSION)
ETCDUTL := $(BIN)/etcdutl-$(ETCD_VERSION)
ETCD_TOOLS_SOURCES := tools/etcd/go.mod tools/etcd/go.sum

.PHONY: build test lint unit nested compat browser sim chaos chaos-images chaos-test bench image image-test compose-up compose-down compose-clean cluster canaries deps go-deps chromium etcd-tools bench-etcd bench-large etcd-e2e

build:
	$(GO) build ./...

# Everything make test needs that a fresh machine lacks: Chromium (first, so that a machine that
# cannot install it stops at once), the Go modules, etcdctl and etcd's server (cmd/ballast's
# etcdctl tests run the same commands against Ballast and against etcd). Each step installs
# what is missing or stops with one line naming it.
deps: chromium go-deps $(ETCDCTL) $(ETCD) $(ETCDUTL)

# The root module's dependencies, through the Go module proxy.
go-deps:
	$(GO) mod download

# Headless Chromium for the browser test (Debian package chromium): installed with apt-get
# when missing and this is root on a machine with apt-get; otherwise stops naming the package.
chromium:
	@command -v chromium >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "chromium is missing: apt-get install -y chromium"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || exit 1; \
	  command -v chromium >/dev/null || { echo "make chromium: apt-get installed chromium but it is not on PATH"; exit 1; }; \
	else \
	  echo "make chromium: chromium is not installed and cannot be installed here (needs root and apt-get): install the Debian package chromium"; exit 1; \
	fi

# etcd's server, etcdctl and etcdutl at ETCD_VERSION into .bin/ (static; rebuilt only when
# tools/etcd changes). Each build checks the version the binary prints.
etcd-tools: $(ETCD) $(ETCDCTL) $(ETCDUTL)

ETCD_BUILD = cd tools/etcd && CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -o $@.tmp

$(ETCD): $(ETCD_TOOLS_SOURCES) tools/etcd/etcd/main.go
	@mkdir -p $(BIN)
	$(ETCD_BUILD) ./etcd
	@$@.tmp --version | grep -qx 'etcd Version: $(ETCD_VERSION:v%=%)' || { echo "$@: the built etcd does not print version $(ETCD_VERSION)"; exit 1; }
	@mv $@.tmp $@

$(ETCDCTL): $(ETCD_TOOLS_SOURCES)
	@mkdir -p $(BIN)
	$(ETCD_BUILD) go.etcd.io/etcd/etcdctl/v3
	@$@.tmp version | grep -qx 'etcdctl version: $(ETCD_VERSION:v%=%)' || { echo "$@: the built etcdctl does not print version $(ETCD_VERSION)"; exit 1; }
	@mv $@.tmp $@

$(ETCDUTL): $(ETCD_TOOLS_SOURCES)
	@mkdir -p $(BIN)
	$(ETCD_BUILD) go.etcd.io/etcd/etcdutl/v3
	@$@.tmp version | grep -qx 'etcdutl version: $(ETCD_VERSION:v%=%)' || { echo "$@: the built etcdutl does not print version $(ETCD_VERSION)"; exit 1; }
	@mv $@.tmp $@

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $(STATICCHECK)

lint: go-deps $(STATICCHECK)
	@unformatted=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(GO) vet -tags canary,browser,docker,chaos ./...
	$(STATICCHECK) -tags canary,browser,docker,chaos ./...

# Every package's tests, and the canary test. cmd/ballast's etcdctl tests run .bin/etcdctl
# against a Ballast cluster and a real etcd cluster (.bin/etcd); with CI=true they fail when
# either binary is missing. chaos's Docker test (one short leader-crash run on 3 containers,
# about 45 s) builds its image through dockertest's client from the folder make image staged
# (.bin/image, tagged with its hash; BALLAST_IMAGE overrides), so unit runs make image first:
# on a fresh clone the stage exists before go test reaches chaos/ (with CI=true a missing
# Docker engine or stage fails that test, naming it).
unit: go-deps $(ETCDCTL) $(ETCD) image
	@race=$$($(GO) list $(RACE_DIRS) 2>/dev/null); \
	plain=$$($(GO) list ./... | grep -vxF -f <(printf '%s\n' $$race)); \
	echo "go test (no -race): $$(echo $$plain | wc -w) packages; go test -race: $$(echo $$race | wc -w) packages"; \
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $$plain && \
	if [ -n "$$race" ]; then $(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) $$race; fi
	$(GO) test -count=1 -tags canary -run TestCanaries ./sim/ && $(GO) test -count=1 -tags canary ./cmd/ballast-sim/
	$(GO) test -count=1 -tags canary,chaos -run 'TestBuildFlags|TestDelayListener' ./cmd/ballast/

# The nested modules, which go test ./... does not reach: compat (differential testing against
# etcd v3.7.3's server, its CI share: one seed of COMPAT_CI_CALLS calls and the planted-
# difference test, about 25 s), kv/mvcc/etcdparity (kv/mvcc against etcd's own store,
# about 1 min with a cold build cache) and deploy/kubernetes (the manifests decoded into
# k8s.io/api's types and expanded into testdata/command-lines.json, which cmd/ballast's and
# cmd/ballast-sim's tests parse; about 1.5 min with a cold build cache, a second warm), and
# tools/etcd's roundtrip (snapshots between Ballast and etcd v3.7.3 processes, both ways,
# through etcdctl and etcdutl; about 10 s warm). Each is vetted and staticchecked as the root is.
# compat needs .bin/etcd-v3.7.3, roundtrip etcd, etcdctl and etcdutl: with CI=true they fail
# naming the one missing.
COMPAT_CI_CALLS ?= 400
nested: $(ETCD) $(ETCDCTL) $(ETCDUTL) $(STATICCHECK)
	cd compat && $(GO) vet ./... && $(STATICCHECK) ./... && \
	  COMPAT_CALLS=$(COMPAT_CI_CALLS) $(GO) test -count=1 -timeout 10m ./...
	cd kv/mvcc/etcdparity && $(GO) vet ./... && $(STATICCHECK) ./... && $(GO) test -count=1 -timeout 10m ./...
	cd deploy/kubernetes && $(GO) vet ./... && $(STATICCHECK) ./... && $(GO) test -count=1 -timeout 5m ./...
	cd tools/etcd && $(GO) vet ./roundtrip/ && $(STATICCHECK) ./roundtrip/ && $(GO) test -count=1 -timeout 10m ./roundtrip/
	cd tools/etcde2e && $(GO) vet . && $(STATICCHECK) . && $(GO) test -count=1 .

# Differential testing against etcd v3.7.3, long: COMPAT_SEEDS seeds of COMPAT_LONG_CALLS
# calls each, every seed against a fresh three-member etcd and three-member Ballast (cd
# compat; SEED=N or -seed N re-runs one sequence; COMPAT_VERBOSE=1 prints every call and
# both answers).
COMPAT_SEEDS ?= 5
COMPAT_LONG_CALLS ?= 4000
compat: $(ETCD)
	cd compat && COMPAT_SEEDS=$(COMPAT_SEEDS) COMPAT_CALLS=$(COMPAT_LONG_CALLS) $(GO) test -count=1 -timeout 60m -run TestCompat -v .

# etcd v3.7.3's own end-to-end suites (go.etcd.io/etcd/tests/v3: common with the e2e tag,
# and e2e), compiled from the module cache by tools/etcde2e and run twice: against etcd
# v3.7.3 (the baseline) and against Ballast's binary in etcd's place. Fails on a test that
# passes on etcd and fails on Ballast unless tools/etcde2e/known.txt names it with its reason.
# E2E_SUITES=common,e2e; E2E_RUN=REGEX narrows to some tests; reports in reports/etcd-e2e/.
# Long (the common suite alone is ~25 minutes per side on 2 cores): not part of make test.
E2E_SUITES ?= common
E2E_RUN ?=
etcd-e2e: $(ETCD) $(ETCDCTL) $(ETCDUTL)
	@mkdir -p reports/etcd-e2e
	CGO_ENABLED=0 $(GO) build -o reports/etcd-e2e/ballast ./cmd/ballast
	cd tools/etcde2e && $(GO) vet . && $(GO) run . -ballast $(CURDIR)/reports/etcd-e2e/ballast -etcd $(ETCD) \
	  -etcdctl $(ETCDCTL) -etcdutl $(ETCDUTL) -suite $(E2E_SUITES) -run '$(E2E_RUN)' -out $(CURDIR)/reports/etcd-e2e

# The checker's HTML report rendered in headless Chromium (Debian package chromium, which the
# chromium target installs). With CI=true a missing chromium fails the test instead of skipping it.
browser: chromium
	$(GO) test -count=1 -tags browser -run TestReportInBrowser -v ./linearizability/

# Everything, on a fresh clone: set-up first (so a missing Chromium stops it at once), then the
# static checks, every test, the nested modules' tests, the browser test, the image's tests.
test: deps lint unit nested browser image-test chaos-test

# The whole scenario catalogue in the deterministic simulator, SIM_SEEDS seeds each (runs
# 1..SIM_SEEDS), two runs at a time: about a minute on 2 idle cores. Reports go to
# reports/sim/index.html (every failing run, and each scenario's first seed). Exit 1 on any
# failing run; its replay command is in the table. More seeds: make sim SIM_SEEDS=100.
SIM_SEEDS ?= 20
sim:
	$(GO) run ./cmd/ballast-sim run -scenario all -seeds $(SIM_SEEDS) -parallel 2 -out reports/sim

# The chaos builds' images, for ballast-chaos: ballast-chaos (ballast built -tags chaos: the
# --chaos-power-loss flag, Pebble on kv/powerloss, so a kill -9 is a power loss, and the
# slow-disk control file) and ballast-canary (-tags canary,chaos: BALLAST_CANARY picks the
# canary). Staged in .bin/image-ballast-chaos and .bin/image-ballast-canary: ballast-chaos
# -stage DIR and the chaos tests build their image from that folder through dockertest's
# client, tagged with the folder's hash, once per binary (ids of make image's own builds in
# the .id files beside them).
chaos-images:
	$(MAKE) --no-print-directory image IMAGE=ballast-chaos IMAGE_GO_TAGS=chaos
	$(MAKE) --no-print-directory image IMAGE=ballast-canary IMAGE_GO_TAGS=canary,chaos

# The Docker world's proof that it can fail (chaos/canary_docker_test.go, -tags docker): the
# canary image catches ack-before-sync (power loss) and read-no-quorum (partitions) within 5
# seeds each, and the correct chaos image passes the power-loss canary's scenario. About 2
# minutes; part of make test.
chaos-test: chaos-images
	$(GO) test -count=1 -tags docker -timeout 20m -run TestDockerCanaries -v ./chaos/

# The Docker chaos catalogue (cmd/ballast-chaos, package chaos): every scenario ballast-chaos
# list names, one after another on 3 or 5 containers of the chaos image, in power-loss mode
# (a crash is a power loss), with CHAOS_DURATION of traffic and faults each (the schedule
# scales with it) and CHAOS_SEED (default: drawn and printed); then the canary proof
# (ballast-chaos canaries: ack-before-sync and read-no-quorum each caught within 5 runs on the
# canary image). Reports go to reports/chaos/<scenario>-<seed>/. Exit 1 on any violation (or
# a canary not caught), 2 when a run could not be made. Network faults need root.
CHAOS_DURATION ?= 30s
CHAOS_SEED ?= 0
chaos: chaos-images
	$(GO) run ./cmd/ballast-chaos run -scenario all -power-loss -duration $(CHAOS_DURATION) -seed $(CHAOS_SEED) -stage $(BIN)/image-ballast-chaos -out reports/chaos
	$(GO) run ./cmd/ballast-chaos canaries -runs 5 -canary ack-before-sync,read-no-quorum -stage $(BIN)/image-ballast-canary -out reports/chaos-canaries

# The packages' benchmarks, without the long ones (a million keys in kv/mvcc and Porcupine's
# 5-minute searches: see kv/mvcc/bench_test.go and linearizability/bench_test.go for their
# commands); the revision-guided checker runs at 10k, 100k and 1M operations (about 30 s). Output goes to reports/bench.txt, for
# benchstat against an earlier run. Whole clusters over gRPC: make bench-etcd.
BENCH_TIME ?= 1s
bench:
	@mkdir -p reports
	set -o pipefail; { $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCH_TIME) ./raft/ ./kv/raftlog/ ./kv/wire/ ./kv/lease/ ./kv/watch/ ./kv/node/ && \
	  $(GO) test -run '^$$' -bench 'Put|Range|Txn|Events|HashKV|CompactStep' -benchmem -benchtime $(BENCH_TIME) ./kv/mvcc/ && \
	  $(GO) test -run '^$$' -bench 'RevisionChecker' -benchtime 1x ./linearizability/ ; } | tee reports/bench.txt

# Ballast against etcd v3.7.3 side by side (issue 23): ballast and ballast-bench built into
# BENCH_OUT/bin (not .bin/, which other builds share), then ballast-bench compare starts a
# three-member Ballast and a three-member etcd on loopback (same flags, data under BENCH_OUT
# on the same disk) and runs the same workloads on each, alternating, BENCH_ROUNDS times
# each, BENCH_DURATION per run (the whole bounded by BENCH_TIMEOUT): the table with the ratio
# Ballast/etcd goes to stdout and BENCH_OUT/results.md, every run's summary to
# BENCH_OUT/runs.jsonl. Then the scaling runs (put throughput against clients 1/8/64/256,
# value size 64 B/1 KiB/64 KiB and key count BENCH_SCALING_KEYS, each count loaded first),
# drawn in BENCH_OUT/index.html; BENCH_SCALING= skips them. About 15 workloads x 2 stores x
# BENCH_ROUNDS x BENCH_DURATION plus the loading.
# Last, memory: a fresh cluster of each store with BENCH_MEMORY_KEYS keys of 256 bytes, each
# member's RSS after a full scan on every member (0 skips it). The goal's figures need 1M
# keys, loaded at about 2,000 puts/s here, so about 8 minutes per store and count:
# BENCH_MEMORY_KEYS=1000000 BENCH_SCALING_KEYS=10000,1000000 BENCH_TIMEOUT=90m.
# The whole, with the defaults: 6 min 50 s here.
# BENCH_WORKLOADS=put-1,range-s picks some of the goals' workloads (none: only scaling).
BENCH_OUT ?= reports/bench-etcd
BENCH_DURATION ?= 5s
BENCH_ROUNDS ?= 2
BENCH_TIMEOUT ?= 30m
BENCH_WORKLOADS ?=
BENCH_SCALING ?= 1
BENCH_SCALING_KEYS ?= 10000
BENCH_MEMORY_KEYS ?= 100000
bench-etcd: $(ETCD)
	@mkdir -p $(BENCH_OUT)/bin
	$(GO) build -o $(BENCH_OUT)/bin/ ./cmd/ballast ./cmd/ballast-bench
	$(BENCH_OUT)/bin/ballast-bench compare --ballast $(BENCH_OUT)/bin/ballast --etcd $(ETCD) --out $(BENCH_OUT) \
	  --duration $(BENCH_DURATION) --rounds $(BENCH_ROUNDS) --timeout $(BENCH_TIMEOUT) \
	  $(if $(BENCH_WORKLOADS),--workloads $(BENCH_WORKLOADS)) $(if $(BENCH_SCALING),--scaling --scaling-keys $(BENCH_SCALING_KEYS)) \
	  --memory-keys $(BENCH_MEMORY_KEYS)

# Large stores (issue 21; not part of make test): ballast and ballast-bench built into
# BENCH_LARGE_OUT/bin, then ballast-bench large starts a three-member Ballast on loopback
# with data under BENCH_LARGE_OUT, fills it with BENCH_LARGE_GIB GiB of keys per member
# (16 KiB random values; less when the free disk cannot hold about 5.5 times that: three
# members, a new one and a snapshot file), then measures put throughput at that size,
# snapshot save, a member's restart and a new member's catch-up by snapshot. The table goes
# to stdout and BENCH_LARGE_OUT/results.md; the members' data is removed at the end. The
# fill dominates: about 5 min per GiB per member on this shared 2-core machine.
BENCH_LARGE_OUT ?= reports/bench-large
BENCH_LARGE_GIB ?= 16
BENCH_LARGE_TIMEOUT ?= 4h
bench-large:
	@mkdir -p $(BENCH_LARGE_OUT)/bin
	$(GO) build -o $(BENCH_LARGE_OUT)/bin/ ./cmd/ballast ./cmd/ballast-bench
	$(BENCH_LARGE_OUT)/bin/ballast-bench large --ballast $(BENCH_LARGE_OUT)/bin/ballast --out $(BENCH_LARGE_OUT) \
	  --gib-per-member $(BENCH_LARGE_GIB) --timeout $(BENCH_LARGE_TIMEOUT)

# The Docker image (Dockerfile, FROM scratch): ballast and ballast-sim built static here,
# etcd as a link to ballast, etcdctl and etcdutl v3.7.3 from .bin/, staged in .bin/image (the
# whole build context), then built by the legacy builder (DOCKER_BUILDKIT=0: the engine here
# has no BuildKit, and FROM scratch needs no registry). Tags IMAGE:IMAGE_VERSION and
# IMAGE:latest, writes the image's id to .bin/image.id (what image-test runs, whatever other
# builds retag meanwhile), removes Ballast images built more than 2 hours ago that no tag
# names any more (each build leaves the previous one untagged), and prints the size. The
# build is not -trimpath, so it reuses the compile cache of go vet and go test (the stripped
# link is the only step of its own).
IMAGE ?= ballast
IMAGE_VERSION := $(shell git describe --always 2>/dev/null || echo unknown)
IMAGE_STAGE := $(BIN)/image
# IMAGE_GO_TAGS builds ballast with build tags (chaos-images sets them); each variant stages
# in a folder of its own, .bin/image-<IMAGE>, with its id in .bin/image-<IMAGE>.id.
IMAGE_GO_TAGS ?=
ifneq ($(IMAGE),ballast)
IMAGE_STAGE := $(BIN)/image-$(IMAGE)
endif
image: $(ETCDCTL) $(ETCDUTL)
	@command -v docker >/dev/null || { echo "make image: docker is not installed (the Docker engine and CLI are needed)"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make image: no Docker engine answers (docker info fails): start dockerd"; exit 1; }
	rm -rf $(IMAGE_STAGE) && mkdir -p $(IMAGE_STAGE)/usr/local/bin
	CGO_ENABLED=0 $(GO) build -buildvcs=false -tags '$(IMAGE_GO_TAGS)' -ldflags='-s -w' -o $(IMAGE_STAGE)/usr/local/bin/ ./cmd/ballast ./cmd/ballast-sim
	ln -s ballast $(IMAGE_STAGE)/usr/local/bin/etcd
	cp $(ETCDCTL) $(IMAGE_STAGE)/usr/local/bin/etcdctl
	cp $(ETCDUTL) $(IMAGE_STAGE)/usr/local/bin/etcdutl
	DOCKER_BUILDKIT=0 docker build -q --iidfile $(IMAGE_STAGE).id --build-arg VERSION=$(IMAGE_VERSION) -t $(IMAGE):$(IMAGE_VERSION) -t $(IMAGE):latest -f Dockerfile $(IMAGE_STAGE)
	@docker image prune -f --filter label=org.opencontainers.image.title=ballast --filter until=2h >/dev/null
	@echo "$(IMAGE):$(IMAGE_VERSION) $(IMAGE):latest: $$(docker image inspect -f '{{.Size}}' $$(cat $(IMAGE_STAGE).id) | awk '{printf "%.1f MB", $$1/1e6}')"

# The image's acceptance tests (deploy/, build tag docker), on the image make image has just
# built: etcd's tutorial single member, etcd's container guide against etcd's own server in the
# same kind of image, the three members of docker-compose.yml (health checks, watch, lease,
# lock, the leader's docker stop with the failover time printed, docker start and HashKV,
# down and up), and an etcd compose file with only its image changed. About 2 minutes; a
# missing Docker engine or docker-compose fails them.
image-test: image $(ETCD) $(ETCDCTL)
	BALLAST_IMAGE=$$(cat $(IMAGE_STAGE).id) $(GO) test -count=1 -tags docker -timeout 15m -v ./deploy/

# Three members from docker-compose.yml (docker-compose v1 here; the file is format 2.4, which
# v2 reads too) on the image make image builds; client ports on the host 2379, 22379, 32379
# (BALLAST_PORT1..3 move them). compose-down keeps the named volumes (the data); compose-clean
# removes them too.
COMPOSE ?= docker-compose
compose-up:
	@docker image inspect $(IMAGE):latest >/dev/null 2>&1 || { echo "make compose-up: image $(IMAGE):latest does not exist: run make image"; exit 1; }
	$(COMPOSE) up -d

compose-down:
	$(COMPOSE) down

compose-clean:
	$(COMPOSE) down -v

# Three ballast members as local processes on loopback (clients on 12379, 22379, 32379), logs
# under reports/cluster/; prints the etcdctl --endpoints line to use; Ctrl-C stops all three.
# CLUSTER_FRESH=1 starts from empty data dirs, CLUSTER_SECONDS=N stops after N seconds,
# CLUSTER_BASE_PORT=N moves the ports.
cluster:
	@bash cmd/ballast/cluster.sh

# The deliberately broken variants (package canary, built only with -tags canary), each
# against the scenario meant to catch it: up to CANARY_SEEDS seeds each, then a table
# (canary, caught, seeds until the first failure, scenario, wall time) whose last line is
# "canaries: N caught, M missed"; fails when M > 0. Compiling the canary build is part of it.
CANARY_SEEDS ?= 200
canaries:
	$(GO) run -tags canary ./cmd/ballast-sim canaries -seeds $(CANARY_SEEDS)
