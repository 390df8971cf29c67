#!/usr/bin/env bash
# Usage: test-dist-node.sh VERSION DIST MODEL WORK
#
# Installs the two tarballs of dist-node.sh from DIST as a user without a Rust toolchain would: a
# fresh npm project, a PATH with no cargo, rustc, cmake or C/C++ compiler (scripts/dist-path.sh),
# an empty environment otherwise, npm offline. Checks that npm placed the addon in the platform
# package and that it has no test hooks, then runs the quickstart and the inference example on
# MODEL (which verifies its envelope). Prints the time from nothing to the verified envelope
# (install, first runs).
set -euo pipefail

version=${1:?usage: test-dist-node.sh VERSION DIST MODEL WORK}
dist=${2:?} model=${3:?} work=${4:?}
npm="npm --no-audit --no-fund --no-update-notifier --loglevel=error"
platform=linux-x64-gnu
fail() { echo "test-dist-node.sh: $*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

rm -rf "$work"
mkdir -p "$work/home" "$work/app"
path=$(scripts/dist-path.sh "$work/bin")
cp examples/node/quickstart.mjs examples/node/inference.mjs "$work/app/"
cd "$work/app"
bare() { env -i HOME="$work/home" LANG=C.UTF-8 PATH="$path" timeout 600 "$@"; }

start=$(date +%s.%N)
echo '{"name":"bizra-dist-check","private":true}' >package.json
bare $npm install --offline "$dist/bizra-$platform-$version.tgz" "$dist/bizra-$version.tgz" >/dev/null
installed=$(date +%s.%N)
[ -f "node_modules/bizra-$platform/bizra.$platform.node" ] || fail "no addon in node_modules/bizra-$platform"
if find node_modules/bizra -name '*.node' | grep .; then fail "node_modules/bizra holds an addon"; fi
bare node -e '
  const b = require("bizra"), v = require("bizra/package.json").version
  if (v !== process.argv[1]) throw new Error(`bizra ${v} installed, not ${process.argv[1]}`)
  const hooks = Object.keys(b).filter((k) => k.startsWith("__"))
  if (hooks.length) throw new Error(`the published addon has test hooks: ${hooks}`)' "$version"

bare node quickstart.mjs >quickstart.out || { cat quickstart.out; fail "quickstart.mjs failed"; }
bare node inference.mjs "$model" >inference.out || { cat inference.out; fail "inference.mjs failed"; }
done=$(date +%s.%N)
grep -q '^envelope .* tokens, finish ' inference.out || { cat inference.out; fail "no verified envelope"; }
grep '^envelope ' inference.out

echo "test-dist-node: bizra-$version.tgz and bizra-$platform-$version.tgz installed offline with no" \
  "compiler on PATH; install $(since "$start" "$installed") s; with the quickstart and" \
  "inference.mjs's verified envelope $(since "$start" "$done") s"
