#!/usr/bin/env bash
# Usage: dist-node.sh VERSION ADDON DIST WORK
#
# Packs the Node artifacts into DIST, staged in WORK (emptied first), in napi-rs's layout:
#
#   bizra-linux-x64-gnu-VERSION.tgz  the platform package (bindings/node/npm/linux-x64-gnu: its
#                                    os, cpu and libc fields) holding ADDON, the addon built
#                                    with the default features, stripped of its symbol table
#   bizra-VERSION.tgz                the `bizra` package (JavaScript, types), no addon inside;
#                                    its optionalDependencies name the platform package, so that
#                                    npm installs the one that fits the machine, and index.js
#                                    loads it
#
# Checks: both packages carry VERSION, the addon exports what Node-API loads and nothing of the
# native code it links (below), `bizra` holds no .node file.
# NPM: the npm command (default npm).
set -euo pipefail

version=${1:?usage: dist-node.sh VERSION ADDON DIST WORK}
addon=${2:?} dist=${3:?} work=${4:?}
npm=${NPM:-npm}
node_dir=bindings/node
platform=linux-x64-gnu
fail() { echo "dist-node.sh: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work/platform" "$work/bizra" "$dist"
cp "$node_dir/npm/$platform/package.json" "$node_dir/npm/$platform/README.md" "$work/platform/"
strip --strip-unneeded -o "$work/platform/bizra.$platform.node" "$addon"
# Exported: Node-API's two entry points, and cxx's bridge functions (`cxxbridge1$*`: Rust functions
# that the C++ half of the memory store's vector index, usearch, calls; rustc exports them from every
# cdylib that links cxx). Nothing of ggml, llama.cpp or the C++ runtime. The C ABI hides cxx's with
# --exclude-libs,ALL, which here would hide napi_register_module_v1 too: it lives in napi's rlib.
exports=$(nm -D --defined-only "$work/platform/bizra.$platform.node" | awk '{print $3}')
for entry in napi_register_module_v1 node_api_module_get_api_version_v1; do
  grep -qx "$entry" <<<"$exports" || fail "the addon does not export $entry"
done
if grep -Evx 'napi_register_module_v1|node_api_module_get_api_version_v1|cxxbridge1\$.*' <<<"$exports"; then
  fail "the addon exports the symbols above"
fi

cp "$node_dir"/{package.json,index.js,index.mjs,index.d.ts,README.md} "$work/bizra/"
# The platform package becomes an optional dependency of this version (what `napi prepublish`
# writes before publishing); the versions are checked on the way.
node - "$version" "$work/bizra/package.json" "$work/platform/package.json" <<'JS'
const fs = require('node:fs')
const [version, mainPath, platformPath] = process.argv.slice(2)
const main = JSON.parse(fs.readFileSync(mainPath, 'utf8'))
const platform = JSON.parse(fs.readFileSync(platformPath, 'utf8'))
for (const p of [main, platform]) {
  if (p.version !== version) throw new Error(`${p.name} is version ${p.version}, the workspace ${version}`)
}
main.optionalDependencies = { [platform.name]: version }
fs.writeFileSync(mainPath, `${JSON.stringify(main, null, 2)}\n`)
JS

rm -f "$dist/bizra-$version.tgz" "$dist/bizra-$platform-$version.tgz"
(cd "$work/platform" && $npm pack --pack-destination "$dist" >/dev/null)
(cd "$work/bizra" && $npm pack --pack-destination "$dist" >/dev/null)
for tgz in "bizra-$version.tgz" "bizra-$platform-$version.tgz"; do
  [ -f "$dist/$tgz" ] || fail "npm pack made no $tgz"
done
if tar -tzf "$dist/bizra-$version.tgz" | grep '\.node$'; then fail "bizra-$version.tgz holds an addon"; fi
echo "dist-node: bizra-$version.tgz, bizra-$platform-$version.tgz (the addon exports Node-API's entry points, no native library's symbols)"
