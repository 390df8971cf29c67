#!/usr/bin/env bash
# Installs the reference OpenAI-compatible server of the Pool tier's tests: llama-cpp-python's
# server (`python -m llama_cpp.server`, started by scripts/pool_server.py), from its PyPI sdist,
# into a venv of its own in the cache. Nobody here wrote it: it is the reference for the protocol.
#
# The wheel is built once (llama.cpp compiled by scikit-build-core, about 5 minutes on 2 cores)
# and cached in CACHE/wheels, so a new venv installs it without compiling again. Only the
# library is built (no llava/mtmd, no tools, no tests): the server needs nothing else.
#
# Robust to interruptions and failures: the wheel is built in a scratch directory and moved into
# the cache only when complete; a cached wheel that does not install is deleted and built again;
# the stamp is written last, once the server's modules import, so a failed run leaves none and
# the next run starts over (reusing the cached wheel). Two runs at once take turns (flock).
#
# Usage: scripts/pool-server-install.sh [CACHE_DIR]  → prints the venv's python
set -euo pipefail

CACHE="${1:-${BIZRA_CACHE:-$HOME/.cache/bizra}}"
VERSION="0.3.36"
VENV="$CACHE/venv-pool"
WHEELS="$CACHE/wheels"
STAMP="$VENV/.llama-cpp-python-$VERSION"

if [[ -f "$STAMP" && -x "$VENV/bin/python" ]]; then
    echo "$VENV/bin/python"
    exit 0
fi

mkdir -p "$CACHE" "$WHEELS"
exec 9>"$CACHE/.pool-server-install.lock"
flock 9
# Another run may have finished while this one waited.
if [[ -f "$STAMP" && -x "$VENV/bin/python" ]]; then
    echo "$VENV/bin/python"
    exit 0
fi

cached_wheel() {
    ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n1 || true
}

build_wheel() {
    echo "building llama-cpp-python $VERSION from its sdist (compiles llama.cpp once)" >&2
    local scratch
    scratch="$(mktemp -d "$WHEELS/.build.XXXXXX")"
    # shellcheck disable=SC2064 # expand now: the directory of this build
    trap "rm -rf '$scratch'" EXIT
    CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
        "$VENV/bin/python" -m pip wheel --quiet --no-deps --no-binary llama-cpp-python \
        "llama-cpp-python==$VERSION" -w "$scratch" >&2
    local built
    built="$(ls "$scratch"/llama_cpp_python-"$VERSION"-*.whl | head -n1)"
    mv -f "$built" "$WHEELS/"
    rm -rf "$scratch"
    trap - EXIT
}

rm -rf "$VENV"
python3 -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --upgrade pip >&2

wheel="$(cached_wheel)"
if [[ -n "$wheel" ]]; then
    echo "installing the cached wheel $wheel" >&2
    if ! "$VENV/bin/python" -m pip install --quiet "${wheel}[server]" >&2; then
        echo "the cached wheel does not install: deleting it and building again" >&2
        rm -f "$wheel"
        wheel=""
    fi
fi
if [[ -z "$wheel" ]]; then
    build_wheel
    wheel="$(cached_wheel)"
    "$VENV/bin/python" -m pip install --quiet "${wheel}[server]" >&2
fi
"$VENV/bin/python" -c 'import llama_cpp, llama_cpp.server.app, uvicorn; print("llama-cpp-python", llama_cpp.__version__)' >&2
touch "$STAMP"
echo "$VENV/bin/python"
