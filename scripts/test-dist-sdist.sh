#!/usr/bin/env bash
# Usage: test-dist-sdist.sh VERSION SDIST MODEL WORK
#
# Builds SDIST from source as `pip install bizra` does on a platform without a wheel: a fresh
# venv, pip's isolated build environment (maturin from the index, as pyproject.toml's
# build-system asks), cargo and cmake from PATH. Then runs the quickstart and the inference
# example on MODEL from outside the repository, and checks that the generated answers came back
# as verified envelopes.
#
# The sdist is unpacked into WORK/src, copying only the files whose content changed, so that
# cargo (CARGO_TARGET_DIR, which make passes) rebuilds what changed and not the whole tree on
# every run: a cold build of the sdist is the same llama.cpp build as the workspace's, because
# the sdist carries the workspace's Cargo.lock and profiles. Prints the build time.
set -euo pipefail

version=${1:?usage: test-dist-sdist.sh VERSION SDIST MODEL WORK}
sdist=${2:?} model=${3:?} work=${4:?}
fail() { echo "test-dist-sdist.sh: $*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

rm -rf "$work/unpacked" "$work/venv"
mkdir -p "$work/unpacked" "$work/src"
tar xzf "$sdist" -C "$work/unpacked"
[ -f "$work/unpacked/bizra-$version/pyproject.toml" ] || fail "$sdist holds no bizra-$version/pyproject.toml"
python3 - "$work/unpacked/bizra-$version" "$work/src" <<'PY'
import filecmp, os, shutil, sys

new, src = sys.argv[1:]
kept = set()
for root, _, files in os.walk(new):
    for name in files:
        rel = os.path.relpath(os.path.join(root, name), new)
        kept.add(rel)
        target = os.path.join(src, rel)
        if not (os.path.isfile(target) and filecmp.cmp(os.path.join(new, rel), target, shallow=False)):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(new, rel), target)
for root, _, files in os.walk(src):
    for name in files:
        path = os.path.join(root, name)
        if os.path.relpath(path, src) not in kept:
            os.remove(path)
PY
cp examples/python/quickstart.py examples/python/inference.py "$work/"
cd "$work"

start=$(date +%s.%N)
python3 -m venv venv
timeout 1800 venv/bin/python -m pip install --quiet --cache-dir "${BIZRA_CACHE:?}/pip" "$work/src" ||
  fail "pip could not build and install the sdist"
built=$(date +%s.%N)
where=$(venv/bin/python -c 'import bizra; print(bizra.__version__, bizra.__file__)')
case $where in
  "$version $work/venv/"*) ;;
  *) fail "bizra imported as '$where', not version $version from the venv" ;;
esac

timeout 600 venv/bin/python quickstart.py >quickstart.out || { cat quickstart.out; fail "quickstart.py failed"; }
timeout 600 venv/bin/python inference.py "$model" >inference.out || { cat inference.out; fail "inference.py failed"; }
verified=$(grep -c '^verified ' inference.out || true)
[ "$verified" -ge 2 ] || { cat inference.out; fail "expected 2 verified envelopes, got $verified"; }
grep '^verified ' inference.out | head -n1

echo "test-dist-sdist: $(basename "$sdist") built from source by pip into a fresh venv in" \
  "$(since "$start" "$built") s (target directory ${CARGO_TARGET_DIR:-none}); quickstart and" \
  "inference.py's verified envelopes from it"
