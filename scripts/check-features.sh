#!/usr/bin/env bash
# Usage: check-features.sh
#
# Fails when two of the cargo invocations that `make demo` and `make test` run would compile a
# shared dependency with different features, that is twice (crates/workspace-hack says why that
# matters: a cold build compiled the core three or four times). Asks cargo for each invocation's
# unit graph (`--unit-graph`, nightly only; nothing is compiled) and compares, for every library
# that two of them build, the features each enables. The message names the dependency, the
# features and the invocations that lack them: add those features to crates/workspace-hack.
#
# The invocations: the examples, the workspace's tests and binaries, the CLI and the server alone,
# the C ABI, and the Python and Node extensions (maturin's and make node-build's selections).
# Left out on purpose: `-p bizra --no-default-features` (the protocol alone, which must not
# depend on the rest) and uniffi-bindgen (the generator, built once for the bindings).
set -euo pipefail

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

invocations=(
  "build --release --example quickstart"
  "build --release --example inference"
  "build --release"
  "test --release --no-run"
  "build --release --bin bizra-node"
  "build --release -p bizra-cli"
  "test --release -p bizra-cli --no-run"
  "test --release -p bizra-server --no-run"
  "build --release -p bizra-sys"
  "test --release -p bizra-sys --no-run"
  "build --release -p bizra-python --lib --features pyo3/extension-module"
  "build --release -p bizra-node --lib"
)
i=0
for args in "${invocations[@]}"; do
  i=$((i + 1))
  # shellcheck disable=SC2086 # the arguments are words
  if ! cargo +nightly -Z unstable-options $args --unit-graph >"$work/$i.json" 2>"$work/$i.err"; then
    cat "$work/$i.err" >&2
    echo "check-features.sh: cargo $args --unit-graph failed" >&2
    exit 1
  fi
  echo "$args" >"$work/$i.args"
done

python3 - "$work" "$i" <<'PY'
import json, sys

work, n = sys.argv[1], int(sys.argv[2])
LIB_KINDS = {"lib", "rlib", "proc-macro", "cdylib", "staticlib"}
seen = {}  # (package, host or target) -> {invocation: features}
for k in range(1, n + 1):
    args = open(f"{work}/{k}.args").read().strip()
    for unit in json.load(open(f"{work}/{k}.json"))["units"]:
        if unit["mode"] != "build" or not LIB_KINDS & set(unit["target"]["kind"]):
            continue
        # Build scripts, proc macros and their dependencies run on the host at opt-level 0.
        side = "host" if unit["profile"]["opt_level"] == "0" else "target"
        per = seen.setdefault((unit["pkg_id"], side), {})
        per.setdefault(args, set()).update(unit["features"])
bad = 0
for (pkg, side), per in sorted(seen.items()):
    union = set().union(*per.values())
    lacking = {args: sorted(union - f) for args, f in per.items() if f != union}
    if not lacking:
        continue
    bad += 1
    name = pkg.rsplit("#", 1)[-1]
    print(f"{name} ({side}) is compiled with different features; all of them: {sorted(union)}")
    for args, missing in lacking.items():
        print(f"    `cargo {args}` lacks {missing}")
if bad:
    print(f"check-features.sh: {bad} dependencies would be compiled more than once; "
          "add the features above to crates/workspace-hack/Cargo.toml", file=sys.stderr)
    sys.exit(1)
print(f"check-features.sh: {n} cargo invocations compile every shared library with one feature set")
PY
