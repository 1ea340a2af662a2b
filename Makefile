# Gantry's everyday commands. `make test` is what CI runs.
GO ?= go

.PHONY: build test test-short bench fuzz demo clean

build:
	$(GO) build -o bin/gantry ./cmd/gantry

test:
	$(GO) test -race -count=1 -timeout 12m ./...

test-short:
	$(GO) test -short ./...

bench:
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
