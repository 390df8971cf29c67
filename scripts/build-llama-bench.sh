#!/usr/bin/env bash
# Builds llama.cpp's own `llama-bench`, the baseline of `make bench-inference`, from the SAME
# llama.cpp source that our engine links.
#
# llama-cpp-sys-2 vendors llama.cpp without its tools' sources; the PyPI sdist of llama-cpp-python
# carries llama.cpp's full tree, tools/llama-bench included, but of a slightly different llama.cpp
# version. So: the library comes from the llama-cpp-sys-2 crate that cargo resolved (exact same
# ggml and llama code as ours), and only tools/llama-bench/*.cpp comes from the sdist. It is built
# with the options llama-cpp-sys-2 uses for our build (static, OpenMP, GGML_NATIVE=OFF with ggml's
# default x86-64 instruction sets: AVX2/FMA/F16C/BMI2, no AVX-512; Release), so that the
# comparison measures the engine, not the compiler flags.
#
# Usage: scripts/build-llama-bench.sh [CACHE_DIR]
#        → prints CACHE_DIR/llama-bench/llama-cpp-sys-2-<version>/llama-bench
set -euo pipefail

CACHE="${1:-${BIZRA_CACHE:-$HOME/.cache/bizra}}"
SDIST_VERSION="0.3.36"
OUT="$CACHE/llama-bench"
CARGO="${CARGO:-cargo}"

crate_dir="$("$CARGO" metadata --format-version 1 --locked 2>/dev/null | python3 -c '
import json, os, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "llama-cpp-sys-2":
        print(os.path.dirname(p["manifest_path"])); break
')"
[[ -d "$crate_dir/llama.cpp" ]] || { echo "build-llama-bench: llama-cpp-sys-2 source not found (run cargo fetch)" >&2; exit 1; }
crate_version="$(basename "$crate_dir")"

mkdir -p "$OUT/sdist"
tarball="$OUT/sdist/llama_cpp_python-${SDIST_VERSION}.tar.gz"
if [[ ! -f "$tarball" ]]; then
    PIP=(pip)
    command -v pip >/dev/null 2>&1 || PIP=(python3 -m pip)
    "${PIP[@]}" download --quiet --no-deps --no-binary :all: \
        "llama-cpp-python==${SDIST_VERSION}" -d "$OUT/sdist" >&2
fi

src="$OUT/src-$crate_version"
if [[ ! -f "$src/.complete" ]]; then
    rm -rf "$src" && mkdir -p "$src"
    cp -r "$crate_dir/llama.cpp/." "$src/"
    rm -rf "$src/tools/llama-bench"
    mkdir -p "$src/tools/llama-bench"
    tar -xzf "$tarball" -C "$src/tools/llama-bench" --strip-components=5 \
        "llama_cpp_python-${SDIST_VERSION}/vendor/llama.cpp/tools/llama-bench"
    # Only llama-bench: the crate ships the other tools without their sources.
    cat > "$src/tools/CMakeLists.txt" <<'CM'
find_package(Threads REQUIRED)
llama_add_compile_flags()
add_subdirectory(llama-bench)
CM
    touch "$src/.complete"
fi

cmake -S "$src" -B "$OUT/build-$crate_version" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=ON -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON >&2
cmake --build "$OUT/build-$crate_version" --target llama-bench -j "$(nproc)" >&2
mkdir -p "$OUT/$crate_version"
cp "$OUT/build-$crate_version/bin/llama-bench" "$OUT/$crate_version/llama-bench"
echo "llama.cpp from $crate_version; tools/llama-bench from llama-cpp-python $SDIST_VERSION" \
    > "$OUT/$crate_version/VERSION"
echo "$OUT/$crate_version/llama-bench"
