# Fuzzing (cargo-fuzz, libFuzzer with AddressSanitizer, the nightly toolchain) of every parser and
# verifier that takes outside bytes: envelopes (parse, verify, gate chain), canonical JSON (round
# trip, agreement with serde_json), PKCS#8 PEM key files, GGUF headers, GOSSIP-v1 datagrams, commit
# certificates, equivocation evidence, CONSENSUS-v1 wire messages and write-ahead-log records
# (decoded, then re-encoded to the same bytes), LINK-v1 handshakes and frames, and the C ABI's
# entry points that take buffers (bizra-sys, under ASan and LeakSanitizer; its build compiles
# llama.cpp once into the fuzz target directory). The targets are in fuzz/fuzz_targets; their
# seed corpora, written from the spec vectors by fuzz/seeds.py, in fuzz/corpus.
#
#   make test-fuzz              each target for FUZZ_TEST_SECONDS (20) from its committed seeds:
#                               a regression on a known input fails (in `make test`)
#   make fuzz FUZZ_SECONDS=600  each target for that long, the corpus kept in $(BIZRA_CACHE)/fuzz;
#                               prints executions, coverage and findings per target
#
# A crash leaves its input under $(BIZRA_CACHE)/fuzz/artifacts/<target>/; reproduce it with
# `$(FUZZ_BIN)/<target> <file>`, fix it, and add the input to fuzz/corpus/<target>/.

CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ := $(BIZRA_CACHE)/tools/bin/cargo-fuzz
FUZZ_TARGETS := envelope canonical pem datagram certificate evidence gguf consensus_wire link c_abi
FUZZ_WORK := $(BIZRA_CACHE)/fuzz
FUZZ_BIN := $(FUZZ_WORK)/target/x86_64-unknown-linux-gnu/release
FUZZ_TEST_SECONDS ?= 20
FUZZ_SECONDS ?= 600

.PHONY: fuzz-build test-fuzz fuzz

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root "$(BIZRA_CACHE)/tools"

# The targets compile through nightly's clippy-driver (RUSTC_WORKSPACE_WRAPPER: the fuzz workspace's
# own crates only), so the build the fuzzer needs also lints them; fuzz/Cargo.toml's [lints] make a
# finding fail it. A separate `cargo clippy` there would compile the core and llama.cpp once more.
fuzz-build: $(CARGO_FUZZ)
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@rustup component list --toolchain nightly --installed | grep -q '^clippy' \
	  || rustup component add --toolchain nightly clippy
	cd fuzz && PATH="$(BIZRA_CACHE)/tools/bin:$$PATH" CARGO_TARGET_DIR= \
	  RUSTC_WORKSPACE_WRAPPER="$$(rustup which --toolchain nightly clippy-driver)" \
	  cargo +nightly fuzz build -O --target-dir "$(FUZZ_WORK)/target"

# $(1): seconds; $(2): the corpus directory the run grows (seeded from fuzz/corpus).
define fuzz_run
	@failed=; for t in $(FUZZ_TARGETS); do \
	  mkdir -p "$(2)/$$t" "$(FUZZ_WORK)/artifacts/$$t"; \
	  cp -n fuzz/corpus/$$t/* "$(2)/$$t/"; \
	  if "$(FUZZ_BIN)/$$t" -max_total_time=$(1) -rss_limit_mb=2048 -print_final_stats=1 \
	      -artifact_prefix="$(FUZZ_WORK)/artifacts/$$t/" "$(2)/$$t" > "$(FUZZ_WORK)/$$t.log" 2>&1; then \
	    printf '%-12s %s\n' "$$t" "$$(grep -E 'DONE' "$(FUZZ_WORK)/$$t.log" | tail -1 \
	      | sed -E 's/^#([0-9]+)[[:space:]]+DONE[[:space:]]+/\1 executions, /')"; \
	  else \
	    echo "$$t: FAILED (see $(FUZZ_WORK)/$$t.log; the input is in $(FUZZ_WORK)/artifacts/$$t/)"; \
	    grep -E 'panicked|ERROR|SUMMARY' "$(FUZZ_WORK)/$$t.log" | head -5; failed="$$failed $$t"; \
	  fi; \
	done; test -z "$$failed"
endef

test-fuzz: fuzz-build
	@rm -rf "$(FUZZ_WORK)/test-corpus"
	$(call fuzz_run,$(FUZZ_TEST_SECONDS),$(FUZZ_WORK)/test-corpus)

fuzz: fuzz-build
	@echo "fuzzing each target for $(FUZZ_SECONDS) s on $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
	$(call fuzz_run,$(FUZZ_SECONDS),$(FUZZ_WORK)/corpus)

TESTS += test-fuzz
