#!/usr/bin/env bash
# Builds llama.cpp's own `llama-bench`, the baseline of `make bench-inference`.
#
# llama-cpp-sys-2 ships llama.cpp without its tools; the PyPI sdist of llama-cpp-python carries
# llama.cpp's full source (vendor/llama.cpp, tools/llama-bench included). It is built with the
# options our build of llama.cpp gets from llama-cpp-sys-2 (static, OpenMP, GGML_NATIVE=OFF with
# ggml's default x86-64 instruction sets: AVX2/FMA/F16C/BMI2, no AVX-512), so that the comparison
# measures the engine, not the compiler flags.
#
# Usage: scripts/build-llama-bench.sh [CACHE_DIR]   → CACHE_DIR/llama-bench/bin/llama-bench
set -euo pipefail

CACHE="${1:-${BIZRA_CACHE:-$HOME/.cache/bizra}}"
VERSION="0.3.36"
OUT="$CACHE/llama-bench"
SRC="$OUT/src"

mkdir -p "$OUT/sdist"
if [[ ! -d "$SRC/vendor/llama.cpp" ]]; then
    PIP=(pip)
    command -v pip >/dev/null 2>&1 || PIP=(python3 -m pip)
    "${PIP[@]}" download --quiet --no-deps --no-binary :all: \
        "llama-cpp-python==${VERSION}" -d "$OUT/sdist" >&2 || true
    tarball="$(ls "$OUT/sdist"/llama_cpp_python-"${VERSION}".tar.gz 2>/dev/null | head -1)"
    [[ -n "$tarball" ]] || { echo "build-llama-bench: could not download llama-cpp-python ${VERSION} sdist" >&2; exit 1; }
    rm -rf "$SRC.tmp" && mkdir -p "$SRC.tmp"
    tar -xzf "$tarball" -C "$SRC.tmp" --strip-components=1
    rm -rf "$SRC" && mv "$SRC.tmp" "$SRC"
fi

cmake -S "$SRC/vendor/llama.cpp" -B "$OUT/build" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_TOOLS=ON >/dev/null
cmake --build "$OUT/build" --target llama-bench -j "$(nproc)" >/dev/null
mkdir -p "$OUT/bin"
cp "$OUT/build/bin/llama-bench" "$OUT/bin/llama-bench"
echo "$OUT/bin/llama-bench"
