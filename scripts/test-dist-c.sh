#!/usr/bin/env bash
# Usage: test-dist-c.sh TARBALL MODEL WORK
#
# What a C user without Rust does with the tarball: extract it (into WORK), build
# examples/c/quickstart.c and examples/c/inference.c with `pkg-config --cflags --libs bizra`
# against the shared library (rpath into the extracted tree) and against the static one (the
# libraries bizra.pc lists in Libs.private), then run all four, the inference example on MODEL:
# an envelope signed and verified, a tampered one rejected, one generation verified. PATH has no
# cargo, rustc or cmake (scripts/dist-path.sh); LD_LIBRARY_PATH is unset.
set -euo pipefail

tarball=${1:?usage: test-dist-c.sh TARBALL MODEL WORK}
model=${2:?} work=${3:?}
name=$(basename "$tarball" .tar.gz)
version=${name#libbizra-}
version=${version%-linux-x86_64}
prefix=$work/$name

rm -rf "$work"
mkdir -p "$work"
tar -xzf "$tarball" -C "$work"
for f in lib/libbizra.so lib/libbizra.so.0 lib/libbizra.a include/bizra.h lib/pkgconfig/bizra.pc \
  licenses/LICENSE licenses/llama.cpp/LICENSE licenses/rust-crates.txt; do
  [ -e "$prefix/$f" ] || { echo "test-dist-c: $name.tar.gz has no $f" >&2; exit 1; }
done
for crate in llama-cpp-2 ed25519-dalek uniffi rusqlite usearch; do
  grep -q "^  $crate " "$prefix/licenses/rust-crates.txt" ||
    { echo "test-dist-c: licenses/rust-crates.txt does not list $crate" >&2; exit 1; }
done

PATH=$(scripts/dist-path.sh "$work/bin" cc)
export PATH PKG_CONFIG_PATH=$prefix/lib/pkgconfig
unset LD_LIBRARY_PATH PKG_CONFIG_LIBDIR
[ "$(pkg-config --modversion bizra)" = "$version" ] ||
  { echo "test-dist-c: bizra.pc says $(pkg-config --modversion bizra), the tarball $version" >&2; exit 1; }

cflags=$(pkg-config --cflags bizra)
shared=$(pkg-config --libs bizra)
# -l:libbizra.a: the archive, where -lbizra would pick the shared library beside it.
static=$(pkg-config --static --libs bizra | sed 's/-lbizra\b/-l:libbizra.a/')
for prog in quickstart inference; do
  # shellcheck disable=SC2086 # pkg-config's words
  cc -std=c11 -O2 -Wall -Wextra -Werror "examples/c/$prog.c" -o "$work/$prog-shared" \
    $cflags $shared -Wl,-rpath,"$prefix/lib"
  # shellcheck disable=SC2086
  cc -std=c11 -O2 -Wall -Wextra -Werror "examples/c/$prog.c" -o "$work/$prog-static" $cflags $static
  [[ $(ldd "$work/$prog-shared") == *"libbizra.so.0 => $prefix/lib/libbizra.so.0 "* ]] ||
    { echo "test-dist-c: $prog-shared does not load the extracted libbizra.so.0" >&2; exit 1; }
  if [[ $(ldd "$work/$prog-static") == *libbizra* ]]; then
    echo "test-dist-c: $prog-static loads libbizra dynamically" >&2
    exit 1
  fi
done

for link in shared static; do
  "$work/quickstart-$link" > "$work/quickstart-$link.out"
  grep -q 'PCI-15' "$work/quickstart-$link.out" ||
    { echo "test-dist-c: quickstart-$link did not reject the tampered envelope" >&2; exit 1; }
  "$work/inference-$link" "$model" > "$work/inference-$link.out"
  grep -q '^verify: valid' "$work/inference-$link.out" ||
    { echo "test-dist-c: inference-$link did not verify its envelope" >&2; exit 1; }
done
echo "test-dist-c: $name.tar.gz: quickstart and inference built with pkg-config (shared and static)" \
  "and run without cargo, rustc or cmake on PATH"
