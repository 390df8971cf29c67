#!/usr/bin/env bash
# Usage: dist-c.sh VERSION SHARED STATIC CRATES DIST
#
# Packs the C ABI (SHARED: the stripped libbizra.so, STATIC: libbizra.a) into
# DIST/libbizra-VERSION-linux-x86_64.tar.gz, with CRATES (scripts/dist-licenses.sh's output):
#
#   lib/libbizra.so.VERSION      SONAME libbizra.so.0 (bizra-sys/build.rs)
#   lib/libbizra.so.0, lib/libbizra.so   links, as `make install` lays them out
#   lib/libbizra.a               the static library (llama.cpp and the Rust code inside)
#   lib/pkgconfig/bizra.pc       relocatable: prefix=${pcfiledir}/../..
#   include/bizra.h
#   licenses/                    bizra's LICENSE, llama.cpp's (ggml's) and its vendored code's,
#                                and every Rust crate linked in (rust-crates.txt: CRATES)
#
# The archive is reproducible: entries sorted, owned by root, dated at the last commit.
set -euo pipefail

version=${1:?usage: dist-c.sh VERSION SHARED STATIC CRATES DIST}
shared=${2:?} static=${3:?} crates=${4:?} dist=${5:?}
name=libbizra-$version-linux-x86_64
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/$name

install -d "$root/lib/pkgconfig" "$root/include" "$root/licenses/llama.cpp"
install -m 0755 "$shared" "$root/lib/libbizra.so.$version"
ln -s "libbizra.so.$version" "$root/lib/libbizra.so.0"
ln -s libbizra.so.0 "$root/lib/libbizra.so"
install -m 0644 "$static" "$root/lib/libbizra.a"
install -m 0644 include/bizra.h "$root/include/bizra.h"
# shellcheck disable=SC2016 # ${pcfiledir} is pkg-config's variable, written literally
sed -e 's|@PREFIX@|${pcfiledir}/../..|' -e "s|@VERSION@|$version|" bizra-sys/bizra.pc.in \
  > "$root/lib/pkgconfig/bizra.pc"

# Licenses. llama.cpp (with ggml) comes from the llama-cpp-sys-2 source cargo built, with the
# license files of the code it vendors (its json and hash headers).
install -m 0644 LICENSE "$root/licenses/LICENSE"
sys2=$(cargo metadata --format-version 1 --filter-platform x86_64-unknown-linux-gnu |
  python3 -c 'import json, sys, os
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == "llama-cpp-sys-2"))')
llama=$sys2/llama.cpp
[ -f "$llama/LICENSE" ] || { echo "dist-c.sh: no llama.cpp LICENSE in $llama" >&2; exit 1; }
install -m 0644 "$llama/LICENSE" "$root/licenses/llama.cpp/LICENSE"
(cd "$llama" && find vendor -type f \( -iname 'LICENSE*' -o -iname 'COPYING*' \)) | while read -r f; do
  install -D -m 0644 "$llama/$f" "$root/licenses/llama.cpp/$f"
done
# nlohmann/json (compiled into llama.cpp's common library) carries its MIT notice in its header.
if [ -f "$llama/vendor/nlohmann/json.hpp" ]; then
  mkdir -p "$root/licenses/llama.cpp/vendor/nlohmann"
  { sed -n '1,/^$/p' "$llama/vendor/nlohmann/json.hpp"
    echo "The MIT License's text: licenses/llama.cpp/LICENSE."; } > "$root/licenses/llama.cpp/vendor/nlohmann/NOTICE"
fi
install -m 0644 "$crates" "$root/licenses/rust-crates.txt"

mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)
mkdir -p "$dist"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" -C "$stage" -cf - "$name" |
  gzip -n > "$dist/$name.tar.gz"
echo "dist-c: $dist/$name.tar.gz"
