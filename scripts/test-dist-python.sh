#!/usr/bin/env bash
# Usage: test-dist-python.sh VERSION WHEEL MODEL WORK
#
# Installs WHEEL as a user without a Rust toolchain would: a fresh venv, a PATH with no cargo,
# rustc, cmake or C/C++ compiler (scripts/dist-path.sh), an empty environment otherwise, pip
# offline. Then runs the quickstart and the inference example on MODEL from a directory outside
# the repository, and checks that the generated answers came back as verified envelopes. Each
# command has 10 minutes (a hang fails). Prints the time from nothing to the verified envelopes
# (venv, install, first runs).
set -euo pipefail

version=${1:?usage: test-dist-python.sh VERSION WHEEL MODEL WORK}
wheel=${2:?} model=${3:?} work=${4:?}
fail() { echo "test-dist-python.sh: $*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

rm -rf "$work"
mkdir -p "$work/home"
path=$(scripts/dist-path.sh "$work/bin")
cp examples/python/quickstart.py examples/python/inference.py "$work/"
cd "$work"
bare() { env -i HOME="$work/home" LANG=C.UTF-8 PATH="$work/venv/bin:$path" timeout 600 "$@"; }

start=$(date +%s.%N)
bare python3 -m venv "$work/venv"
bare python -m pip install --quiet --no-index --no-cache-dir "$wheel"
installed=$(date +%s.%N)
where=$(bare python -c 'import bizra; print(bizra.__version__, bizra.__file__)')
case $where in
  "$version $work/venv/"*) ;;
  *) fail "bizra imported as '$where', not version $version from the venv" ;;
esac

bare python quickstart.py >quickstart.out || { cat quickstart.out; fail "quickstart.py failed"; }
bare python inference.py "$model" >inference.out || { cat inference.out; fail "inference.py failed"; }
done=$(date +%s.%N)
verified=$(grep -c '^verified ' inference.out || true)
[ "$verified" -ge 2 ] || { cat inference.out; fail "expected 2 verified envelopes, got $verified"; }
grep '^verified ' inference.out | head -n1

echo "test-dist-python: $(basename "$wheel") installed offline with no compiler on PATH;" \
  "venv + install $(since "$start" "$installed") s; with the quickstart and inference.py's verified" \
  "envelopes $(since "$start" "$done") s"
