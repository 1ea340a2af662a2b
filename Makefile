# Gantry's everyday commands. `make test` is what CI runs.
GO ?= go

.PHONY: build ui test test-short bench bench-go bench-profile fuzz demo clean

# A static binary: nothing of the gateway needs cgo (the only users would
# be the standard library's DNS resolver and os/user, which have pure-Go
# versions), and not mapping the C library keeps about 2 MiB of RSS off
# every gateway (docs/benchmarks.md, the idle 10,000-route gateway).
build:
	CGO_ENABLED=0 $(GO) build -o bin/gantry ./cmd/gantry

# Copies the dashboard's vendored browser code (uPlot, pinned in
# internal/ui/package-lock.json) from npm into internal/ui/assets; the
# copies are committed, so build needs neither npm nor this step.
ui:
	$(GO) generate ./internal/ui

# Everything on the default serving engine, then the suites that drive the
# binary (end to end, conformance) again on net/http's (server.engine).
test:
	$(GO) test -race -count=1 -timeout 12m ./...
	GANTRY_TEST_ENGINE=net/http $(GO) test -race -count=1 -timeout 12m ./test/...

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
