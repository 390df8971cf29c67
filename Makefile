# bizra — the commands a newcomer runs: `make demo`, `make test`.
#
# Each part of the project (C ABI, Python, Node, Kotlin, ...) adds its targets in mk/<part>.mk and
# appends them to TESTS / BENCHES / DEMOS, so this file stays small.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export CARGO_TERM_COLOR ?= never

# One cargo profile (release) for build, test and bindings: nothing gets compiled twice.
CARGO       ?= cargo
TARGET_DIR  := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
LIBDIR      := $(TARGET_DIR)/release
# Downloads and tool installs (Python venv, npm packages, the test model) are cached here.
BIZRA_CACHE ?= $(HOME)/.cache/bizra
export BIZRA_CACHE

TESTS   := lint test-rust
BENCHES := bench-rust
DEMOS   := demo-rust

.PHONY: all build lint test test-rust bench bench-rust demo demo-rust fmt clean
all: build

build:
	$(CARGO) build --release

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings

test-rust:
	$(CARGO) test --release

bench-rust:
	$(CARGO) bench --bench core

demo-rust:
	$(CARGO) run --release --quiet --example quickstart

include $(sort $(wildcard mk/*.mk))

test: $(TESTS)
	@echo "make test: all suites passed ($(TESTS))"

bench: $(BENCHES)

demo: $(DEMOS)

clean:
	$(CARGO) clean
