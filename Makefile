# maxproxy build, test and benchmark entry points. `make test` is exactly what
# CI runs (.ci/run); see README.md.

GO       ?= go
MODULE   := github.com/maxproxy/maxproxy
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X $(MODULE)/proxy/cli.Version=$(VERSION) -X $(MODULE)/node.Version=$(VERSION)
BIN      := bin

# Packages whose tests start real processes (MariaDB, Galera, built binaries)
# run without the race detector and with a longer timeout; everything else
# runs under -race.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v '/integration')

.PHONY: all build test test-unit test-integration test-long bench fuzz lint clean demo

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./proxy/cmd/maxproxy ./node/cmd/maxnode

# Everything CI runs: static checks, unit tests under the race detector, then
# the multi-process integration tests against the binaries just built.
test: build lint test-unit test-integration

test-unit:
	$(GO) test -race -shuffle=on -timeout 10m $(UNIT_PKGS)

# Real-cluster tests that live next to the code they test carry the
# `integration` build tag so that the -race unit pass does not start a second
# Galera cluster for them.
test-integration: build
	MAXPROXY_BIN=$(CURDIR)/$(BIN) $(GO) test -tags integration -timeout 20m ./integration/... ./monitor/...

# Soak and fault runs that are too long for CI: the same tests with their
# long variants switched on.
test-long: build
	MAXPROXY_BIN=$(CURDIR)/$(BIN) MAXPROXY_TEST_LONG=1 $(GO) test -tags integration -timeout 120m ./...

# One package at a time: the sysbench comparisons need the machine to themselves.
bench: build
	MAXPROXY_BIN=$(CURDIR)/$(BIN) $(GO) test -p 1 -run '^$$' -bench . -benchmem -tags integration -timeout 60m ./...

# A short pass over every fuzz target (each target needs its own invocation).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$pkg || exit 1; \
		done; \
	done

# gofmt, go vet, and the dependency-direction rules (deps_test.go).
lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*' -not -path './bin/*')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	$(GO) test -run 'TestDependencyDirection' .

# Three maxnode nodes behind maxproxy on 127.0.0.1 (see deploy/demo): data
# in ./demo-data or $MAXPROXY_DEMO_DIR, reused by the next run; Ctrl-C stops
# everything.
demo: build
	$(GO) build -o $(BIN)/maxproxy-demo ./deploy/demo
	$(BIN)/maxproxy-demo -bin $(BIN)

clean:
	rm -rf $(BIN)
	$(GO) clean -testcache
