# Gantry's everyday commands. `make test` is what CI runs.
GO ?= go

.PHONY: build image ui test test-short bench bench-go bench-profile fuzz demo clean

# The release build: a static binary (no cgo, so no libc to match on the
# target; the SQLite driver is pure Go, the DNS resolver and os/user have
# pure-Go versions, and not mapping the C library keeps about 2 MiB of RSS
# off every gateway: docs/benchmarks.md), without the build machine's paths, and
# stamped with the version, commit and commit date from git. The date is
# the commit's, not the clock's, so building a commit twice gives the same
# bytes. BIN names the output.
BIN ?= bin/gantry
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILD_DATE ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
LDFLAGS = -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/gantry

# An OCI image of that binary, built without a container daemon and
# written as bin/gantry-image.tar for `docker load` or `podman load`.
# GOARCH=arm64 make image builds an arm64 image (the platform is read from
# the binary); the builder itself always runs on this machine.
IMAGE ?= gantry:$(VERSION)
image: build
	GOOS= GOARCH= $(GO) run ./deploy/image -binary $(BIN) -config deploy/gantry.yaml \
	  -tag "$(IMAGE)" -version "$(VERSION)" -revision "$(COMMIT)" -created "$(BUILD_DATE)" \
	  -o bin/gantry-image.tar

# Copies the dashboard's vendored browser code (uPlot, pinned in
# internal/ui/package-lock.json) from npm into internal/ui/assets; the
# copies are committed, so build needs neither npm nor this step.
ui:
	$(GO) generate ./internal/ui

# Everything on the default serving engine, then the suites that drive the
# binary (end to end, conformance) again on net/http's (server.engine).
# Under the race detector package socket reads and writes through package
# syscall; its raw system calls, which release builds use, are covered by
# its own tests and the conformance suite once more without -race.
test:
	$(GO) test -race -count=1 -timeout 12m ./...
	GANTRY_TEST_ENGINE=net/http $(GO) test -race -count=1 -timeout 12m ./test/...
	$(GO) test -count=1 ./internal/socket ./test/conformance

test-short:
	$(GO) test -short ./...

# The suite against NGINX and HAProxy: installs nginx, haproxy and wrk if
# missing, runs every scenario on loopback and writes docs/benchmarks.md.
# QUICK=1 for a smoke run of a minute or two; PEERS=go to build and measure
# Caddy and Traefik too.
bench:
	BENCH_COMMAND="$(if $(filter 1,$(QUICK)),QUICK=1 )$(if $(PEERS),PEERS=$(PEERS) )make bench" bench/run

# CPU, allocation and mutex profiles of the plain proxy path under load.
bench-profile:
	bench/run -profile bin/profile

# The Go micro-benchmarks of every package.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Each fuzz target for 20s.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep ^Fuzz); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$pkg || exit 1; \
	  done; \
	done

demo:
	$(GO) run ./cmd/gantry demo

clean:
	rm -rf bin
