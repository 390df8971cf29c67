# bizra — the commands a newcomer runs: `make demo`, `make test`.
#
# Each part of the project (C ABI, Python, Node, Kotlin, ...) adds its targets in mk/<part>.mk and
# appends them to TESTS / BENCHES / DEMOS, so this file stays small.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export CARGO_TERM_COLOR ?= never

# One cargo profile (release) for build, test and bindings, and one feature set for every
# dependency (crates/workspace-hack): nothing gets compiled twice. `make dist` adds the `dist` profile.
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

# Every crate: the default members here, the Node addon (built like the rest, no --target) and the
# generator below; the Python crate in mk/python.mk (it needs the venv's interpreter).
lint:
	$(CARGO) fmt --all -- --check
	scripts/check-features.sh
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy --release -p bizra --no-default-features -- -D warnings
	$(CARGO) clippy --release -p uniffi-bindgen --all-targets -- -D warnings
	$(CARGO) clippy --release -p bizra-node --all-targets --all-features -- -D warnings

# The Rust suites, then the core alone: `bizra` without default features (the protocol: no
# llama.cpp, cmake or libclang) passes its own tests. make test-dist-rust builds it as a fresh
# project would, with no cmake on PATH, and checks its dependency tree.
test-rust:
	$(CARGO) test --release
	$(CARGO) test --release -p bizra --no-default-features

bench-rust:
	$(CARGO) bench --bench core

demo-rust:
	$(CARGO) run --release --quiet --example quickstart

include $(sort $(wildcard mk/*.mk))

test: $(TESTS)
	@echo "make test: all suites passed ($(TESTS))"

bench: $(BENCHES)

# DEMOS_LAST: what `make demo` ends with, whatever order the mk/*.mk files are read in.
demo: $(DEMOS) $(DEMOS_LAST)

clean:
	$(CARGO) clean
